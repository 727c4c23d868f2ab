import TesseraCore

/// A causal depthwise convolution over time: `y[t, c] = b_c + Σ_j w[c, j] · x[t − (K−1) + j, c]`,
/// `[B, T, C] → [B, T, C]`, kernel `K` (Mamba's short convolution).
public final class CausalConvolution: Module {
  @Parameter public var weight: Tensor  // [C, K]
  @Parameter public var bias: Tensor  // [C]

  public init(channels: Int, kernel: Int, generator: inout RandomGenerator) {
    let bound = 1 / Float(kernel).squareRoot()
    weight = generator.uniform([channels, kernel], low: -bound, high: bound)
    bias = Tensor.zeros([channels])
  }

  public var kernel: Int { weight.shape[1] }
  public var channels: Int { weight.shape[0] }

  /// FLOPs over `rows` positions, counted as for ``Linear/flops(rows:)``: per channel a
  /// multiply–add (2 FLOPs) for each of the `K` taps, the zero padding of the first positions
  /// included, and one for the bias.
  public func flops(rows: Int) -> Int { rows * channels * (2 * kernel + 1) }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    let (t, k) = (x.shape[1], kernel)
    let padded = x.padded(axis: 1, before: k - 1, after: 0)
    var y = bias.reshaped(1, 1, -1).broadcast(to: x.shape)
    for j in 0..<k {
      y = y + padded.slice(axis: 1, j..<(j + t)) * weight.slice(axis: 1, j..<(j + 1)).reshaped(1, 1, -1)
    }
    return y
  }

  /// One step: `window` `[B, K, C]` holds the last K inputs, the newest last.
  public func step(window: Tensor) -> Tensor {
    (window * weight.transposed().expandingDimensions(at: 0)).sum(axis: 1) + bias
  }
}
