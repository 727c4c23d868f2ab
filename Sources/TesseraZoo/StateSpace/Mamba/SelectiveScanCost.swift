// Counted FLOPs of ``selectiveScan(_:delta:A:B:C:D:z:deltaBias:initialState:form:)``, for the
// Mamba block (counting rules in ``LayerCost``).

import TesseraCore

/// FLOPs of the selective scan over `batch` sequences of `time` steps, `channels` channels and
/// `states` states, in `form`, with the skip `D` and the gate `silu(z)`; the step bias is counted
/// with Δ's projection.
///
/// - The steps `Δ = softplus(δ + bias)`: a softplus per (sequence, channel, step).
/// - `.fused`, per (sequence, channel, step): `Δ_t u_t`; per state `e^{Δ_t A}`, its product with
///   `h`, `Δ_t u_t B_t` and the sum, then `C_t · h`. `.reference` does the same op by op (`Δ_t B_t`
///   and then `· u_t`: one product more per state).
/// - `.parallel` and `.chunked(size:)`: the keys `Δ_t B_t` and log decays `Δ_t A` per state, then
///   ``GatedLinearRecurrence`` with one head per channel, `N` keys, one value and a decay per key.
/// - The readout `(y + D u) ⊙ silu(z)`.
func selectiveScanFlops(batch b: Int, time: Int, channels d: Int, states n: Int, form: Form) -> Int {
  let (a, e) = (FlopCount.arithmetic, FlopCount.transcendental)
  let positions = b * time * d
  let steps = positions * FlopCount.softplus
  let scan: Int
  switch form {
  case .fused: scan = positions * (a + n * (e + 4 * a) + 2 * n * a)
  case .reference: scan = positions * n * (e + 7 * a)
  default:
    scan =
      2 * a * positions * n
      + b * d * GatedLinearRecurrence.flops(time: time, keys: n, values: 1, gate: n, form: form)
  }
  let readout = positions * (2 * a + FlopCount.silu + a)
  return steps + scan + readout
}
