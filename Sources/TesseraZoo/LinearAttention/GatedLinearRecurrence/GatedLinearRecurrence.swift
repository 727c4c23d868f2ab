import Foundation
import TesseraCore

/// The recurrence shared by linear attention, RetNet retention, simple GLA and GLA:
///
///     S_t = diag(exp(g_t)) S_{t−1} + k_tᵀ v_t          o_t = (q_t · scale) S_t
///
/// with a state `S` `[K, V]` per head and log decays `g_t` `[K]` (≤ 0). The members of the family
/// differ only in `g`:
///
/// | model | log decay `g_t` |
/// |---|---|
/// | linear attention (Katharopoulos et al., 2020) | none (`g = 0`) |
/// | RetNet retention (Sun et al., 2023) | `log γ_h`, fixed per head |
/// | simple GLA (per-head scalar gate) | `g_t` per head and step, shared by the K channels |
/// | GLA (Yang et al., 2024) | `g_t` per head, step and key channel |
///
/// Layout: `q`, `k` `[B, T, H, K]`, `v` `[B, T, H, V]`, `logDecay` broadcastable to `[B, T, H, K]`
/// (`[B, T, H, 1]` for scalar gates, `[1, 1, H, 1]` for fixed ones) or nil, optional
/// `initialState` `[B, H, K, V]`. Returns the output `[B, T, H, V]` and the final state.
///
/// Three forms, each differentiable through the tensor core's autodiff and tested against the
/// others: `.reference` (the specification, one step at a time), `.parallel` (quadratic: the
/// decayed causal score matrix, stable because it only ever exponentiates `G_t − G_s ≤ 0`), and
/// `.chunked(size:)` (parallel inside chunks of `C` steps, the recurrence across them).
public enum GatedLinearRecurrence {
  /// The forms of ``evaluate(_:_:_:logDecay:scale:initialState:form:)``.
  public static let forms: [Form] = [.reference, .parallel, .chunked(size: 64)]

  /// Evaluates the recurrence in `form`; `scale` defaults to `K^-1/2`.
  public static func evaluate(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, logDecay: Tensor? = nil, scale: Float? = nil, initialState: Tensor? = nil,
    form: Form = .chunked(size: 64)
  ) -> (output: Tensor, finalState: Tensor) {
    check(
      q.rank == 4 && k.shape == q.shape && v.rank == 4 && v.shape.prefix(3) == q.shape.prefix(3),
      "GatedLinearRecurrence: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, T, H, K] and [B, T, H, V]")
    let (b, t, h, kd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let vd = v.shape[3]
    let s = scale ?? 1 / Float(kd).squareRoot()
    // Heads first: [B, H, T, K].
    let qh = q.permuted(0, 2, 1, 3) * s, kh = k.permuted(0, 2, 1, 3), vh = v.permuted(0, 2, 1, 3)
    let g = logDecay.map { $0.broadcast(to: [b, t, h, $0.shape[3] == 1 ? 1 : kd]).permuted(0, 2, 1, 3) }
    let state = initialState ?? Tensor.zeros([b, h, kd, vd])
    let (o, final): (Tensor, Tensor)
    switch form {
    case .reference: (o, final) = recurrent(qh, kh, vh, g, state)
    case .parallel: (o, final) = chunk(qh, kh, vh, g, state)
    case .chunked(let c):
      check(c >= 1, "GatedLinearRecurrence: chunk size must be positive, got \(c)")
      var outputs: [Tensor] = []
      var carried = state
      var start = 0
      while start < t {
        let end = min(t, start + c)
        let piece = chunk(
          qh.slice(axis: 2, start..<end), kh.slice(axis: 2, start..<end), vh.slice(axis: 2, start..<end),
          g?.slice(axis: 2, start..<end), carried)
        outputs.append(piece.output)
        carried = piece.state
        start = end
      }
      (o, final) = (outputs.count == 1 ? outputs[0] : concatenate(outputs, axis: 2), carried)
    default: checkFailed("GatedLinearRecurrence: no \(form) form; the forms are \(forms)")
    }
    return (o.permuted(0, 2, 1, 3), final)
  }

  // MARK: - reference (the recurrence, the specification)

  /// One step at a time: `S ← exp(g_t) ⊙ S + k_tᵀ v_t`, `o_t = q_t S`. Inputs heads-first.
  static func recurrent(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ g: Tensor?, _ initial: Tensor) -> (Tensor, Tensor) {
    var state = initial  // [B, H, K, V]
    var outputs: [Tensor] = []
    for i in 0..<q.shape[2] {
      let kt = k.select(axis: 2, index: i).expandingDimensions(at: 3)  // [B, H, K, 1]
      let vt = v.select(axis: 2, index: i).expandingDimensions(at: 2)  // [B, H, 1, V]
      if let g {
        state = state * g.select(axis: 2, index: i).exp().expandingDimensions(at: 3)  // decay per key row
      }
      state = state + matmul(kt, vt)
      outputs.append(matmul(q.select(axis: 2, index: i).expandingDimensions(at: 2), state))  // [B, H, 1, V]
    }
    return (concatenate(outputs, axis: 2), state)
  }

  // MARK: - parallel (one chunk: the whole sequence)

  /// The decayed causal form over a block of steps, starting from `initial`:
  ///
  ///     o_t = Σ_{s≤t} (q_t ⊙ e^{G_t − G_s}) · k_s v_s + (q_t ⊙ e^{G_t}) S₀
  ///     S   = e^{G_T} ⊙ S₀ + Σ_s (k_s ⊙ e^{G_T − G_s})ᵀ v_s
  ///
  /// with `G` the running sum of `g` inside the block. Only differences `G_t − G_s ≤ 0` are
  /// exponentiated, so nothing overflows however strong the decay.
  static func chunk(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ g: Tensor?, _ initial: Tensor) -> (
    output: Tensor, state: Tensor
  ) {
    let c = q.shape[2]
    let causal = Tensor.ones([c, c]).lowerTriangle()
    guard let g else {
      let scores = matmul(q, k.transposed()) * causal  // [B, H, C, C]
      let o = matmul(scores, v) + matmul(q, initial)
      return (o, initial + matmul(k.transposed(), v))
    }
    let cumulative = g.cumulativeSum(axis: 2)  // G [B, H, C, K or 1]
    let last = cumulative.slice(axis: 2, (c - 1)..<c)  // G_T [B, H, 1, K or 1]
    // Decay between query t and key s, masked to s ≤ t before exponentiating: [B, H, C, C, K or 1].
    let difference = cumulative.expandingDimensions(at: 3) - cumulative.expandingDimensions(at: 2)
    let mask = causal.expandingDimensions(at: 2)  // [C, C, 1]
    let decay = `where`(mask, difference, -Float.infinity).exp()
    let scores: Tensor
    if g.shape[3] == 1 {
      scores = matmul(q, k.transposed()) * decay.squeezed(axes: [4])
    } else {
      // Per key channel: Σ_k q_tk k_sk e^{G_tk − G_sk}.
      scores = (q.expandingDimensions(at: 3) * k.expandingDimensions(at: 2) * decay).sum(axis: 4)
    }
    let fromState = matmul(q * cumulative.exp(), initial)
    let o = matmul(scores, v) + fromState
    let keyDecay = (last - cumulative).exp()  // e^{G_T − G_s}
    let carried = initial * last.exp().transposed(2, 3)  // rows of S decay per key channel
    let state = carried + matmul((k * keyDecay).transposed(), v)
    return (o, state)
  }
}
