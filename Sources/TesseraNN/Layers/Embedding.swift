import TesseraCore

/// A lookup table: token ids `[...]` → vectors `[..., dimension]`, `weight` `[count, dimension]`
/// (PyTorch's `nn.Embedding`), initialised from N(0, 0.02²) as in GPT-2.
public final class Embedding: Module {
  @Parameter public var weight: Tensor

  public init(_ count: Int, _ dimension: Int, generator: inout RandomGenerator) {
    self.weight = generator.normal([count, dimension], standardDeviation: 0.02)
  }

  public func callAsFunction(_ ids: IndexTensor) -> Tensor {
    let rows = weight.indexSelect(axis: 0, indices: ids.reshaped([ids.count]))
    return rows.reshaped(ids.shape + [weight.shape[1]])
  }
}
