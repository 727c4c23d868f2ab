// Counted cost of ``deltaRule(_:_:_:beta:logDecay:initialState:scale:form:)``, for the DeltaNet
// layers (counting rules in ``LayerCost``).

import TesseraCore

/// The chunk length of the delta rule's block forms over `time` steps (`.parallel`: one chunk of
/// the whole sequence); nil for the recurrence.
func deltaRuleChunk(time: Int, form: Form) -> Int? {
  switch form {
  case .parallel: return max(1, time)
  case .chunked(let size): return size
  default: return nil
  }
}

/// FLOPs of the (gated) delta rule for one (sequence, head) over `time` steps with keys of `keys`
/// and values of `values`, in `form`.
///
/// - `.reference`, per step: the decay's exp and its product with `S` (gated), `k_t S`,
///   `v_t − k_t S` and its product with `β_t`, `k_tᵀ(…)` and its sum into `S`, the query scaling
///   and `q_t S`.
/// - `.chunked(size:)` and `.parallel` (``chunkedDeltaRule(_:_:_:beta:logDecay:initialState:scale:chunkSize:)``),
///   per chunk of `c` — the last one padded to `c`, as the layout does: `K Kᵀ`, `Q Kᵀ`, `W_v`,
///   `W_k`, the scores times `U` (`2·c²·K` or `2·c²·V` each), the triangular inverse (a solve
///   against the identity, `c²(c − 1)`), `W_k S`, `Q S`, `Kᵀ U` (`2·c·K·V` each), the masks and
///   the products by `β`, the query scaling, and with a gate its running sum, the masked
///   `γ_t/γ_i`, `γ` on the queries and `β`, `γ_C/γ_i` on the keys and the chunk's decay of `S`.
func deltaRuleFlops(time: Int, keys k: Int, values v: Int, gated: Bool, form: Form) -> Int {
  let (a, e) = (FlopCount.arithmetic, FlopCount.transcendental)
  guard let c = deltaRuleChunk(time: time, form: form) else {
    let step = 6 * k * v + a * (2 * v + k * v + k) + (gated ? e + a * k * v : 0)
    return time * step
  }
  let chunks = max(1, blockCount(time: time, size: c))
  let products = c * c * (6 * k + 4 * v) + 6 * c * k * v + c * c * (c - 1)
  let elementwise = 4 * c * c + 2 * c * k + 3 * c * v + k * v
  let gate = gated ? a * (2 * c * c + 3 * c + 2 * c * k + k * v) + e * (c * c + 2 * c + 1) : 0
  return chunks * (products + a * elementwise + gate)
}
