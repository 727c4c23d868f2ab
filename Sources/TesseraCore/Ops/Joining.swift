// Joining and cutting: concatenate, stack, split, pad. Each pullback is the opposite cut.

/// Joins tensors along `axis`; all other axes must match.
public func concatenate(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
  check(!tensors.isEmpty, "concatenate: no tensors given")
  let first = tensors[0]
  let a = Shape.axis(axis, rank: first.rank, op: "concatenate")
  for t in tensors {
    var s1 = t.shape, s0 = first.shape
    check(
      t.rank == first.rank, "concatenate: ranks differ: \(first.shape.shapeDescription) and \(t.shape.shapeDescription)"
    )
    s1[a] = 0
    s0[a] = 0
    check(
      s1 == s0,
      "concatenate: shapes \(first.shape.shapeDescription) and \(t.shape.shapeDescription) differ off axis \(a)")
  }
  var shape = first.shape
  shape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
  let out = Tensor(uninitializedShape: shape)
  var starts: [Int] = []
  var start = 0
  for t in tensors {
    starts.append(start)
    var window = out
    window.offset = start * out.strides[a]
    window.shape[a] = t.shape[a]
    StridedCopy.assign(t, into: window)
    start += t.shape[a]
  }
  return Tensor.record(out, op: "concatenate", inputs: tensors) { g, needs in
    tensors.indices.map { i in
      needs[i] ? g.slice(axis: a, starts[i]..<(starts[i] + tensors[i].shape[a])) : nil
    }
  }
}

/// Stacks equally shaped tensors along a new axis.
public func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
  check(!tensors.isEmpty, "stack: no tensors given")
  for t in tensors {
    check(
      t.shape == tensors[0].shape,
      "stack: shapes \(tensors[0].shape.shapeDescription) and \(t.shape.shapeDescription) differ")
  }
  let a = axis < 0 ? axis + tensors[0].rank + 1 : axis
  return concatenate(tensors.map { $0.expandingDimensions(at: a) }, axis: a)
}

extension Tensor {
  /// Cuts along `axis` into pieces of the given sizes (they must add up to the axis length).
  public func split(sizes: [Int], axis: Int) -> [Tensor] {
    let a = Shape.axis(axis, rank: rank, op: "split")
    check(
      sizes.reduce(0, +) == shape[a],
      "split: sizes \(sizes) do not add up to \(shape[a]) (axis \(a) of \(shape.shapeDescription))")
    var start = 0
    return sizes.map { size in
      defer { start += size }
      return slice(axis: a, start..<(start + size))
    }
  }

  /// Cuts along `axis` into `count` equal pieces.
  public func split(count: Int, axis: Int) -> [Tensor] {
    let a = Shape.axis(axis, rank: rank, op: "split")
    check(
      count > 0 && shape[a] % count == 0,
      "split: axis \(a) of \(shape.shapeDescription) does not divide into \(count) pieces")
    return split(sizes: Array(repeating: shape[a] / count, count: count), axis: a)
  }

  /// Pads with `value`: `padding[i] = (before, after)` for axis `i` (missing trailing entries
  /// mean no padding).
  public func padded(_ padding: [(before: Int, after: Int)], value: Float = 0) -> Tensor {
    check(padding.count <= rank, "pad: \(padding.count) paddings for a rank-\(rank) tensor")
    check(padding.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "pad: negative padding \(padding)")
    var shape = self.shape
    for (i, p) in padding.enumerated() { shape[i] += p.before + p.after }
    let out = Tensor(repeating: value, shape: shape)
    var window = out
    for (i, p) in padding.enumerated() { window.offset += p.before * out.strides[i] }
    window.shape = self.shape
    StridedCopy.assign(self, into: window)
    let source = self.shape
    return Tensor.record(out, op: "pad", input: self) { g in
      var cut = g
      for (i, p) in padding.enumerated() { cut = cut.slice(axis: i, p.before..<(p.before + source[i])) }
      return cut
    }
  }

  /// Pads one axis with `value`.
  public func padded(axis: Int, before: Int, after: Int, value: Float = 0) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "pad")
    var padding = Array(repeating: (before: 0, after: 0), count: a + 1)
    padding[a] = (before, after)
    return padded(padding, value: value)
  }

  /// Lower triangle of the last two axes: keeps `[i, j]` with `j - i ≤ diagonal`.
  public func lowerTriangle(diagonal: Int = 0) -> Tensor {
    triangle(op: "tril") { i, j in j - i <= diagonal }
  }

  /// Upper triangle of the last two axes: keeps `[i, j]` with `j - i ≥ diagonal`.
  public func upperTriangle(diagonal: Int = 0) -> Tensor {
    triangle(op: "triu") { i, j in j - i >= diagonal }
  }

  private func triangle(op: String, keep: (Int, Int) -> Bool) -> Tensor {
    check(rank >= 2, "\(op): needs rank ≥ 2, got shape \(shape.shapeDescription)")
    let rows = shape[rank - 2], cols = shape[rank - 1]
    var maskValues = [Float](repeating: 0, count: rows * cols)
    for i in 0..<rows { for j in 0..<cols where keep(i, j) { maskValues[i * cols + j] = 1 } }
    let mask = Tensor(maskValues, shape: [rows, cols])
    let out = Elementwise.zip(self, mask, op: op) { $0 * $1 }
    return Tensor.record(out, op: op, input: self) { g in Elementwise.zip(g, mask, op: op) { $0 * $1 } }
  }
}
