import TesseraCore

/// Layer normalisation over the last axis (Ba, Kiros & Hinton, 2016): `[..., D] → [..., D]`,
/// with a learned scale (`weight`, ones) and shift (`bias`, zeros). Fused forward and backward.
public final class LayerNorm: Module {
  @Parameter public var weight: Tensor
  @Parameter public var bias: Tensor
  public let epsilon: Float

  public init(_ dimension: Int, epsilon: Float = 1e-5) {
    self.weight = Tensor.ones([dimension])
    self.bias = Tensor.zeros([dimension])
    self.epsilon = epsilon
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, epsilon: epsilon) }
}

/// RMS normalisation over the last axis (Zhang & Sennrich, 2019): `x / rms(x) · weight`,
/// `[..., D] → [..., D]`. Fused forward and backward.
public final class RMSNorm: Module {
  @Parameter public var weight: Tensor
  public let epsilon: Float

  public init(_ dimension: Int, epsilon: Float = 1e-6) {
    self.weight = Tensor.ones([dimension])
    self.epsilon = epsilon
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, weight: weight, epsilon: epsilon) }
}
