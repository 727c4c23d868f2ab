// Indexing by integer positions: gather / scatterAdd (PyTorch semantics along one axis),
// indexSelect / indexAdd (whole slices; an embedding lookup is indexSelect on axis 0), oneHot.
//   gather:      out[..., j, ...] = x[..., idx[..., j, ...], ...]      dx = scatterAdd(0, idx, g)
//   indexSelect: out[o, i, r]   = x[o, idx[i], r]                      dx = indexAdd(0, idx, g)

extension Tensor {
  /// Picks along `axis` at `indices`, which has this tensor's rank and shape except along `axis`.
  public func gather(axis: Int, indices: IndexTensor) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "gather")
    checkAlongAxis(indices.shape, axis: a, op: "gather")
    let n = shape[a], m = indices.shape[a]
    let xs = movingAxisToEnd(a).contiguousUntraced()
    let idx = IndexKernels.movingAxisToEnd(indices, axis: a)
    var outShape = xs.shape
    outShape[outShape.count - 1] = m
    let out = Tensor(uninitializedShape: outShape)
    let rows = n == 0 ? 0 : xs.count / n
    let p = xs.basePointer, o = out.storage.base
    idx.withUnsafeBufferPointer { q in
      for r in 0..<rows {
        for j in 0..<m {
          let i = q[r * m + j]
          check(i >= 0 && i < n, "gather: index \(i) out of range for axis \(a) of size \(n)")
          o[r * m + j] = p[r * n + i]
        }
      }
    }
    let result = out.movingLastAxis(to: a).contiguousUntraced()
    let source = shape
    return Tensor.record(result, op: "gather", input: self) { g in
      Tensor.zeros(source).scatterAdding(axis: a, indices: indices, source: g).detached()
    }
  }

  /// Adds `source` into a copy of this tensor at `indices` along `axis` (PyTorch's
  /// `scatter_add`): `out[..., idx[..., j, ...], ...] += source[..., j, ...]`. `indices` and
  /// `source` share a shape equal to this one except along `axis`. Repeated indices accumulate in
  /// index order.
  public func scatterAdding(axis: Int, indices: IndexTensor, source: Tensor) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "scatterAdd")
    check(
      indices.shape == source.shape,
      "scatterAdd: indices \(indices.shape.shapeDescription) and source \(source.shape.shapeDescription) differ")
    checkAlongAxis(indices.shape, axis: a, op: "scatterAdd")
    let n = shape[a], m = indices.shape[a]
    let base = movingAxisToEnd(a).contiguousCopy()
    let src = source.movingAxisToEnd(a).contiguousUntraced()
    let idx = IndexKernels.movingAxisToEnd(indices, axis: a)
    let rows = m == 0 ? 0 : src.count / m
    let o = base.storage.base, p = src.basePointer
    idx.withUnsafeBufferPointer { q in
      for r in 0..<rows {
        for j in 0..<m {
          let i = q[r * m + j]
          check(i >= 0 && i < n, "scatterAdd: index \(i) out of range for axis \(a) of size \(n)")
          o[r * n + i] += p[r * m + j]
        }
      }
    }
    let out = base.movingLastAxis(to: a).contiguousUntraced()
    return Tensor.record(out, op: "scatterAdd", inputs: [self, source]) { g, needs in
      [needs[0] ? g : nil, needs[1] ? g.gather(axis: a, indices: indices).detached() : nil]
    }
  }

  /// Whole slices along `axis` at `indices` (any shape): the result has shape
  /// `shape[..<axis] + indices.shape + shape[(axis+1)...]`. `table.indexSelect(axis: 0,
  /// indices: tokens)` is an embedding lookup `[vocab, model] → [batch, time, model]`.
  public func indexSelect(axis: Int, indices: IndexTensor) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "indexSelect")
    let n = shape[a]
    let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
    let count = indices.count
    let src = contiguousUntraced()
    let outShape = Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...])
    let out = Tensor(uninitializedShape: outShape)
    let p = src.basePointer, o = out.storage.base
    indices.values.withUnsafeBufferPointer { q in
      for i in q {
        check(
          i >= 0 && i < n,
          "indexSelect: index \(i) out of range for axis \(a) of size \(n) in \(shape.shapeDescription)")
      }
      Runtime.parallelFor(outer * count, grain: Swift.max(1, 4096 / Swift.max(inner, 1))) { range in
        for t in range {
          let oi = t / count, i = t % count
          (o + t * inner).update(from: p + (oi * n + q[i]) * inner, count: inner)
        }
      }
    }
    let source = shape
    return Tensor.record(out, op: "indexSelect", input: self) { g in
      Tensor.indexSum(shape: source, axis: a, indices: indices, source: g)
    }
  }

  /// Adds whole slices of `source` into a copy of this tensor at `indices` along `axis`:
  /// `out[o, idx[i], r] += source[o, i, r]`, where `source` has shape
  /// `shape[..<axis] + indices.shape + shape[(axis+1)...]`. Repeats accumulate in index order.
  public func indexAdding(axis: Int, indices: IndexTensor, source: Tensor) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "indexAdd")
    let base = contiguousCopy()
    IndexKernels.addSlices(into: base, axis: a, indices: indices, source: source, fromZero: false)
    return Tensor.record(base, op: "indexAdd", inputs: [self, source]) { g, needs in
      [needs[0] ? g : nil, needs[1] ? g.indexSelect(axis: a, indices: indices).detached() : nil]
    }
  }

  /// `Tensor.zeros(shape).indexAdding(axis:indices:source:)`, bit for bit, without the zero tensor:
  /// every slice is written once (indexSelect's gradient).
  static func indexSum(shape: [Int], axis a: Int, indices: IndexTensor, source: Tensor) -> Tensor {
    let out = Tensor(uninitializedShape: shape)
    IndexKernels.addSlices(into: out, axis: a, indices: indices, source: source, fromZero: true)
    return out
  }

  private func checkAlongAxis(_ other: [Int], axis: Int, op: String) {
    check(
      other.count == rank,
      "\(op): indices of shape \(other.shapeDescription) for a tensor of shape \(shape.shapeDescription): ranks differ")
    for i in 0..<rank where i != axis {
      check(
        other[i] == shape[i],
        "\(op): indices \(other.shapeDescription) and tensor \(shape.shapeDescription) differ on axis \(i)")
    }
  }
}

/// `[..., classes]` rows that are 1 at each index and 0 elsewhere.
public func oneHot(_ indices: IndexTensor, classes: Int) -> Tensor {
  var out = Tensor.zeros(indices.shape + [classes])
  out.withMutableScalars { o in
    for (r, i) in indices.values.enumerated() {
      check(i >= 0 && i < classes, "oneHot: index \(i) out of range for \(classes) classes")
      o[r * classes + i] = 1
    }
  }
  return out
}

enum IndexKernels {
  /// Which sources go to each destination, in ascending source order (a stable counting sort):
  /// destination `d`'s sources are `order[starts[d] ..< starts[d + 1]]`, for `destination[i]` of
  /// source `i` in `0 ..< destinations` (checked by the caller).
  static func sourcesByDestination(_ destination: [Int], destinations: Int) -> (starts: [Int], order: [Int]) {
    var starts = [Int](repeating: 0, count: destinations + 1)
    for d in destination { starts[d + 1] += 1 }
    for d in 0..<destinations { starts[d + 1] += starts[d] }
    var order = [Int](repeating: 0, count: destination.count)
    var fill = starts
    for (i, d) in destination.enumerated() {
      order[fill[d]] = i
      fill[d] += 1
    }
    return (starts, order)
  }

  /// `out[o, idx[i], r] += source[o, i, r]` for every `i`, in index order: each destination slice is
  /// built by one task from its sources in ascending `i` (so any split over the threads gives the
  /// same bits) and written once. `fromZero`: `out` holds nothing yet, and each slice is the sum
  /// `0 + s₁ + s₂ …` of its sources (0 where it has none), as if `out` had been zero.
  static func addSlices(into out: Tensor, axis a: Int, indices: IndexTensor, source: Tensor, fromZero: Bool) {
    let shape = out.shape
    let n = shape[a]
    let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
    let expected = Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...])
    check(
      source.shape == expected,
      "indexAdd: source \(source.shape.shapeDescription) should be \(expected.shapeDescription)")
    let count = indices.count
    for i in indices.values { check(i >= 0 && i < n, "indexAdd: index \(i) out of range for axis \(a) of size \(n)") }
    let (starts, bySlice) = sourcesByDestination(indices.values, destinations: n)
    let src = source.contiguousUntraced()
    let o = out.storage.base, p = src.basePointer
    starts.withUnsafeBufferPointer { starts in
      bySlice.withUnsafeBufferPointer { bySlice in
        let grain = Swift.max(1, 4096 / Swift.max(inner * Swift.max(1, count / Swift.max(n, 1)), 1))
        Runtime.parallelFor(outer * n, grain: grain) { range in
          for t in range {
            let oi = t / n, d = t % n
            let dst = o + t * inner
            var k = starts[d]
            if fromZero {
              guard k < starts[d + 1] else {
                dst.update(repeating: 0, count: inner)
                continue
              }
              let s = p + (oi * count + bySlice[k]) * inner
              for r in 0..<inner { dst[r] = 0 + s[r] }
              k += 1
            }
            while k < starts[d + 1] {
              let s = p + (oi * count + bySlice[k]) * inner
              for r in 0..<inner { dst[r] += s[r] }
              k += 1
            }
          }
        }
      }
    }
    withExtendedLifetime(src) {}
  }

  /// Index values with `axis` moved last, row-major: `[outer, n, inner] → [outer, inner, n]`.
  static func movingAxisToEnd(_ idx: IndexTensor, axis: Int) -> [Int] {
    if axis == idx.rank - 1 { return idx.values }
    let shape = idx.shape
    let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
    var out = [Int](repeating: 0, count: idx.count)
    for o in 0..<outer {
      for i in 0..<n {
        for r in 0..<inner { out[(o * inner + r) * n + i] = idx.values[(o * n + i) * inner + r] }
      }
    }
    return out
  }
}
