import Foundation
import TesseraCore

/// A diagonal linear time-invariant state space model, S4D (Gu, Gupta, Goel & Ré, "On the
/// Parameterization and Initialization of Diagonal State Space Models", 2022): per channel `h`,
/// `N` complex modes `A_n = −exp(logDecay) + i·frequency`, input matrix `B = 1`, readout `C`
/// (complex) and step `Δ = exp(logStep)`, discretised by zero-order hold:
///
///     Ā = exp(ΔA)      B̄ = (Ā − 1) / A
///     x_t = Ā x_{t−1} + B̄ u_t          y_t = 2·Re(C · x_t) + D u_t
///
/// The same map is a causal convolution with the kernel `K_l = 2·Re(Σ_n C_n B̄_n Ā_n^l)`: nothing
/// depends on the input, which is what "time-invariant" means and what Mamba's selective scan gives
/// up. Shapes: `u` `[B, T, H]`; `logStep`, `D` `[H]`; `logDecay`, `frequency`, `cReal`, `cImag`
/// `[H, N]`; returns `y` `[B, T, H]` and the final state `[B, H, N, 2]` (real, imaginary).
public struct DiagonalStateSpace {
  /// The forms: `.reference` scans token by token (the specification); `.parallel` builds the
  /// convolution kernel and multiplies by its `T × T` Toeplitz matrix (quadratic in T, one GEMM
  /// per channel); `.chunked(size:)` convolves inside chunks of `C` steps and carries the state
  /// across them (linear in T: `C × C` Toeplitz matrices, `T/C` chunks).
  public static let forms: [Form] = [.reference, .parallel, .chunked(size: 64)]

  public var logStep: Tensor
  public var logDecay: Tensor
  public var frequency: Tensor
  public var cReal: Tensor
  public var cImag: Tensor
  public var d: Tensor?

  public init(logStep: Tensor, logDecay: Tensor, frequency: Tensor, cReal: Tensor, cImag: Tensor, d: Tensor? = nil) {
    check(
      logStep.rank == 1 && logDecay.rank == 2 && logDecay.shape[0] == logStep.shape[0]
        && frequency.shape == logDecay.shape && cReal.shape == logDecay.shape && cImag.shape == logDecay.shape
        && (d == nil || d!.shape == logStep.shape),
      "DiagonalStateSpace: logStep \(logStep.shape), logDecay \(logDecay.shape), frequency \(frequency.shape), "
        + "C \(cReal.shape)/\(cImag.shape) must be [H], [H, N], [H, N], [H, N]")
    self.logStep = logStep
    self.logDecay = logDecay
    self.frequency = frequency
    self.cReal = cReal
    self.cImag = cImag
    self.d = d
  }

  public var channels: Int { logStep.shape[0] }
  public var modes: Int { logDecay.shape[1] }

  /// `Ā` and `B̄` as (real, imaginary) pairs `[H, N]`.
  func discretised() -> (aRe: Tensor, aIm: Tensor, bRe: Tensor, bIm: Tensor) {
    let step = logStep.exp().expandingDimensions(at: 1)  // [H, 1]
    let re = -logDecay.exp(), im = frequency
    let magnitude = (re * step).exp()
    let aRe = magnitude * (im * step).cos(), aIm = magnitude * (im * step).sin()
    // (Ā − 1) / A, with A = re + i·im.
    let denominator = re.square() + im.square()
    let bRe = ((aRe - 1) * re + aIm * im) / denominator
    let bIm = (aIm * re - (aRe - 1) * im) / denominator
    return (aRe, aIm, bRe, bIm)
  }

  /// `Ā^l` for `l` in `powers` as (real, imaginary) `[H, N, L]`.
  func powers(_ powers: [Int]) -> (Tensor, Tensor) {
    let step = logStep.exp().reshaped(channels, 1, 1)
    let l = Tensor(powers.map(Float.init), shape: [1, 1, powers.count])
    let re = (-logDecay.exp()).expandingDimensions(at: 2), im = frequency.expandingDimensions(at: 2)
    let magnitude = (re * step * l).exp()
    return (magnitude * (im * step * l).cos(), magnitude * (im * step * l).sin())
  }

  /// The convolution kernel `K` `[H, L]`.
  public func kernel(length: Int) -> Tensor {
    let (_, _, bRe, bIm) = discretised()
    let (pRe, pIm) = powers(Array(0..<length))
    return kernel(bRe: bRe, bIm: bIm, pRe: pRe, pIm: pIm)
  }

  /// `K_l = 2·Re(Σ_n C_n B̄_n Ā_n^l)` from `B̄` `[H, N]` and the powers `Ā^l` `[H, N, L]`.
  func kernel(bRe: Tensor, bIm: Tensor, pRe: Tensor, pIm: Tensor) -> Tensor {
    let cbRe = cReal * bRe - cImag * bIm, cbIm = cReal * bIm + cImag * bRe  // C·B̄ [H, N]
    return ((cbRe.expandingDimensions(at: 2) * pRe - cbIm.expandingDimensions(at: 2) * pIm) * 2).sum(axis: 1)
  }

  /// Runs the model over `u` `[B, T, H]` from `initialState` `[B, H, N, 2]` (zero by default).
  public func callAsFunction(_ u: Tensor, initialState: Tensor? = nil, form: Form = .parallel) -> (
    output: Tensor, finalState: Tensor
  ) {
    check(
      u.rank == 3 && u.shape[2] == channels, "DiagonalStateSpace: input \(u.shape) must be [B, T, \(channels)]")
    check(
      initialState == nil || initialState!.shape == [u.shape[0], channels, modes, 2],
      "DiagonalStateSpace: initial state \(initialState!.shape) must be [\(u.shape[0]), \(channels), \(modes), 2]")
    switch form {
    case .reference: return scan(u, initialState: initialState)
    case .parallel: return convolve(u, initialState: initialState, plan: plan(length: u.shape[1]))
    case .chunked(let size):
      check(size >= 1, "DiagonalStateSpace: the chunk size must be positive, got \(size)")
      // Each chunk is a convolution from the state the previous one ended in; the model is time
      // invariant, so one plan (kernel, Toeplitz matrix, powers of Ā) serves every chunk.
      let plan = plan(length: Swift.min(size, u.shape[1]))
      var state = initialState
      var outputs: [Tensor] = []
      for start in stride(from: 0, to: Swift.max(u.shape[1], 1), by: size) {
        let chunk = u.slice(axis: 1, start..<Swift.min(u.shape[1], start + size))
        let (y, next) = convolve(chunk, initialState: state, plan: plan)
        outputs.append(y)
        state = next
      }
      return (outputs.count == 1 ? outputs[0] : concatenate(outputs, axis: 1), state!)
    default: checkFailed("DiagonalStateSpace: no \(form) form; the forms are \(Self.forms)")
    }
  }

  func scan(_ u: Tensor, initialState: Tensor?) -> (output: Tensor, finalState: Tensor) {
    let (b, t, h) = (u.shape[0], u.shape[1], u.shape[2])
    let (aRe, aIm, bRe, bIm) = discretised()
    var xRe = initialState?.select(axis: 3, index: 0) ?? Tensor.zeros([b, h, modes])
    var xIm = initialState?.select(axis: 3, index: 1) ?? Tensor.zeros([b, h, modes])
    var ys: [Tensor] = []
    for i in 0..<t {
      let ut = u.select(axis: 1, index: i).expandingDimensions(at: 2)  // [B, H, 1]
      (xRe, xIm) = (aRe * xRe - aIm * xIm + bRe * ut, aRe * xIm + aIm * xRe + bIm * ut)
      var y = ((cReal * xRe - cImag * xIm) * 2).sum(axis: 2)  // [B, H]
      if let d { y = y + d * ut.squeezed(axes: [2]) }
      ys.append(y)
    }
    return (stack(ys, axis: 1), stack([xRe, xIm], axis: 3))
  }

  /// What the convolution form needs for sequences of up to `length` steps, computed once: `B̄`
  /// `[H, N]`, the powers `Ā^0 … Ā^length` `[H, N, length + 1]` (the kernel uses 0…T−1, the final
  /// state T−1…0, the start state 1…T) and the Toeplitz matrices `[H, length, length]`.
  struct ConvolutionPlan {
    let bRe: Tensor, bIm: Tensor
    let pRe: Tensor, pIm: Tensor
    let toeplitz: Tensor
  }

  func plan(length t: Int) -> ConvolutionPlan {
    let (_, _, bRe, bIm) = discretised()
    let (pRe, pIm) = powers(Array(0...t))
    let k = kernel(bRe: bRe, bIm: bIm, pRe: pRe.slice(axis: 2, 0..<t), pIm: pIm.slice(axis: 2, 0..<t))  // [H, T]
    // Toeplitz T_h[i, j] = K_h[i − j] for j ≤ i.
    var lags = [Int](repeating: 0, count: t * t)
    for i in 0..<t { for j in 0...i { lags[i * t + j] = i - j } }
    let toeplitz = k.indexSelect(axis: 1, indices: IndexTensor(lags, shape: [t * t])).reshaped(channels, t, t)
      .lowerTriangle()
    return ConvolutionPlan(bRe: bRe, bIm: bIm, pRe: pRe, pIm: pIm, toeplitz: toeplitz)
  }

  /// The convolution form over `u` `[B, T, H]` with a plan for at least `T` steps (a longer plan's
  /// leading blocks are the shorter one's).
  func convolve(_ u: Tensor, initialState: Tensor?, plan: ConvolutionPlan) -> (output: Tensor, finalState: Tensor) {
    let t = u.shape[1]
    let full = plan.toeplitz.shape[1]
    let toeplitz = t == full ? plan.toeplitz : plan.toeplitz.slice(axis: 1, 0..<t).slice(axis: 2, 0..<t)
    let (bRe, bIm) = (plan.bRe, plan.bIm)
    let (pRe, pIm) = t == full ? (plan.pRe, plan.pIm) : (plan.pRe.slice(axis: 2, 0...t), plan.pIm.slice(axis: 2, 0...t))
    let uh = u.permuted(2, 1, 0)  // [H, T, B]
    var y = matmul(toeplitz, uh).permuted(2, 1, 0)  // [B, T, H]
    if let d { y = y + u * d }
    // Final state: x_{T−1} = Σ_s Ā^{T−1−s} B̄ u_s (+ Ā^T x₀).
    let reversed = IndexTensor((0..<t).map { t - 1 - $0 }, shape: [t])
    let rRe = pRe.indexSelect(axis: 2, indices: reversed), rIm = pIm.indexSelect(axis: 2, indices: reversed)
    let wRe = rRe * bRe.expandingDimensions(at: 2) - rIm * bIm.expandingDimensions(at: 2)
    let wIm = rRe * bIm.expandingDimensions(at: 2) + rIm * bRe.expandingDimensions(at: 2)
    let us = u.permuted(2, 0, 1)  // [H, B, T]
    var xRe = matmul(us, wRe.transposed()).permuted(1, 0, 2)  // [B, H, N]
    var xIm = matmul(us, wIm.transposed()).permuted(1, 0, 2)
    if let initialState {
      let x0Re = initialState.select(axis: 3, index: 0), x0Im = initialState.select(axis: 3, index: 1)  // [B, H, N]
      // Outputs: 2·Re(C Ā^{i+1} x₀) for i = 0…T−1; state: Ā^T x₀.
      let qRe = pRe.slice(axis: 2, 1..<(t + 1)), qIm = pIm.slice(axis: 2, 1..<(t + 1))  // [H, N, T]
      let cqRe = cReal.expandingDimensions(at: 2) * qRe - cImag.expandingDimensions(at: 2) * qIm
      let cqIm = cReal.expandingDimensions(at: 2) * qIm + cImag.expandingDimensions(at: 2) * qRe
      // Re(cq · x₀) summed over modes: [B, H, T].
      let fromStart =
        (matmul(x0Re.permuted(1, 0, 2), cqRe) - matmul(x0Im.permuted(1, 0, 2), cqIm)).permuted(1, 2, 0) * 2
      y = y + fromStart
      let lastRe = pRe.select(axis: 2, index: t), lastIm = pIm.select(axis: 2, index: t)  // Ā^T [H, N]
      xRe = xRe + lastRe * x0Re - lastIm * x0Im
      xIm = xIm + lastRe * x0Im + lastIm * x0Re
    }
    return (y, stack([xRe, xIm], axis: 3))
  }
}
