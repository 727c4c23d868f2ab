import Foundation
import TesseraCore

/// The selective scan of ``selectiveScan(_:delta:A:B:C:D:z:deltaBias:initialState:form:)`` with its
/// recurrence fused into one loop per (sequence, channel) — the CPU counterpart of Mamba's fused
/// scan kernel (Gu & Dao, 2023, §3.3.2). Same inputs, outputs and gradients; instead of a graph of
/// small tensor ops per step, the forward keeps each channel's `N`-vector state in registers and
/// saves the states, and the backward walks time in reverse:
///
///     g_t = ∂L/∂h_t = C_t ∂L/∂y_t + a_{t+1} g_{t+1}          a_t = exp(Δ_t A)
///     ∂L/∂Δ_t = Σ_n g_t,n (A_n a_t,n h_{t−1},n + B_t,n u_t)   ∂L/∂A_n += g_t,n a_t,n Δ_t h_{t−1},n
///     ∂L/∂B_t,n += g_t,n Δ_t u_t      ∂L/∂u_t = Σ_n g_t,n Δ_t B_t,n      ∂L/∂C_t,n += ∂L/∂y_t h_t,n
///
/// Work is split over (sequence, channel) pairs; sums over channels are reduced in a fixed order,
/// so results do not depend on the thread count. Softplus, the skip `D` and the `silu(z)` gate
/// stay ordinary differentiable ops around the fused core.
func fusedSelectiveScan(
  _ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor? = nil, z: Tensor? = nil,
  deltaBias: Tensor? = nil, initialState: Tensor? = nil
) -> (output: Tensor, finalState: Tensor) {
  let dt = selectiveScanSteps(
    u, delta: delta, A: A, B: B, C: C, deltaBias: deltaBias, function: "fusedSelectiveScan")
  let (b, d, t) = (u.shape[0], u.shape[1], u.shape[2])
  let n = A.shape[1]
  let h0 = initialState ?? Tensor.zeros([b, d, n])
  // Time-major B and C, [B, T, N], so a step reads N contiguous values.
  let packed = ScanKernel(batch: b, channels: d, time: t, states: n).apply(
    u, dt, A, B.permuted(0, 2, 1), C.permuted(0, 2, 1), h0)  // [B, D, T + N]
  return (selectiveScanReadout(packed.slice(axis: 2, 0..<t), u, D: D, z: z), packed.slice(axis: 2, t..<(t + n)))
}

/// The fused core: `h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t`, `y_t = C_t · h_t`, returned packed as
/// `[B, D, T + N]` (the outputs, then the final state).
struct ScanKernel {
  let batch: Int, channels: Int, time: Int, states: Int

  func apply(_ u: Tensor, _ dt: Tensor, _ a: Tensor, _ bT: Tensor, _ cT: Tensor, _ h0: Tensor) -> Tensor {
    let inputs = withoutGradients { [u, dt, a, bT, cT, h0].map { $0.contiguous() } }
    let (packed, saved) = withoutGradients { forward(inputs) }
    return Tensor.differentiable(packed, op: "fusedSelectiveScan", inputs: [u, dt, a, bT, cT, h0]) { g, _ in
      backward(inputs, saved: saved, cotangent: g.contiguous())
    }
  }

  /// Outputs and final state packed, and every state `h_t` `[B, D, T, N]` for the backward pass.
  func forward(_ x: [Tensor]) -> (Tensor, Tensor) {
    let (T, N, Dc) = (time, states, channels)
    // Outputs and final state packed [B, D, T + N]; every state [B, D, T, N].
    var results = [Tensor.zeros([batch, Dc, T + N]), Tensor.zeros([batch, Dc, T, N])]
    Tensor.withScalars(of: Array(x[0...5])) { inputs in
      Tensor.withMutableScalars(of: &results) { outputs in
        let (up, dtp, ap, bp, cp, h0p) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5])
        let (op, hp) = (outputs[0], outputs[1])
        Runtime.parallelFor(batch * Dc, grain: 1) { range in
          let h = UnsafeMutablePointer<Float>.allocate(capacity: N)
          defer { h.deallocate() }
          for pair in range {
            let (bi, di) = (pair / Dc, pair % Dc)
            for k in 0..<N { h[k] = h0p[pair * N + k] }
            let aRow = ap + di * N
            for ti in 0..<T {
              let step = dtp[pair * T + ti], input = up[pair * T + ti]
              let bRow = bp + (bi * T + ti) * N, cRow = cp + (bi * T + ti) * N
              let hRow = hp + (pair * T + ti) * N
              let scaled = step * input
              for k in 0..<N {  // independent lanes: vectorises
                let next = VectorMath.exp(step * aRow[k]) * h[k] + scaled * bRow[k]
                h[k] = next
                hRow[k] = next
              }
              var y: Float = 0
              for k in 0..<N { y += cRow[k] * h[k] }
              op[pair * (T + N) + ti] = y
            }
            for k in 0..<N { op[pair * (T + N) + T + k] = h[k] }
          }
        }
      }
    }
    return (results[0], results[1])
  }

  func backward(_ x: [Tensor], saved: Tensor, cotangent: Tensor) -> [Tensor?] {
    let (T, N, Dc, Bn) = (time, states, channels, batch)
    // du, dΔ, dh₀, then per (sequence, channel) contributions to dA, dB, dC, reduced in a fixed
    // order below.
    var grads = [
      Tensor.zeros([Bn, Dc, T]), Tensor.zeros([Bn, Dc, T]), Tensor.zeros([Bn, Dc, N]), Tensor.zeros([Bn, Dc, N]),
      Tensor.zeros([Bn, Dc, T, N]), Tensor.zeros([Bn, Dc, T, N]),
    ]
    Tensor.withScalars(of: Array(x[0...5]) + [saved, cotangent]) { inputs in
      Tensor.withMutableScalars(of: &grads) { outputs in
        let (up, dtp, ap, bp, cp, h0p, hp, gp) = (
          inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], inputs[6], inputs[7]
        )
        let (dupp, ddtpp, dh0pp, dapp, dbpp, dcpp) = (
          outputs[0], outputs[1], outputs[2], outputs[3], outputs[4], outputs[5]
        )
        Runtime.parallelFor(Bn * Dc, grain: 1) { range in
          let g = UnsafeMutablePointer<Float>.allocate(capacity: N)
          let prev = UnsafeMutablePointer<Float>.allocate(capacity: N)
          let lanes = UnsafeMutablePointer<Float>.allocate(capacity: N)
          defer {
            g.deallocate()
            prev.deallocate()
            lanes.deallocate()
          }
          for pair in range {
            let (bi, di) = (pair / Dc, pair % Dc)
            let aRow = ap + di * N
            let gRow = gp + pair * (T + N)
            for k in 0..<N { g[k] = gRow[T + k] }  // ∂L/∂h_{T−1} from the final state
            var ti = T - 1
            while ti >= 0 {
              let step = dtp[pair * T + ti], input = up[pair * T + ti], gy = gRow[ti]
              let bRow = bp + (bi * T + ti) * N, cRow = cp + (bi * T + ti) * N
              let hRow = hp + (pair * T + ti) * N
              let previous = ti > 0 ? hp + (pair * T + ti - 1) * N : h0p + pair * N
              let dbRow = dbpp + (pair * T + ti) * N, dcRow = dcpp + (pair * T + ti) * N
              // Element-wise lanes first (they vectorise), then the two sums.
              let scaled = step * input
              for k in 0..<N {
                dcRow[k] = gy * hRow[k]
                let gk = g[k] + gy * cRow[k]  // ∂L/∂h_t
                let decay = VectorMath.exp(step * aRow[k])
                let carried = decay * previous[k]
                dapp[pair * N + k] += gk * carried * step
                dbRow[k] = gk * scaled
                prev[k] = gk * (aRow[k] * carried + bRow[k] * input)  // ∂L/∂Δ_t lanes
                g[k] = decay * gk  // ∂L/∂h_{t−1} through h_t
                lanes[k] = gk * bRow[k]
              }
              var dStep: Float = 0, dInput: Float = 0
              for k in 0..<N {
                dStep += prev[k]
                dInput += lanes[k]
              }
              dInput *= step
              ddtpp[pair * T + ti] = dStep
              dupp[pair * T + ti] = dInput
              ti -= 1
            }
            for k in 0..<N { dh0pp[pair * N + k] = g[k] }
          }
        }
      }
    }
    // Sums over channels (B and C are shared by all channels) and over sequences (A).
    let dA = grads[3].sum(axis: 0)  // [D, N]
    let dB = grads[4].sum(axis: 1)  // [B, T, N]
    let dC = grads[5].sum(axis: 1)
    return [grads[0], grads[1], dA, dB, dC, grads[2]]
  }
}
