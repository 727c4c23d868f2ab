/// Walks a strided view as rows: the axes are coalesced where the layout allows, the innermost
/// remaining axis is the row, and the outer axes are enumerated in row-major order.
struct StridedRows {
  let outerShape: [Int]
  let outerStrides: [[Int]]
  let rowLength: Int
  let rowStrides: [Int]
  let rowCount: Int

  /// `strides[k]` are the strides of operand `k` over `shape`.
  init(shape: [Int], strides: [[Int]]) {
    var dims: [Int] = []
    var st: [[Int]] = Array(repeating: [], count: strides.count)
    for axis in 0..<shape.count where shape[axis] != 1 {
      if let last = dims.last,
        (0..<strides.count).allSatisfy({ st[$0].last! == strides[$0][axis] * shape[axis] })
      {
        dims[dims.count - 1] = last * shape[axis]
        for k in 0..<strides.count { st[k][st[k].count - 1] = strides[k][axis] }
      } else {
        dims.append(shape[axis])
        for k in 0..<strides.count { st[k].append(strides[k][axis]) }
      }
    }
    if dims.isEmpty {
      dims = [shape.contains(0) ? 0 : 1]
      st = Array(repeating: [0], count: strides.count)
    }
    rowLength = dims.removeLast()
    rowStrides = st.map { $0.last! }
    outerShape = dims
    outerStrides = st.map { Array($0.dropLast()) }
    rowCount = outerShape.reduce(1, *)
  }

  /// Calls `body(row, offsets)` for rows in `range`, with each operand's element offset of the
  /// row's first element (relative to the operand's own offset).
  @inline(__always)
  func forEachRow(in range: Range<Int>, _ body: (Int, UnsafeBufferPointer<Int>) -> Void) {
    let operands = rowStrides.count
    let rank = outerShape.count
    var index = [Int](repeating: 0, count: rank)
    var offsets = [Int](repeating: 0, count: operands)
    var rest = range.lowerBound
    for axis in stride(from: rank - 1, through: 0, by: -1) {
      index[axis] = rest % outerShape[axis]
      rest /= outerShape[axis]
      for k in 0..<operands { offsets[k] += index[axis] * outerStrides[k][axis] }
    }
    offsets.withUnsafeMutableBufferPointer { off in
      for row in range {
        body(row, UnsafeBufferPointer(off))
        // odometer increment
        var axis = rank - 1
        while axis >= 0 {
          index[axis] += 1
          for k in 0..<operands { off[k] += outerStrides[k][axis] }
          if index[axis] < outerShape[axis] { break }
          for k in 0..<operands { off[k] -= outerStrides[k][axis] * outerShape[axis] }
          index[axis] = 0
          axis -= 1
        }
      }
    }
  }
}

enum StridedCopy {
  /// Copies the elements of `source` in row-major order into `destination`.
  static func copy(from source: Tensor, into destination: UnsafeMutablePointer<Float>) {
    let n = source.count
    if n == 0 { return }
    let src = source.storage.base + source.offset
    if source.isContiguous {
      Runtime.parallelFor(n, grain: 1 << 16) { r in
        (destination + r.lowerBound).update(from: src + r.lowerBound, count: r.count)
      }
      return
    }
    let rows = StridedRows(shape: source.shape, strides: [source.strides])
    let len = rows.rowLength
    let s = rows.rowStrides[0]
    Runtime.parallelFor(rows.rowCount, grain: max(1, (1 << 14) / max(len, 1))) { range in
      rows.forEachRow(in: range) { row, off in
        let d = destination + row * len
        let p = src + off[0]
        if s == 1 {
          d.update(from: p, count: len)
        } else {
          for i in 0..<len { d[i] = p[i * s] }
        }
      }
    }
  }
}
