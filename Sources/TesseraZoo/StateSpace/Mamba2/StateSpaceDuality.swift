import Foundation
import TesseraCore

/// The state space model of Mamba-2 in its discrete form (Dao & Gu, "Transformers are SSMs", 2024),
/// one scalar decay per head and step:
///
///     h_t = exp(a_t) h_{t−1} + x_tᵀ B_t          y_t = h_t C_t
///
/// with `x` `[B, T, H, P]`, log decays `a` `[B, T, H]`, `B`, `C` `[B, T, H, N]`; returns `y`
/// `[B, T, H, P]` and the final state `[B, H, P, N]`.
///
/// State space duality is the observation that this is a gated linear recurrence with queries
/// `C`, keys `B`, values `x` and a scalar gate: the same three forms as ``GatedLinearRecurrence``
/// apply — `.reference` (the scan), `.parallel` (the quadratic "attention" form with the
/// 1-semiseparable mask `exp(a_{s+1} + … + a_t)`), and `.chunked(size:)` (SSD's block
/// decomposition: quadratic inside chunks, the recurrence across them).
public func stateSpaceDuality(
  _ x: Tensor, logDecay a: Tensor, B: Tensor, C: Tensor, initialState: Tensor? = nil,
  form: Form = .chunked(size: 64)
) -> (output: Tensor, finalState: Tensor) {
  check(
    x.rank == 4 && a.shape == Array(x.shape.prefix(3)) && B.rank == 4 && B.shape.prefix(3) == x.shape.prefix(3)
      && C.shape == B.shape,
    "stateSpaceDuality: x \(x.shape), a \(a.shape), B \(B.shape), C \(C.shape) must be [B,T,H,P], [B,T,H], [B,T,H,N]")
  // Our recurrence keeps the state as [key = N, value = P]; Mamba-2 writes it [P, N].
  let (y, state) = GatedLinearRecurrence.evaluate(
    C, B, x, logDecay: a.expandingDimensions(at: 3), scale: 1, initialState: initialState?.transposed(2, 3), form: form)
  return (y, state.transposed(2, 3))
}
