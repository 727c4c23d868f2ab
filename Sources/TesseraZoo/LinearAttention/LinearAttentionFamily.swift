import Foundation
import TesseraCore

// The members of the gated linear recurrence family (see ``GatedLinearRecurrence``), by name.
// Layout `[B, T, H, K]` for q and k, `[B, T, H, V]` for v; each returns the output and the final
// state `[B, H, K, V]`.

/// Unnormalised causal linear attention (Katharopoulos et al., "Transformers are RNNs", 2020):
/// `S_t = S_{t−1} + k_tᵀ v_t`, `o_t = (q_t · K^-1/2) S_t`.
public func linearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, initialState: Tensor? = nil,
  form: GatedLinearRecurrence.Form = .chunked(chunkSize: 64)
) -> (output: Tensor, finalState: Tensor) {
  GatedLinearRecurrence.evaluate(q, k, v, initialState: initialState, form: form)
}

/// RetNet retention (Sun et al., "Retentive Network", 2023): a fixed decay per head,
/// `γ_h = 1 − 2^(−5−h)`: `S_t = γ_h S_{t−1} + k_tᵀ v_t`, `o_t = (q_t · K^-1/2) S_t`.
public func retention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, initialState: Tensor? = nil,
  form: GatedLinearRecurrence.Form = .chunked(chunkSize: 64)
) -> (output: Tensor, finalState: Tensor) {
  let heads = q.shape[2]
  let decay = Tensor((0..<heads).map { Float(Foundation.log(1 - pow(2, -5 - Double($0)))) }, shape: [1, 1, heads, 1])
  return GatedLinearRecurrence.evaluate(q, k, v, logDecay: decay, initialState: initialState, form: form)
}

/// Scalar-gated linear attention: one log gate per head and step, `g` `[B, T, H]`:
/// `S_t = e^{g_t} S_{t−1} + k_tᵀ v_t`.
public func simpleGatedLinearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, logGate g: Tensor, initialState: Tensor? = nil,
  form: GatedLinearRecurrence.Form = .chunked(chunkSize: 64)
) -> (output: Tensor, finalState: Tensor) {
  GatedLinearRecurrence.evaluate(
    q, k, v, logDecay: g.expandingDimensions(at: 3), initialState: initialState, form: form)
}

/// Gated linear attention (Yang et al., "Gated Linear Attention Transformers with
/// Hardware-Efficient Training", 2024): a log gate per key channel, `gk` `[B, T, H, K]`:
/// `S_t = diag(e^{gk_t}) S_{t−1} + k_tᵀ v_t`.
public func gatedLinearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, logGate gk: Tensor, initialState: Tensor? = nil,
  form: GatedLinearRecurrence.Form = .chunked(chunkSize: 64)
) -> (output: Tensor, finalState: Tensor) {
  GatedLinearRecurrence.evaluate(q, k, v, logDecay: gk, initialState: initialState, form: form)
}
