/// An n-dimensional array of integer indices: token ids, class targets, the positions returned
/// by ``Tensor/argsort(axis:descending:)`` and ``Tensor/topK(_:axis:)``. Not differentiable.
///
/// Shapes follow ``Tensor``: `[batch, time]` token ids index an embedding table `[vocab, model]`.
public struct IndexTensor: Equatable, Sendable, CustomStringConvertible {
  /// The size of each axis, outermost first.
  public let shape: [Int]
  /// The indices in row-major order.
  public var values: [Int]

  public init(_ values: [Int], shape: [Int]) {
    check(
      values.count == Shape.count(shape),
      "IndexTensor: \(values.count) values do not fill shape \(shape.shapeDescription)")
    self.values = values
    self.shape = shape
  }

  /// A rank-1 index tensor.
  public init(_ values: [Int]) { self.init(values, shape: [values.count]) }

  /// A rank-2 index tensor from rows of equal length.
  public init(_ rows: [[Int]]) {
    let width = rows.first?.count ?? 0
    check(rows.allSatisfy { $0.count == width }, "IndexTensor(rows:): rows differ in length")
    self.init(rows.flatMap { $0 }, shape: [rows.count, width])
  }

  public var rank: Int { shape.count }
  public var count: Int { values.count }

  /// The same indices in a new shape.
  public func reshaped(_ newShape: [Int]) -> IndexTensor {
    IndexTensor(values, shape: Tensor(repeating: 0, shape: [count]).reshaped(newShape).shape)
  }

  /// The indices as floats (e.g. to compare with a prediction).
  public var asTensor: Tensor { Tensor(values.map(Float.init), shape: shape) }

  public var description: String {
    "IndexTensor(shape: \(shape.shapeDescription), values: \(values.prefix(16))\(count > 16 ? "…" : ""))"
  }
}
