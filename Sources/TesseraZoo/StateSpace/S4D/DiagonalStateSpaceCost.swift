// Counted FLOPs of ``DiagonalStateSpace``, for the S4D layer (counting rules in ``LayerCost``).

import TesseraCore

extension DiagonalStateSpace {
  /// FLOPs of a run over `batch` sequences of `time` steps in `form`, for `channels` channels of
  /// `modes` modes.
  ///
  /// - `.reference`: ``discretised()``, then per step and (sequence, channel, mode) the complex
  ///   update `x ← Ā x + B̄ u` and `2·Re(C x)` summed over the modes; per step and (sequence,
  ///   channel) the skip `D u`.
  /// - `.parallel`: a plan for `T` steps (``planFlops(channels:modes:length:)``) and one
  ///   convolution (``convolutionFlops(batch:channels:modes:time:fromState:)``).
  /// - `.chunked(size:)`: one plan for `min(size, T)` steps, and a convolution per chunk (the last
  ///   one partial), every chunk after the first from the state the previous one ended in.
  static func flops(batch b: Int, time: Int, channels d: Int, modes n: Int, form: Form) -> Int {
    switch form {
    case .reference:
      return discretisedFlops(channels: d, modes: n) + time * FlopCount.arithmetic * (15 * b * d * n + 2 * b * d)
    case .parallel:
      return planFlops(channels: d, modes: n, length: time)
        + convolutionFlops(batch: b, channels: d, modes: n, time: time, fromState: false)
    case .chunked(let size):
      var total = planFlops(channels: d, modes: n, length: min(size, time))
      var first = true
      for (length, count) in blockLengths(time: time, size: size) {
        let fromStart = first ? 1 : 0
        total += fromStart * convolutionFlops(batch: b, channels: d, modes: n, time: length, fromState: false)
        total += (count - fromStart) * convolutionFlops(batch: b, channels: d, modes: n, time: length, fromState: true)
        first = false
      }
      return total
    default: return 0
    }
  }

  /// ``discretised()``: `Δ = e^{logStep}`, `A`, `Ā = e^{ΔA}` as magnitude, cos and sin, and
  /// `B̄ = (Ā − 1)/A` in complex arithmetic.
  static func discretisedFlops(channels d: Int, modes n: Int) -> Int {
    FlopCount.transcendental * (d + 4 * d * n) + FlopCount.arithmetic * 19 * d * n
  }

  /// ``powers(_:)`` for `length` powers: `e^{Δ·re·l}`, `cos` and `sin` of `Δ·im·l`, and their
  /// products.
  static func powersFlops(channels d: Int, modes n: Int, length l: Int) -> Int {
    FlopCount.transcendental * (d + d * n + 3 * d * n * l) + FlopCount.arithmetic * (4 * d * n + 5 * d * n * l)
  }

  /// ``plan(length:)``: ``discretised()``, the powers `Ā^0 … Ā^T`, the kernel
  /// `K_l = 2·Re(Σ_n C_n B̄_n Ā_n^l)` for `T` lags, and the masked Toeplitz matrices.
  static func planFlops(channels d: Int, modes n: Int, length t: Int) -> Int {
    discretisedFlops(channels: d, modes: n) + powersFlops(channels: d, modes: n, length: t + 1)
      + FlopCount.arithmetic * (6 * d * n + 5 * d * n * t + d * t * t)
  }

  /// ``convolve(_:initialState:plan:)`` over `batch` sequences of `time` steps: the Toeplitz
  /// product (`2·T²` per channel and sequence), the skip, the weights `Ā^{T−1−s} B̄` and the final
  /// state (`2·T·N` per channel and sequence, real and imaginary); from a state also its readout
  /// `2·Re(C Ā^{t+1} x₀)` and its decay `Ā^T x₀`.
  static func convolutionFlops(batch b: Int, channels d: Int, modes n: Int, time t: Int, fromState: Bool) -> Int {
    let a = FlopCount.arithmetic
    var flops = 2 * d * b * t * t + 4 * d * b * t * n + a * (2 * b * t * d + 6 * d * n * t)
    if fromState { flops += 4 * d * b * n * t + a * (6 * d * n * t + 3 * b * t * d + 8 * b * d * n) }
    return flops
  }
}
