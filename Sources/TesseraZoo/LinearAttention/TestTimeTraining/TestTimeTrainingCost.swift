// Counted FLOPs of the TTT inner loops, for the TTT layers (counting rules in ``LayerCost``).

import TesseraCore

/// FLOPs of ``testTimeTrainingLinear(_:_:_:learningRate:initialState:miniBatch:form:)`` for one
/// (sequence, head) over `time` steps, keys of `keys`, values of `values`, mini-batches of `b`.
///
/// - `.reference`, per step: `k_t W₀ − v_t`, the gradient `k_tᵀ(…)` times `η_t` and its sum, the
///   weight `W₀ − ΣηG` and `q_t W`; per mini-batch the new `W₀`.
/// - `.parallel` (the dual form), per mini-batch of `b` (the last one padded to `b`): `Q Kᵀ` times
///   `η` and masked, `K W₀ − V`, `Q W₀` minus the scores times the errors, and the update
///   `W₀ − Kᵀ diag(η)(K W₀ − V)`.
func testTimeTrainingLinearFlops(time: Int, keys k: Int, values v: Int, miniBatch b: Int, form: Form) -> Int {
  let a = FlopCount.arithmetic
  if form == .reference {
    return time * (6 * k * v + a * (v + 3 * k * v)) + blockCount(time: time, size: b) * a * k * v
  }
  let perChunk = 2 * b * b * k + 2 * b * b * v + 6 * b * k * v + a * (2 * b * b + 3 * b * v + k * v)
  return max(1, blockCount(time: time, size: b)) * perChunk
}

/// FLOPs of ``testTimeTrainingMLP(_:_:_:learningRate:initialWeights:miniBatch:form:)`` for one
/// (sequence, head) over `time` steps, keys of `keys`, a hidden width of `hidden`, values of
/// `values`, mini-batches of `b`.
///
/// - `.reference`, per step: the loss terms at the mini-batch's starting weights
///   (``innerMLPErrorFlops(rows:keys:hidden:values:)``), the two gradients times `η_t` and their
///   sums, the current weights and `f(q_t)`; per mini-batch the new starting weights.
/// - `.parallel` (the dual form), per mini-batch of `b` (the last one padded to `b`): the loss
///   terms, `Ẑ = Q W₁⁰ − (tril(Q Kᵀ) diag η) Δ` and its GELU, `Â W₂⁰ − (tril(Â Aᵀ) diag η) E`, and the
///   two weight updates.
func testTimeTrainingMLPFlops(
  time: Int, keys k: Int, hidden m: Int, values v: Int, miniBatch b: Int, form: Form
) -> Int {
  let a = FlopCount.arithmetic
  let apply = { (r: Int) in 2 * r * k * m + 2 * r * m * v + r * m * FlopCount.geluTanh }
  if form == .reference {
    let step =
      innerMLPErrorFlops(rows: 1, keys: k, hidden: m, values: v) + apply(1) + 2 * k * m + 2 * m * v
      + 3 * a * (k * m + m * v)
    return time * step + blockCount(time: time, size: b) * a * (k * m + m * v)
  }
  let keyScores = 2 * b * b * k + 2 * a * b * b
  let hiddenQuery = 2 * b * k * m + 2 * b * b * m + a * b * m + b * m * FlopCount.geluTanh
  let hiddenScores = 2 * b * b * m + 2 * a * b * b
  let output = 2 * b * m * v + 2 * b * b * v + a * b * v
  let updates = a * (b * m + k * m + b * v + m * v) + 2 * b * k * m + 2 * b * m * v
  let perChunk =
    keyScores + innerMLPErrorFlops(rows: b, keys: k, hidden: m, values: v) + hiddenQuery + hiddenScores + output
    + updates
  return max(1, blockCount(time: time, size: b)) * perChunk
}

/// FLOPs of ``InnerMLP/errors(_:_:_:_:)`` for `rows` key rows: `z = k W₁`, `a = gelu(z)`,
/// `e = a W₂ − v`, `δ = (e W₂ᵀ) ⊙ gelu′(z)`.
func innerMLPErrorFlops(rows r: Int, keys k: Int, hidden m: Int, values v: Int) -> Int {
  2 * r * k * m + 2 * r * m * v + 2 * r * v * m + FlopCount.arithmetic * r * v
    + r * m * (FlopCount.geluTanh + FlopCount.geluTanhDerivative + FlopCount.arithmetic)
}
