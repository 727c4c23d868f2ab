/// An n-dimensional array of `Float` (float32) with reverse-mode differentiation.
///
/// A tensor is a view: a `shape`, `strides` (in elements) and an `offset` into a shared
/// ``TensorStorage``. Reshape, transpose, permute, slice and broadcast produce views without
/// copying; kernels that need dense rows call ``contiguous()``. For the user a tensor is a value:
/// no operation changes a tensor another variable holds.
///
/// Shapes are written `[batch, time, model]`, outermost first (row-major). A rank-0 tensor is a
/// scalar with shape `[]`.
///
/// A tensor produced inside ``valueAndGradient(at:_:)-(Tensor,_)`` from a traced input carries a
/// ``GradientNode`` recording how it was computed; everything else carries none and costs nothing
/// extra.
///
/// `@unchecked Sendable`: the class references it holds are safe to share. Its storage is never
/// written while another tensor can see it (copy on write, decided by the atomic reference
/// count), and a gradient node changes only in its `deinit`, when no tensor refers to it.
public struct Tensor: @unchecked Sendable {
  var storage: TensorStorage
  /// The size of each axis, outermost first.
  public internal(set) var shape: [Int]
  /// Element step of each axis in `storage` (0 for a broadcast axis).
  public internal(set) var strides: [Int]
  var offset: Int
  /// The node of the computation graph this value came from, when it is traced.
  var node: GradientNode?

  init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int = 0, node: GradientNode? = nil) {
    self.storage = storage
    self.shape = shape
    self.strides = strides
    self.offset = offset
    self.node = node
  }

  /// A dense tensor over fresh, uninitialized storage.
  init(uninitializedShape shape: [Int]) {
    _ = HeapTuning.applied
    let count = Shape.count(shape)
    self.init(storage: TensorStorage(count: count), shape: shape, strides: Shape.contiguousStrides(shape))
  }

  /// The number of axes.
  public var rank: Int { shape.count }
  /// The number of elements.
  public var count: Int { Shape.count(shape) }

  /// True when the elements are laid out densely in row-major order from `offset`.
  public var isContiguous: Bool { Shape.isContiguous(shape: shape, strides: strides) }

  /// True when this value is being traced for a gradient.
  public var isTraced: Bool { node != nil }
}

// MARK: - Creation

extension Tensor {
  /// A tensor holding `scalars` in row-major order, shaped `shape`.
  public init(_ scalars: [Float], shape: [Int]) {
    Shape.validate(shape, op: "Tensor(_:shape:)")
    check(
      scalars.count == Shape.count(shape),
      "Tensor(_:shape:): \(scalars.count) scalars do not fill shape \(shape) (\(Shape.count(shape)) elements)")
    self.init(uninitializedShape: shape)
    scalars.withUnsafeBufferPointer { src in
      if let b = src.baseAddress { storage.base.update(from: b, count: scalars.count) }
    }
  }

  /// A rank-1 tensor of `scalars`.
  public init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

  /// A rank-2 tensor from rows of equal length.
  public init(_ rows: [[Float]]) {
    let width = rows.first?.count ?? 0
    check(rows.allSatisfy { $0.count == width }, "Tensor(rows:): rows differ in length")
    self.init(rows.flatMap { $0 }, shape: [rows.count, width])
  }

  /// A rank-0 tensor (a scalar).
  public init(_ scalar: Float) { self.init([scalar], shape: []) }

  /// A tensor of `shape` with every element `value`.
  public init(repeating value: Float, shape: [Int]) {
    Shape.validate(shape, op: "Tensor(repeating:shape:)")
    self.init(uninitializedShape: shape)
    storage.base.update(repeating: value, count: count)
  }

  /// Zeros of `shape`.
  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
  /// Ones of `shape`.
  public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }
  /// Zeros shaped like `other`.
  public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape) }
  /// Ones shaped like `other`.
  public static func ones(like other: Tensor) -> Tensor { ones(other.shape) }

  /// `[start, start + step, …]` up to but excluding `end`, as a rank-1 tensor.
  public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
    check(step != 0, "arange: step must not be zero")
    let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
    var values = [Float](repeating: 0, count: n)
    for i in 0..<n { values[i] = start + Float(i) * step }
    return Tensor(values)
  }

  /// The `n`×`n` identity matrix.
  public static func eye(_ n: Int) -> Tensor {
    var t = zeros([n, n])
    t.withMutableScalars { p in for i in 0..<n { p[i * n + i] = 1 } }
    return t
  }
}

// MARK: - Reading values

extension Tensor {
  /// The elements in row-major order.
  public var scalars: [Float] {
    let dense = contiguousUntraced()
    return Array(UnsafeBufferPointer(start: dense.storage.base + dense.offset, count: dense.count))
  }

  /// The single element of a one-element tensor.
  public var scalar: Float {
    check(count == 1, "scalar: tensor of shape \(shape) has \(count) elements, not 1")
    return storage.base[offset]
  }

  /// The element at a full multi-index.
  public subscript(index indices: Int...) -> Float {
    check(indices.count == rank, "subscript: \(indices.count) indices for a rank-\(rank) tensor of shape \(shape)")
    var position = offset
    for (axis, i) in indices.enumerated() {
      check(i >= 0 && i < shape[axis], "subscript: index \(i) out of range for axis \(axis) of shape \(shape)")
      position += i * strides[axis]
    }
    return storage.base[position]
  }

  /// Calls `body` with the dense elements of this tensor (copied only when it is a strided view).
  public func withScalars<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    let dense = contiguousUntraced()
    return try body(UnsafeBufferPointer(start: dense.storage.base + dense.offset, count: dense.count))
  }

  /// Gives `body` the elements to change in place. Copies first when the storage is shared
  /// with another tensor or this tensor is a strided view. Drops any gradient tracing.
  public mutating func withMutableScalars<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
    if !isKnownUniquelyReferenced(&storage) || !isContiguous || offset != 0 || storage.count != count {
      let dense = contiguousCopy()
      storage = dense.storage
      strides = dense.strides
      offset = 0
    }
    node = nil
    return try body(UnsafeMutableBufferPointer(start: storage.base, count: count))
  }

  /// Pointer to the first element of a contiguous tensor.
  var basePointer: UnsafeMutablePointer<Float> { storage.base + offset }

  /// ``withScalars(_:)`` for many tensors at once, for kernels that read several: `body` gets a
  /// pointer to each tensor's dense elements (copied only for strided views), in order, valid
  /// during the call.
  public static func withScalars<R>(of tensors: [Tensor], _ body: ([UnsafePointer<Float>]) throws -> R) rethrows
    -> R
  {
    let dense = tensors.map { $0.contiguousUntraced() }
    return try withExtendedLifetime(dense) { try body(dense.map { UnsafePointer($0.basePointer) }) }
  }

  /// ``withMutableScalars(_:)`` for many tensors at once, for kernels that write several: each is
  /// made dense and uniquely owned first, then `body` gets a pointer to each one's elements.
  public static func withMutableScalars<R>(
    of tensors: inout [Tensor], _ body: ([UnsafeMutablePointer<Float>]) throws -> R
  ) rethrows -> R {
    for i in tensors.indices { tensors[i].withMutableScalars { _ in } }
    let pointers = tensors.map { $0.storage.base }
    return try withExtendedLifetime(tensors) { try body(pointers) }
  }
}

// MARK: - Copies

extension Tensor {
  /// A dense copy of this view in fresh storage, untraced.
  func contiguousCopy() -> Tensor {
    var out = Tensor(uninitializedShape: shape)
    StridedCopy.copy(from: self, into: out.storage.base)
    out.node = nil
    return out
  }

  /// This tensor when dense, otherwise a dense copy; never traced. For kernels.
  func contiguousUntraced() -> Tensor {
    if isContiguous {
      var t = self
      t.node = nil
      return t
    }
    return contiguousCopy()
  }
}
