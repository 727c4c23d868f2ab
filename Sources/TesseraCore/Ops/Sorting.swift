// Sorting along an axis (stable: equal values keep their order), and top-k.
//   topK: values differentiable; the cotangent goes back to the positions the values came from.

extension Tensor {
  /// Positions that sort each row along `axis` (stable). Not differentiable.
  public func argsort(axis: Int = -1, descending: Bool = false) -> IndexTensor {
    let a = Shape.axis(axis, rank: rank, op: "argsort")
    let n = shape[a]
    let moved = movingAxisToEnd(a).contiguousUntraced()
    let rows = n == 0 ? 0 : count / n
    var order = [Int](repeating: 0, count: count)
    let p = moved.basePointer
    for r in 0..<rows {
      let row = p + r * n
      var idx = Array(0..<n)
      // Total order: NaN last, ties by position (stable, deterministic).
      idx.sort { i, j in
        let x = row[i], y = row[j]
        if x.isNaN || y.isNaN { return !x.isNaN && y.isNaN || (x.isNaN && y.isNaN && i < j) }
        if x != y { return descending ? x > y : x < y }
        return i < j
      }
      for j in 0..<n { order[r * n + j] = idx[j] }
    }
    var movedShape = shape
    movedShape.remove(at: a)
    movedShape.append(n)
    let result = IndexTensor(order, shape: movedShape)
    return a == rank - 1 ? result : IndexKernels.movingLastAxis(result, to: a)
  }

  /// Values sorted along `axis` (stable). Not differentiable.
  public func sorted(axis: Int = -1, descending: Bool = false) -> Tensor {
    detached().gather(axis: axis, indices: argsort(axis: axis, descending: descending))
  }

  /// The `k` largest values along `axis`, largest first, and their positions. Ties keep the
  /// lower position first. The values are differentiable.
  public func topK(_ k: Int, axis: Int = -1) -> (values: Tensor, indices: IndexTensor) {
    let a = Shape.axis(axis, rank: rank, op: "topK")
    check(k >= 0 && k <= shape[a], "topK: k = \(k) for axis \(a) of size \(shape[a]) in \(shape.shapeDescription)")
    let order = argsort(axis: a, descending: true)
    let moved = IndexKernels.movingAxisToEnd(order, axis: a)
    let n = shape[a]
    var kept = [Int](repeating: 0, count: moved.count / Swift.max(n, 1) * k)
    let rows = n == 0 ? 0 : moved.count / n
    for r in 0..<rows { for j in 0..<k { kept[r * k + j] = moved[r * n + j] } }
    var keptShape = shape
    keptShape.remove(at: a)
    keptShape.append(k)
    var indices = IndexTensor(kept, shape: keptShape)
    if a != rank - 1 { indices = IndexKernels.movingLastAxis(indices, to: a) }
    return (gather(axis: a, indices: indices), indices)
  }
}

extension IndexKernels {
  /// Inverse of ``movingAxisToEnd(_:axis:)``: `[outer, inner, n] → [outer, n, inner]`.
  static func movingLastAxis(_ idx: IndexTensor, to axis: Int) -> IndexTensor {
    var shape = idx.shape
    let n = shape.removeLast()
    shape.insert(n, at: axis)
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    var out = [Int](repeating: 0, count: idx.count)
    for o in 0..<outer {
      for i in 0..<n {
        for r in 0..<inner { out[(o * n + i) * inner + r] = idx.values[(o * inner + r) * n + i] }
      }
    }
    return IndexTensor(out, shape: shape)
  }
}
