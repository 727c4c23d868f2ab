import Foundation
import TesseraCore

/// TTT-Linear's inner loop (Sun et al., "Learning to (Learn at Test Time): RNNs with Expressive
/// Hidden States", 2024): the hidden state is the weight `W` `[K, V]` of a linear model, trained
/// while the sequence is read by gradient descent on the self-supervised loss
/// `ℓ_t(W) = ½‖k_t W − v_t‖²`, in mini-batches of `b` tokens: every gradient of a mini-batch is
/// taken at the weight `W₀` its mini-batch starts from,
///
///     G_t = k_tᵀ (k_t W₀ − v_t)          W_t = W₀ − Σ_{s ≤ t in the mini-batch} η_s G_s
///     o_t = q_t W_t                      (the next mini-batch starts from W at its end)
///
/// With `b = 1` this is the delta rule with `β = η` (DeltaNet); larger `b` trades the sequential
/// dependence inside a mini-batch for parallelism, which is what the paper's "dual form" exploits:
///
///     O = Q W₀ − (tril(Q Kᵀ) · diag(η)) (K W₀ − V)          W_b = W₀ − Kᵀ diag(η) (K W₀ − V)
///
/// Shapes: `q`, `k` `[B, T, H, K]`, `v` `[B, T, H, V]`, `learningRate` η `[B, T, H]`, `initialState`
/// `[B, H, K, V]` (zero by default); returns `[B, T, H, V]` and the final weight `[B, H, K, V]`.
/// This is the inner model without the paper's LayerNorm and residual inside `f` (its "linear"
/// variant); `.reference` runs token by token (the specification), `.parallel` uses matrix products per
/// mini-batch; the mini-batch size is part of the model, not of the form.
public func testTimeTrainingLinear(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, learningRate eta: Tensor, initialState: Tensor? = nil, miniBatch: Int = 16,
  form: Form = .parallel
) -> (output: Tensor, finalState: Tensor) {
  check(
    q.rank == 4 && k.shape == q.shape && v.shape.prefix(3) == q.shape.prefix(3)
      && eta.shape == Array(q.shape.prefix(3)),
    "testTimeTrainingLinear: q \(q.shape), k \(k.shape), v \(v.shape), learningRate \(eta.shape) must be "
      + "[B,T,H,K], [B,T,H,V], [B,T,H]")
  check(miniBatch >= 1, "testTimeTrainingLinear: the mini-batch size must be positive, got \(miniBatch)")
  let (b, t, h, kd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let vd = v.shape[3]
  let w = initialState ?? Tensor.zeros([b, h, kd, vd])
  switch form {
  case .reference:
    var w0 = w
    var accumulated = Tensor.zeros([b, h, kd, vd])
    var outputs: [Tensor] = []
    for i in 0..<t {
      let kt = k.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1, K]
      let vt = v.select(axis: 1, index: i).expandingDimensions(at: 2)
      let et = eta.select(axis: 1, index: i).reshaped(b, h, 1, 1)
      accumulated = accumulated + matmul(kt.transposed(), matmul(kt, w0) - vt) * et
      outputs.append(matmul(q.select(axis: 1, index: i).expandingDimensions(at: 2), w0 - accumulated))
      if (i + 1) % miniBatch == 0 || i == t - 1 {
        w0 = w0 - accumulated
        accumulated = Tensor.zeros([b, h, kd, vd])
      }
    }
    return (stack(outputs, axis: 1).reshaped(b, t, h, vd), w0)
  case .parallel:
    let layout = ChunkLayout(batch: b, time: t, heads: h, size: miniBatch)
    let qc = layout.split(q), kc = layout.split(k), vc = layout.split(v), ec = layout.split(eta)  // [B, H, N, C, ·]
    let scores = (matmul(qc, kc.transposed()) * ec.expandingDimensions(at: 3)).lowerTriangle()  // (q_t·k_s) η_s, s ≤ t
    let etaColumn = ec.expandingDimensions(at: 4)  // [B, H, N, C, 1]
    var w0 = w
    var outputs: [Tensor] = []
    for i in 0..<layout.count {
      let qi = qc.select(axis: 2, index: i), ki = kc.select(axis: 2, index: i)
      let error = matmul(ki, w0) - vc.select(axis: 2, index: i)  // K W₀ − V [B, H, C, V]
      outputs.append(matmul(qi, w0) - matmul(scores.select(axis: 2, index: i), error))
      w0 = w0 - matmul(ki.transposed(), error * etaColumn.select(axis: 2, index: i))
    }
    return (layout.merge(outputs), w0)
  default: checkFailed("testTimeTrainingLinear: no \(form) form; the forms are \(testTimeTrainingForms)")
  }
}

/// The forms of ``testTimeTrainingLinear(_:_:_:learningRate:initialState:miniBatch:form:)`` and
/// ``testTimeTrainingMLP(_:_:_:learningRate:initialWeights:miniBatch:form:)``: `.reference` is the
/// primal form, token by token at each mini-batch's starting weights; `.parallel` the dual form,
/// matrix products per mini-batch (Sun et al., 2024, §2.5).
public let testTimeTrainingForms: [Form] = [.reference, .parallel]
