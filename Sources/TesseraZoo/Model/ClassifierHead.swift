import TesseraCore
import TesseraNN

/// A classification head (``HeadSpec`` of kind `.sequence` or `.token`) on the model's final
/// normalised hidden states `[B, T, D]`: a linear map to the head's classes, per position
/// (`[B, T, classes]`) or on the states pooled over positions (`[B, classes]`: the mean, the first
/// or the last position).
public final class ClassifierHead: Module {
  public let spec: HeadSpec
  public let linear: Linear

  init(_ spec: HeadSpec, width: Int, generator: inout RandomGenerator) {
    self.spec = spec
    linear = Linear(width, spec.classes!, generator: &generator)
  }

  public var name: String { spec.name }

  public func callAsFunction(_ hidden: Tensor) -> Tensor {
    guard spec.kind == .sequence else { return linear(hidden) }
    switch spec.pooling {
    case .mean: return linear(hidden.mean(axis: 1))
    case .first: return linear(hidden.select(axis: 1, index: 0))
    case .last: return linear(hidden.select(axis: 1, index: hidden.shape[1] - 1))
    }
  }

  /// Counted FLOPs for `batch × time` positions: the pooling (an add per element, a divide per
  /// pooled feature) and the linear map.
  public func flops(batch: Int, time: Int) -> Int {
    let width = linear.inputCount
    guard spec.kind == .sequence else { return linear.flops(rows: batch * time) }
    let pooling = spec.pooling == .mean ? batch * width * time : 0
    return pooling + linear.flops(rows: batch)
  }
}
