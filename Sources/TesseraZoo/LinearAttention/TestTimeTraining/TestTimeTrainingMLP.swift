import Foundation
import TesseraCore

/// TTT-MLP's inner loop (Sun et al., "Learning to (Learn at Test Time): RNNs with Expressive
/// Hidden States", 2024): the hidden state is a two-layer MLP `f(x) = gelu(x W₁) W₂`, `W₁` `[K, M]`,
/// `W₂` `[M, V]` (the paper uses M = 4K), trained while the sequence is read on the self-supervised
/// loss `ℓ_t = ½‖f(k_t) − v_t‖²`, in mini-batches of `b` tokens whose gradients are all taken at the
/// weights the mini-batch starts from (`W₁⁰`, `W₂⁰`):
///
///     z_t = k_t W₁⁰    a_t = gelu(z_t)    e_t = a_t W₂⁰ − v_t
///     ∂ℓ_t/∂W₂ = a_tᵀ e_t        ∂ℓ_t/∂W₁ = k_tᵀ δ_t,   δ_t = (e_t W₂⁰ᵀ) ⊙ gelu′(z_t)
///     W_{j,t} = W_j⁰ − Σ_{s ≤ t in the mini-batch} η_s ∂ℓ_s/∂W_j          o_t = gelu(q_t W₁,t) W₂,t
///
/// The dual form follows from `q_t W₁,t = q_t W₁⁰ − Σ_{s≤t} η_s (q_t·k_s) δ_s`, and the same for the
/// second layer with hidden activations in place of keys:
///
///     Ẑ = Q W₁⁰ − (tril(Q Kᵀ) diag η) Δ      Â = gelu(Ẑ)      O = Â W₂⁰ − (tril(Â Aᵀ) diag η) E
///     W₁ ← W₁⁰ − Kᵀ diag(η) Δ                W₂ ← W₂⁰ − Aᵀ diag(η) E
///
/// GELU is the tanh form, and `gelu′` is written in differentiable ops, so training through the inner
/// loop (a gradient of a gradient) works. As ``testTimeTrainingLinear(_:_:_:learningRate:initialState:miniBatch:form:)``,
/// this is the inner model without the paper's LayerNorm and residual inside `f`. The weights must
/// not start at zero: with `W₁ = 0` every hidden activation and so every gradient is zero.
///
/// Shapes: `q`, `k` `[B, T, H, K]`, `v` `[B, T, H, V]`, `learningRate` η `[B, T, H]`, initial weights
/// `[B, H, K, M]` and `[B, H, M, V]`; returns `[B, T, H, V]` and the final weights. `.reference` runs
/// token by token (the specification), `.parallel` uses matrix products per mini-batch.
public func testTimeTrainingMLP(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, learningRate eta: Tensor, initialWeights: (first: Tensor, second: Tensor),
  miniBatch: Int = 16, form: Form = .parallel
) -> (output: Tensor, finalWeights: (first: Tensor, second: Tensor)) {
  let (w1, w2) = initialWeights
  check(
    q.rank == 4 && k.shape == q.shape && v.shape.prefix(3) == q.shape.prefix(3)
      && eta.shape == Array(q.shape.prefix(3)),
    "testTimeTrainingMLP: q \(q.shape), k \(k.shape), v \(v.shape), learningRate \(eta.shape) must be "
      + "[B,T,H,K], [B,T,H,V], [B,T,H]")
  let (b, t, h, kd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let vd = v.shape[3]
  check(
    w1.rank == 4 && w1.shape.prefix(3) == [b, h, kd] && w2.rank == 4 && w2.shape == [b, h, w1.shape[3], vd],
    "testTimeTrainingMLP: initial weights \(w1.shape) and \(w2.shape) must be [B,H,K,M] and [B,H,M,V] "
      + "for B \(b), H \(h), K \(kd), V \(vd)")
  check(miniBatch >= 1, "testTimeTrainingMLP: the mini-batch size must be positive, got \(miniBatch)")
  switch form {
  case .reference:
    var start = (w1, w2)
    var accumulated = (Tensor.zeros(w1.shape), Tensor.zeros(w2.shape))
    var outputs: [Tensor] = []
    for i in 0..<t {
      let kt = k.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1, K]
      let vt = v.select(axis: 1, index: i).expandingDimensions(at: 2)
      let et = eta.select(axis: 1, index: i).reshaped(b, h, 1, 1)
      let step = InnerMLP.errors(kt, vt, start.0, start.1)
      accumulated.0 = accumulated.0 + matmul(kt.transposed(), step.delta) * et
      accumulated.1 = accumulated.1 + matmul(step.hidden.transposed(), step.error) * et
      let qt = q.select(axis: 1, index: i).expandingDimensions(at: 2)
      outputs.append(InnerMLP.apply(qt, start.0 - accumulated.0, start.1 - accumulated.1))
      if (i + 1) % miniBatch == 0 || i == t - 1 {
        start = (start.0 - accumulated.0, start.1 - accumulated.1)
        accumulated = (Tensor.zeros(w1.shape), Tensor.zeros(w2.shape))
      }
    }
    return (stack(outputs, axis: 1).reshaped(b, t, h, vd), start)
  case .parallel:
    let layout = ChunkLayout(batch: b, time: t, heads: h, size: miniBatch)
    let qc = layout.split(q), kc = layout.split(k), vc = layout.split(v), ec = layout.split(eta)  // [B, H, N, C, ·]
    let etaRow = ec.expandingDimensions(at: 3), etaColumn = ec.expandingDimensions(at: 4)
    let keyScores = (matmul(qc, kc.transposed()) * etaRow).lowerTriangle()  // (q_t·k_s) η_s, s ≤ t
    var (first, second) = (w1, w2)
    var outputs: [Tensor] = []
    for i in 0..<layout.count {
      let qi = qc.select(axis: 2, index: i), ki = kc.select(axis: 2, index: i)
      let step = InnerMLP.errors(ki, vc.select(axis: 2, index: i), first, second)
      let hiddenQuery = (matmul(qi, first) - matmul(keyScores.select(axis: 2, index: i), step.delta))
        .gelu(approximate: true)
      let hiddenScores = (matmul(hiddenQuery, step.hidden.transposed()) * etaRow.select(axis: 2, index: i))
        .lowerTriangle()
      outputs.append(matmul(hiddenQuery, second) - matmul(hiddenScores, step.error))
      let eta = etaColumn.select(axis: 2, index: i)
      first = first - matmul(ki.transposed(), step.delta * eta)
      second = second - matmul(step.hidden.transposed(), step.error * eta)
    }
    return (layout.merge(outputs), (first, second))
  default: checkFailed("testTimeTrainingMLP: no \(form) form; the forms are \(testTimeTrainingForms)")
  }
}

/// The inner model `f(x) = gelu(x W₁) W₂` and the terms of its loss gradient.
enum InnerMLP {
  /// `f(x)` for rows `x` `[…, C, K]`.
  static func apply(_ x: Tensor, _ w1: Tensor, _ w2: Tensor) -> Tensor {
    matmul(matmul(x, w1).gelu(approximate: true), w2)
  }

  /// For key rows `k` and targets `v`: the hidden activations `a = gelu(k W₁)`, the errors
  /// `e = a W₂ − v` and the back-propagated errors `δ = (e W₂ᵀ) ⊙ gelu′(k W₁)`; the loss gradients
  /// are `kᵀ δ` for `W₁` and `aᵀ e` for `W₂`.
  static func errors(_ k: Tensor, _ v: Tensor, _ w1: Tensor, _ w2: Tensor) -> (
    hidden: Tensor, error: Tensor, delta: Tensor
  ) {
    let z = matmul(k, w1)
    let hidden = z.gelu(approximate: true)
    let error = matmul(hidden, w2) - v
    return (hidden, error, matmul(error, w2.transposed()) * geluTanhDerivative(z))
  }

  /// `d/dx` of GELU's tanh form, `½(1 + t) + ½x(1 − t²)·c·(1 + 3·0.044715·x²)` with
  /// `t = tanh(c(x + 0.044715x³))`, `c = √(2/π)`, in ops that are themselves differentiable.
  static func geluTanhDerivative(_ x: Tensor) -> Tensor {
    let c: Float = 0.797_884_56
    let x2 = x * x
    let t = ((x2 * 0.044715 + 1) * x * c).tanh()
    return (t + 1) * 0.5 + x * 0.5 * (1 - t * t) * c * (x2 * (3 * 0.044715) + 1)
  }
}
