// Views: reshape, transpose, permute, slice, broadcast. They share storage with their source
// (reshape copies only when the layout forbids a view) and their pullbacks undo the view.

extension Tensor {
  /// The same elements in a new shape; one dimension may be `-1` (inferred). A view when the
  /// layout allows it.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var target = newShape
    if let unknown = newShape.firstIndex(of: -1) {
      check(newShape.filter { $0 == -1 }.count == 1, "reshape: \(newShape.shapeDescription) has more than one -1")
      let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
      check(
        known > 0 && count % known == 0,
        "reshape: cannot infer -1 reshaping \(shape.shapeDescription) to \(newShape.shapeDescription)")
      target[unknown] = count / known
    }
    Shape.validate(target, op: "reshape")
    check(
      Shape.count(target) == count,
      "reshape: \(shape.shapeDescription) (\(count) elements) cannot become \(target.shapeDescription) (\(Shape.count(target)) elements)"
    )
    if target == shape { return self }
    let source = self
    var view = isContiguous ? self : contiguousCopy()
    view.shape = target
    view.strides = Shape.contiguousStrides(target)
    view.node = nil
    return Tensor.record(view, op: "reshape", input: source) { g in g.reshaped(source.shape) }
  }

  /// Reshape with the shape written out: `x.reshaped(2, -1)`.
  public func reshaped(_ newShape: Int...) -> Tensor { reshaped(newShape) }

  /// All elements as a rank-1 tensor.
  public func flattened() -> Tensor { reshaped([-1]) }

  /// Axes reordered: result axis `i` is source axis `order[i]`. A view.
  public func permuted(_ order: [Int]) -> Tensor {
    check(order.count == rank, "permute: order \(order) for a rank-\(rank) tensor of shape \(shape.shapeDescription)")
    let axes = order.map { Shape.axis($0, rank: rank, op: "permute") }
    check(Set(axes).count == rank, "permute: order \(order) is not a permutation of 0..<\(rank)")
    var view = self
    view.shape = axes.map { shape[$0] }
    view.strides = axes.map { strides[$0] }
    view.node = nil
    var inverse = [Int](repeating: 0, count: rank)
    for (i, a) in axes.enumerated() { inverse[a] = i }
    return Tensor.record(view, op: "permute", input: self) { g in g.permuted(inverse) }
  }

  /// Axes reordered, written out: `x.permuted(0, 2, 1, 3)`.
  public func permuted(_ order: Int...) -> Tensor { permuted(order) }

  /// Two axes swapped (by default the last two). A view.
  public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
    check(
      rank >= 2 || (a == -2 && b == -1 && rank < 2), "transpose: rank-\(rank) tensor of shape \(shape.shapeDescription)"
    )
    if rank < 2 { return self }
    let i = Shape.axis(a, rank: rank, op: "transpose"), j = Shape.axis(b, rank: rank, op: "transpose")
    var order = Array(0..<rank)
    order.swapAt(i, j)
    return permuted(order)
  }

  /// The transpose of a matrix (the last two axes swapped).
  public var T: Tensor { transposed() }

  /// A new axis of size 1 at `axis`.
  public func expandingDimensions(at axis: Int) -> Tensor {
    let a = axis < 0 ? axis + rank + 1 : axis
    check(a >= 0 && a <= rank, "unsqueeze: axis \(axis) out of range for rank \(rank)")
    var s = shape
    s.insert(1, at: a)
    return reshaped(s)
  }

  /// Removes axes of size 1 (all of them when `axes` is nil).
  public func squeezed(axes: [Int]? = nil) -> Tensor {
    let drop =
      axes.map { Set($0.map { Shape.axis($0, rank: rank, op: "squeeze") }) }
      ?? Set(shape.indices.filter { shape[$0] == 1 })
    for a in drop {
      check(shape[a] == 1, "squeeze: axis \(a) of shape \(shape.shapeDescription) has size \(shape[a]), not 1")
    }
    return reshaped(shape.indices.filter { !drop.contains($0) }.map { shape[$0] })
  }

  /// This tensor read as `shape` by repeating along axes of size 1 (NumPy rules). A view with
  /// stride 0 on the repeated axes; its gradient sums them back.
  public func broadcast(to target: [Int]) -> Tensor {
    if target == shape { return self }
    let full = Shape.broadcast(shape, target, op: "broadcast")
    check(full == target, "broadcast: \(shape.shapeDescription) cannot be broadcast to \(target.shapeDescription)")
    var view = self
    view.strides = Shape.broadcastStrides(shape: shape, strides: strides, to: target)
    view.shape = target
    view.node = nil
    let source = shape
    return Tensor.record(view, op: "broadcast", input: self) { g in g.sum(toShape: source) }
  }

  /// A dense copy when this is a strided view, else itself.
  public func contiguous() -> Tensor {
    if isContiguous { return self }
    return Tensor.record(contiguousCopy(), op: "contiguous", input: self) { $0 }
  }

  /// Elements `range` along `axis` (a view), optionally every `step`-th.
  public func slice(axis: Int, _ range: Range<Int>, step: Int = 1) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "slice")
    check(step >= 1, "slice: step must be positive, got \(step)")
    check(
      range.lowerBound >= 0 && range.upperBound <= shape[a],
      "slice: range \(range) out of bounds for axis \(a) of shape \(shape.shapeDescription)")
    var view = self
    view.offset += range.lowerBound * strides[a]
    view.shape[a] = (range.count + step - 1) / step
    view.strides[a] *= step
    view.node = nil
    let source = shape
    guard GradientRecording.isEnabled, let input = node else { return view }
    view.node = GradientNode(
      op: "slice", shape: view.shape, inputs: [input],
      pullback: { g in [Tensor.embed(g, intoZerosOf: source, axis: a, start: range.lowerBound, step: step)] },
      region: (a, range.lowerBound, step))
    return view
  }

  /// Elements `range` along `axis`, written with any range expression (`2...`, `..<5`).
  public func slice<R: RangeExpression<Int>>(axis: Int, _ range: R) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "slice")
    return slice(axis: a, range.relative(to: 0..<shape[a]))
  }

  /// The sub-tensor at `index` along `axis`, with that axis removed (a view).
  public func select(axis: Int, index: Int) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "select")
    let i = index < 0 ? index + shape[a] : index
    check(
      i >= 0 && i < shape[a], "select: index \(index) out of range for axis \(a) of shape \(shape.shapeDescription)")
    var s = shape
    s.remove(at: a)
    return slice(axis: a, i..<(i + 1)).reshaped(s)
  }

  /// `x[i]`: the sub-tensor at `i` along the first axis.
  public subscript(_ index: Int) -> Tensor { select(axis: 0, index: index) }

  /// `x[a..<b]`: a range along the first axis.
  public subscript<R: RangeExpression<Int>>(_ range: R) -> Tensor { slice(axis: 0, range) }

  /// `g` placed into zeros of `shape` at `start, start + step, …` along `axis`.
  static func embed(_ g: Tensor, intoZerosOf shape: [Int], axis: Int, start: Int, step: Int) -> Tensor {
    let out = Tensor.zeros(shape)
    var window = out
    window.offset = start * out.strides[axis]
    window.shape[axis] = g.shape[axis]
    window.strides[axis] *= step
    StridedCopy.assign(g, into: window)
    return out
  }
}

extension StridedCopy {
  /// Adds the elements of `source` into the (possibly strided) view `destination`, whose storage
  /// must be private to the caller.
  static func add(_ source: Tensor, into destination: Tensor) {
    check(source.shape == destination.shape, "add: \(source.shape) into \(destination.shape)")
    if source.count == 0 { return }
    let src = source.contiguousUntraced()
    let rows = StridedRows(shape: destination.shape, strides: [destination.strides])
    let len = rows.rowLength, s = rows.rowStrides[0]
    let d = destination.storage.base + destination.offset, p = src.basePointer
    Runtime.parallelFor(rows.rowCount, grain: max(1, (1 << 14) / max(len, 1))) { range in
      rows.forEachRow(in: range) { row, off in
        let q = d + off[0], r = p + row * len
        for i in 0..<len { q[i * s] += r[i] }
      }
    }
  }

  /// Writes the elements of `source` into the (possibly strided) view `destination`, whose
  /// storage must be private to the caller.
  static func assign(_ source: Tensor, into destination: Tensor) {
    check(source.shape == destination.shape, "assign: \(source.shape) into \(destination.shape)")
    if source.count == 0 { return }
    let src = source.contiguousUntraced()
    let rows = StridedRows(shape: destination.shape, strides: [destination.strides])
    let len = rows.rowLength, s = rows.rowStrides[0]
    let d = destination.storage.base + destination.offset, p = src.basePointer
    Runtime.parallelFor(rows.rowCount, grain: max(1, (1 << 14) / max(len, 1))) { range in
      rows.forEachRow(in: range) { row, off in
        let q = d + off[0], r = p + row * len
        if s == 1 { q.update(from: r, count: len) } else { for i in 0..<len { q[i * s] = r[i] } }
      }
    }
  }
}
