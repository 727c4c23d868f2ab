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
      Tensor.zeros(source).indexAdding(axis: a, indices: indices, source: g).detached()
    }
  }

  /// Adds whole slices of `source` into a copy of this tensor at `indices` along `axis`:
  /// `out[o, idx[i], r] += source[o, i, r]`, where `source` has shape
  /// `shape[..<axis] + indices.shape + shape[(axis+1)...]`. Repeats accumulate in index order.
  public func indexAdding(axis: Int, indices: IndexTensor, source: Tensor) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "indexAdd")
    let n = shape[a]
    let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
    let expected = Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...])
    check(
      source.shape == expected,
      "indexAdd: source \(source.shape.shapeDescription) should be \(expected.shapeDescription)")
    let base = contiguousCopy()
    let src = source.contiguousUntraced()
    let o = base.storage.base, p = src.basePointer
    let count = indices.count
    let chunk = 64
    let chunks = (inner + chunk - 1) / chunk
    indices.values.withUnsafeBufferPointer { q in
      for i in q { check(i >= 0 && i < n, "indexAdd: index \(i) out of range for axis \(a) of size \(n)") }
      // Parallel over (outer, column chunk); each output element sums in index order.
      Runtime.parallelFor(outer * chunks, grain: 1) { range in
        for t in range {
          let oi = t / chunks, lo = (t % chunks) * chunk, hi = Swift.min(inner, lo + chunk)
          for i in 0..<count {
            let dst = o + (oi * n + q[i]) * inner, s = p + (oi * count + i) * inner
            for r in lo..<hi { dst[r] += s[r] }
          }
        }
      }
    }
    return Tensor.record(base, op: "indexAdd", inputs: [self, source]) { g, needs in
      [needs[0] ? g : nil, needs[1] ? g.indexSelect(axis: a, indices: indices).detached() : nil]
    }
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
