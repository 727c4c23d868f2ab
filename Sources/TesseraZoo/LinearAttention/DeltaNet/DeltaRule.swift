import Foundation
import TesseraCore

/// The delta rule (DeltaNet: Schlag et al., 2021; Yang et al., "Parallelizing Linear Transformers
/// with the Delta Rule over Sequence Length", 2024) and its gated form (Gated DeltaNet: Yang, Kautz
/// & Hatamizadeh, 2025). The state is a fast-weight memory `S` `[K, V]` per head that writes
/// `v_t` under key `k_t`, replacing what the key held:
///
///     S_t = a_t S_{t−1} + β_t k_tᵀ (v_t − k_t a_t S_{t−1})        o_t = (q_t · K^-1/2) S_t
///
/// with `a_t = 1` (DeltaNet) or `a_t = e^{g_t}` (Gated DeltaNet, `g` a log gate per head and step),
/// and writing strength `β_t ∈ (0, 1)`. Keys are expected L2-normalised (the layer does it).
///
/// Layout: `q`, `k` `[B, T, H, K]`, `v` `[B, T, H, V]`, `beta` and `logDecay` `[B, T, H]`; returns
/// the output `[B, T, H, V]` and the final state `[B, H, K, V]`.
///
/// Forms: `.reference` is the specification, one token at a time; `.chunked(size:)` is the
/// WY / UT form of Yang et al. (2024) — see ``chunkedDeltaRule(_:_:_:beta:logDecay:initialState:scale:chunkSize:)``;
/// `.parallel` is the chunked form with the whole sequence as one chunk.
public func deltaRule(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, beta: Tensor, logDecay: Tensor? = nil, initialState: Tensor? = nil,
  scale: Float? = nil, form: Form = .chunked(size: 64)
) -> (output: Tensor, finalState: Tensor) {
  check(
    q.rank == 4 && k.shape == q.shape && v.shape.prefix(3) == q.shape.prefix(3)
      && beta.shape == Array(q.shape.prefix(3)) && (logDecay == nil || logDecay!.shape == beta.shape),
    "deltaRule: q \(q.shape), k \(k.shape), v \(v.shape), beta \(beta.shape)\(logDecay.map { ", logDecay \($0.shape)" } ?? "") "
      + "must be [B,T,H,K], [B,T,H,V], [B,T,H]")
  switch form {
  case .reference: break
  case .parallel:
    return chunkedDeltaRule(
      q, k, v, beta: beta, logDecay: logDecay, initialState: initialState, scale: scale, chunkSize: max(1, q.shape[1]))
  case .chunked(let c):
    return chunkedDeltaRule(
      q, k, v, beta: beta, logDecay: logDecay, initialState: initialState, scale: scale, chunkSize: c)
  default: checkFailed("deltaRule: no \(form) form; the forms are \(deltaRuleForms)")
  }
  let (b, t, h, kd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let vd = v.shape[3]
  let s = scale ?? 1 / Float(kd).squareRoot()
  var state = initialState ?? Tensor.zeros([b, h, kd, vd])
  var outputs: [Tensor] = []
  for i in 0..<t {
    let kt = k.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1, K]
    let vt = v.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1, V]
    let bt = beta.select(axis: 1, index: i).reshaped(b, h, 1, 1)
    if let logDecay { state = state * logDecay.select(axis: 1, index: i).exp().reshaped(b, h, 1, 1) }
    let recalled = matmul(kt, state)  // k_t a_t S_{t−1}: [B, H, 1, V]
    state = state + matmul(kt.transposed(), (vt - recalled) * bt)
    outputs.append(matmul(q.select(axis: 1, index: i).expandingDimensions(at: 2) * s, state))
  }
  return (stack(outputs, axis: 1).reshaped(b, t, h, vd), state)
}

/// The forms of ``deltaRule(_:_:_:beta:logDecay:initialState:scale:form:)``.
public let deltaRuleForms: [Form] = [.reference, .parallel, .chunked(size: 64)]

/// The chunked form of the (gated) delta rule: the WY / UT representation of Yang et al.,
/// "Parallelizing Linear Transformers with the Delta Rule over Sequence Length" (2024), with the
/// gate of Gated DeltaNet (Yang, Kautz & Hatamizadeh, 2025).
///
/// Inside a chunk of `C` tokens starting from state `S₀`, with `γ_t = exp(g₁ + … + g_t)` the gate
/// accumulated from the chunk start, the state is `S_t = γ_t S₀ + Σ_{i≤t} (γ_t/γ_i) k_iᵀ u_i`, where
/// the "pseudo-values" `u` solve a unit lower-triangular system:
///
///     u_t + β_t Σ_{i<t} (γ_t/γ_i)(k_t·k_i) u_i = β_t (v_t − γ_t k_t S₀)
///     (I + L) U = diag(β)(V − diag(γ) K S₀)   ⇒   U = W_v − W_k S₀,
///     W_v = (I + L)⁻¹ diag(β) V,   W_k = (I + L)⁻¹ diag(βγ) K
///
/// `W_v` and `W_k` do not depend on the state, so every chunk computes them at once (one batched
/// triangular inverse); only `U`, the outputs `o_t = γ_t q_t S₀ + Σ_{i≤t} (γ_t/γ_i)(q_t·k_i) u_i` and the
/// next state `S_C = γ_C S₀ + Σ_i (γ_C/γ_i) k_iᵀ u_i` run chunk after chunk. A sequence that is not a
/// multiple of `C` is padded with tokens that neither write (β = 0) nor decay (g = 0).
public func chunkedDeltaRule(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, beta: Tensor, logDecay: Tensor? = nil, initialState: Tensor? = nil,
  scale: Float? = nil, chunkSize: Int
) -> (output: Tensor, finalState: Tensor) {
  check(chunkSize >= 1, "chunkedDeltaRule: the chunk size must be positive, got \(chunkSize)")
  let (b, t, h, kd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let vd = v.shape[3]
  let s = scale ?? 1 / Float(kd).squareRoot()
  let layout = ChunkLayout(batch: b, time: t, heads: h, size: chunkSize)
  let c = chunkSize
  let qc = layout.split(q) * s, kc = layout.split(k), vc = layout.split(v), bc = layout.split(beta)  // [B, H, N, C, ·]
  // Log gates accumulated from each chunk start; D[t, i] = γ_t / γ_i for i ≤ t, 0 above.
  let logGamma = logDecay.map { layout.split($0).cumulativeSum(axis: 3) }  // [B, H, N, C]
  let causal = Tensor.ones([c, c]).lowerTriangle()
  var decay = causal
  if let lg = logGamma {
    let difference = lg.expandingDimensions(at: 4) - lg.expandingDimensions(at: 3)  // G_t − G_i
    decay = `where`(causal, difference, -Float.infinity).exp()
  }
  let kk = matmul(kc, kc.transposed()) * decay  // (γ_t/γ_i)(k_t·k_i), i ≤ t
  let l = (kk * bc.expandingDimensions(at: 4)).lowerTriangle(diagonal: -1)
  let inverse = l.unitLowerTriangularInverse()  // (I + L)⁻¹ [B, H, N, C, C]
  let gamma = logGamma?.exp()
  let betaGamma = gamma.map { bc * $0 } ?? bc
  let wv = matmul(inverse, vc * bc.expandingDimensions(at: 4))  // [B, H, N, C, V]
  let wk = matmul(inverse, kc * betaGamma.expandingDimensions(at: 4))  // [B, H, N, C, K]
  let scores = matmul(qc, kc.transposed()) * decay  // (γ_t/γ_i)(q_t·k_i), i ≤ t
  let qGamma = gamma.map { qc * $0.expandingDimensions(at: 4) } ?? qc
  // Decay from each token to the chunk end, γ_C / γ_i, and the whole chunk's decay γ_C.
  var kToEnd = kc
  var chunkDecay: Tensor?
  if let lg = logGamma {
    let last = lg.slice(axis: 3, (c - 1)..<c)  // [B, H, N, 1]
    kToEnd = kc * (last - lg).exp().expandingDimensions(at: 4)
    chunkDecay = last.exp().expandingDimensions(at: 4)  // [B, H, N, 1, 1]
  }
  var state = initialState ?? Tensor.zeros([b, h, kd, vd])
  var outputs: [Tensor] = []
  for i in 0..<layout.count {
    let u = wv.select(axis: 2, index: i) - matmul(wk.select(axis: 2, index: i), state)  // [B, H, C, V]
    outputs.append(matmul(qGamma.select(axis: 2, index: i), state) + matmul(scores.select(axis: 2, index: i), u))
    if let chunkDecay { state = state * chunkDecay.select(axis: 2, index: i) }
    state = state + matmul(kToEnd.select(axis: 2, index: i).transposed(), u)
  }
  return (layout.merge(outputs), state)
}
