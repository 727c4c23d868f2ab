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
/// Layout: `q`, `k` `[B, T, H, K]`, `v` `[B, T, H, V]`, `beta` and `logGate` `[B, T, H]`; returns
/// the output `[B, T, H, V]` and the final state `[B, H, K, V]`. This is the recurrent form (the
/// specification); the chunked WY form is the planned fast twin.
public func deltaRule(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, beta: Tensor, logGate: Tensor? = nil, initialState: Tensor? = nil,
  scale: Float? = nil
) -> (output: Tensor, finalState: Tensor) {
  check(
    q.rank == 4 && k.shape == q.shape && v.shape.prefix(3) == q.shape.prefix(3)
      && beta.shape == Array(q.shape.prefix(3)),
    "deltaRule: q \(q.shape), k \(k.shape), v \(v.shape), beta \(beta.shape) must be [B,T,H,K], [B,T,H,V], [B,T,H]")
  let (b, t, h, kd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let vd = v.shape[3]
  let s = scale ?? 1 / Float(kd).squareRoot()
  var state = initialState ?? Tensor.zeros([b, h, kd, vd])
  var outputs: [Tensor] = []
  for i in 0..<t {
    let kt = k.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1, K]
    let vt = v.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1, V]
    let bt = beta.select(axis: 1, index: i).reshaped(b, h, 1, 1)
    if let logGate { state = state * logGate.select(axis: 1, index: i).exp().reshaped(b, h, 1, 1) }
    let recalled = matmul(kt, state)  // k_t a_t S_{t−1}: [B, H, 1, V]
    state = state + matmul(kt.transposed(), (vt - recalled) * bt)
    outputs.append(matmul(q.select(axis: 1, index: i).expandingDimensions(at: 2) * s, state))
  }
  return (stack(outputs, axis: 1).reshaped(b, t, h, vd), state)
}
