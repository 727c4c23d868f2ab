import TesseraCore

/// A lookup table: token ids `[...]` → vectors `[..., dimension]`, `weight` `[count, dimension]`
/// (PyTorch's `nn.Embedding`), initialised from N(0, 0.02²) as in GPT-2.
public final class Embedding: Module {
  @Parameter public var weight: Tensor

  public init(_ count: Int, _ dimension: Int, generator: inout RandomGenerator) {
    self.weight = generator.normal([count, dimension], standardDeviation: 0.02)
  }

  /// Weight-only quantized inference (``Quantizable``): when set, looked-up rows are decoded from
  /// these codes, and a tied output head multiplies by them.
  public private(set) var quantized: QuantizedMatrix?

  public func callAsFunction(_ ids: IndexTensor) -> Tensor {
    if let quantized { return quantized.rows(ids.values).reshaped(ids.shape + [weight.shape[1]]) }
    let rows = weight.indexSelect(axis: 0, indices: ids.reshaped([ids.count]))
    return rows.reshaped(ids.shape + [weight.shape[1]])
  }
}

extension Embedding: Quantizable {
  public func quantize(_ scheme: QuantizedMatrix.Scheme) { quantized = QuantizedMatrix(weight, scheme: scheme) }
  public func dequantize() { quantized = nil }
}
