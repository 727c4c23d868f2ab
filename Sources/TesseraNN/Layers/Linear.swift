import TesseraCore

/// `y = x Wᵀ + b`: `[..., inputs] → [..., outputs]`, with `weight` `[outputs, inputs]` as in
/// PyTorch's `nn.Linear` (the transpose is a GEMM flag, not a copy).
///
/// Weights start uniform in ±1/√inputs (PyTorch's default), biases at zero.
public final class Linear: Module {
  @Parameter public var weight: Tensor
  @OptionalParameter public var bias: Tensor?

  public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, generator: inout RandomGenerator) {
    let bound = 1 / Float(inputs).squareRoot()
    self.weight = generator.uniform([outputs, inputs], low: -bound, high: bound)
    self.bias = bias ? Tensor.zeros([outputs]) : nil
  }

  /// Weight-only quantized inference (``Quantizable``): when set, the layer multiplies by these
  /// codes instead of `weight` (which is kept, for `dequantize()` and training); it then refuses
  /// inputs that carry a gradient.
  public private(set) var quantized: QuantizedMatrix?

  public var inputCount: Int { weight.shape[1] }
  public var outputCount: Int { weight.shape[0] }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    if let quantized { return quantizedLinear(x, quantized, bias: bias) }
    return linear(x, weight: weight, bias: bias)
  }

  /// FLOPs of one application to `rows` vectors: 2 per multiply–add, and one per output for the
  /// bias add when there is a bias.
  public func flops(rows: Int) -> Int { rows * outputCount * (2 * inputCount + (bias == nil ? 0 : 1)) }
}

extension Linear: DeclaresParameters {
  func appendParameters(prefix: String, into out: inout [(String, Parameter)]) {
    out.append((prefix + "weight", _weight))
    if _bias.wrappedValue != nil { out.append((prefix + "bias", Parameter(optional: _bias))) }
  }
}

extension Linear: Quantizable {
  public func quantize(_ scheme: QuantizedMatrix.Scheme) { quantized = QuantizedMatrix(weight, scheme: scheme) }
  public func dequantize() { quantized = nil }
}
