import Foundation
import TesseraCore

/// The forms of ``selectiveScan(_:delta:A:B:C:D:z:deltaBias:initialState:form:)``.
public let selectiveScanForms: [Form] = [.reference, .parallel, .chunked(size: 64), .fused]

/// The selective scan of Mamba (S6; Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective
/// State Spaces", 2023): a diagonal state space model whose step size `Δ` and projections `B`, `C`
/// depend on the input, per channel `d` and state index `n`:
///
///     Δ_t = softplus(δ_t + δ_bias)
///     x_t = exp(Δ_t A) ⊙ x_{t−1} + Δ_t B_t u_t          (zero-order hold for A, Euler for B)
///     y_t = C_t · x_t + D u_t,        out = y ⊙ silu(z)
///
/// Layout of the reference (`selective_scan_ref`): `u`, `delta`, `z` `[B, D, T]`, `A` `[D, N]`,
/// `B`, `C` `[B, N, T]`, `D` and `deltaBias` `[D]`; returns `[B, D, T]` and the final state
/// `[B, D, N]`.
///
/// Forms (``selectiveScanForms``): `.reference` is the scan, one step at a time (the
/// specification); `.fused` (the default) is the same scan as one CPU kernel with a hand-written
/// reverse pass (``fusedSelectiveScan(_:delta:A:B:C:D:z:deltaBias:initialState:)``). The scan is a gated
/// linear recurrence with one head per channel `d`, keys and queries indexed by the state `n`, a
/// scalar value, and a per-key log decay — `q_t = C_t`, `k_t = Δ_t B_t`, `v_t = u_t`,
/// `g_t = Δ_t A_d` — so `.chunked(size:)` and `.parallel` compute it with
/// ``GatedLinearRecurrence`` in matrix form (the correspondence GLA's paper draws with Mamba). With
/// a scalar value per head the matrix form does `C` times the scan's work for its per-key decays,
/// so on a CPU it is the slower one; it is here to show (and test) the correspondence.
public func selectiveScan(
  _ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor? = nil, z: Tensor? = nil,
  deltaBias: Tensor? = nil, initialState: Tensor? = nil, form: Form = .fused
) -> (output: Tensor, finalState: Tensor) {
  if form == .fused {
    return fusedSelectiveScan(
      u, delta: delta, A: A, B: B, C: C, D: D, z: z, deltaBias: deltaBias, initialState: initialState)
  }
  check(
    selectiveScanForms.contains { $0.sameKind(as: form) },
    "selectiveScan: no \(form) form; the forms are \(selectiveScanForms)")
  let dt = selectiveScanSteps(u, delta: delta, A: A, B: B, C: C, deltaBias: deltaBias, function: "selectiveScan")
  let (b, d, t) = (u.shape[0], u.shape[1], u.shape[2])
  let n = A.shape[1]
  if form != .reference {
    let steps = dt.permuted(0, 2, 1).expandingDimensions(at: 3)  // Δ [B, T, D, 1]
    let queries = C.permuted(0, 2, 1).expandingDimensions(at: 2).broadcast(to: [b, t, d, n])
    let keys = B.permuted(0, 2, 1).expandingDimensions(at: 2) * steps  // Δ_t B_t [B, T, D, N]
    let values = u.permuted(0, 2, 1).expandingDimensions(at: 3)  // [B, T, D, 1]
    let logDecay = steps * A.reshaped(1, 1, d, n)  // Δ_t A [B, T, D, N]
    let (o, final) = GatedLinearRecurrence.evaluate(
      queries, keys, values, logDecay: logDecay, scale: 1, initialState: initialState?.expandingDimensions(at: 3),
      form: form)
    let y = o.squeezed(axes: [3]).permuted(0, 2, 1)  // [B, D, T]
    return (selectiveScanReadout(y, u, D: D, z: z), final.squeezed(axes: [3]))
  }
  var state = initialState ?? Tensor.zeros([b, d, n])
  var ys: [Tensor] = []
  for i in 0..<t {
    let step = dt.select(axis: 2, index: i).expandingDimensions(at: 2)  // [B, D, 1]
    let ut = u.select(axis: 2, index: i).expandingDimensions(at: 2)  // [B, D, 1]
    let bt = B.select(axis: 2, index: i).expandingDimensions(at: 1)  // [B, 1, N]
    let ct = C.select(axis: 2, index: i).expandingDimensions(at: 1)
    state = (step * A).exp() * state + step * bt * ut
    ys.append((state * ct).sum(axis: 2))  // [B, D]
  }
  return (selectiveScanReadout(stack(ys, axis: 2), u, D: D, z: z), state)  // [B, D, T]
}

/// Checks the selective scan's shapes (`u`, `delta` `[B, D, T]`, `A` `[D, N]`, `B`, `C` `[B, N, T]`)
/// and returns the step sizes `Δ = softplus(delta + deltaBias)` `[B, D, T]`.
func selectiveScanSteps(
  _ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, deltaBias: Tensor?, function: String
) -> Tensor {
  check(
    u.rank == 3 && delta.shape == u.shape && A.rank == 2 && A.shape[0] == u.shape[1] && B.rank == 3
      && B.shape == [u.shape[0], A.shape[1], u.shape[2]] && C.shape == B.shape,
    "\(function): u \(u.shape), delta \(delta.shape), A \(A.shape), B \(B.shape), C \(C.shape) do not fit "
      + "[B, D, T], [D, N], [B, N, T]")
  var dt = delta
  if let deltaBias { dt = dt + deltaBias.reshaped(1, u.shape[1], 1) }
  return dt.softplus()
}

/// The skip and the gate around the scan's readout `y` `[B, D, T]`: `(y + D ⊙ u) ⊙ silu(z)`.
func selectiveScanReadout(_ y: Tensor, _ u: Tensor, D: Tensor?, z: Tensor?) -> Tensor {
  var out = y
  if let D { out = out + u * D.reshaped(1, u.shape[1], 1) }
  if let z { out = out * z.silu() }
  return out
}
