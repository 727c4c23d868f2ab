/// Element-by-element kernels: dense fast paths over raw pointers, strided and broadcast paths
/// through ``StridedRows``, split over threads by ``Runtime/parallelFor(_:grain:_:)``.
enum Elementwise {
  static let grain = 1 << 15

  /// `out[i] = f(x[i])`.
  @inline(__always)
  static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let src = x.contiguousUntraced()
    let out = Tensor(uninitializedShape: x.shape)
    let s = src.basePointer
    let o = out.storage.base
    Runtime.parallelFor(x.count, grain: grain) { r in
      loop(s + r.lowerBound, o + r.lowerBound, r.count, f)
    }
    return out
  }

  /// The dense inner loop, zero-based so that it vectorises once `f` is inlined.
  @inline(__always)
  static func loop(_ s: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Float) -> Float) {
    for i in 0..<n { o[i] = f(s[i]) }
  }

  /// `out[i] = f(a[i], b[i])` with NumPy broadcasting.
  @inline(__always)
  static func zip(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape && a.isContiguous && b.isContiguous {
      let out = Tensor(uninitializedShape: a.shape)
      let pa = a.basePointer, pb = b.basePointer, o = out.storage.base
      Runtime.parallelFor(a.count, grain: grain) { r in
        for i in r { o[i] = f(pa[i], pb[i]) }
      }
      return out
    }
    let shape = a.shape == b.shape ? a.shape : Shape.broadcast(a.shape, b.shape, op: op)
    let out = Tensor(uninitializedShape: shape)
    if out.count == 0 { return out }
    let sa = Shape.broadcastStrides(shape: a.shape, strides: a.strides, to: shape)
    let sb = Shape.broadcastStrides(shape: b.shape, strides: b.strides, to: shape)
    let rows = StridedRows(shape: shape, strides: [sa, sb])
    let len = rows.rowLength
    let ra = rows.rowStrides[0], rb = rows.rowStrides[1]
    let pa = a.storage.base + a.offset, pb = b.storage.base + b.offset, o = out.storage.base
    if rows.rowCount == 1 {
      // One long row: split it.
      Runtime.parallelFor(len, grain: grain) { r in
        for i in r { o[i] = f(pa[i * ra], pb[i * rb]) }
      }
      return out
    }
    Runtime.parallelFor(rows.rowCount, grain: max(1, grain / max(len, 1))) { range in
      rows.forEachRow(in: range) { row, off in
        let x = pa + off[0], y = pb + off[1], z = o + row * len
        switch (ra, rb) {
        case (1, 1): for i in 0..<len { z[i] = f(x[i], y[i]) }
        case (1, 0):
          let v = y[0]
          for i in 0..<len { z[i] = f(x[i], v) }
        case (0, 1):
          let v = x[0]
          for i in 0..<len { z[i] = f(v, y[i]) }
        default: for i in 0..<len { z[i] = f(x[i * ra], y[i * rb]) }
        }
      }
    }
    return out
  }

  /// `out[i] = f(a[i], b[i], c[i])` with NumPy broadcasting over all three.
  @inline(__always)
  static func zip3(_ a: Tensor, _ b: Tensor, _ c: Tensor, op: String, _ f: (Float, Float, Float) -> Float) -> Tensor {
    let shape = Shape.broadcast(Shape.broadcast(a.shape, b.shape, op: op), c.shape, op: op)
    let out = Tensor(uninitializedShape: shape)
    if out.count == 0 { return out }
    let sa = Shape.broadcastStrides(shape: a.shape, strides: a.strides, to: shape)
    let sb = Shape.broadcastStrides(shape: b.shape, strides: b.strides, to: shape)
    let sc = Shape.broadcastStrides(shape: c.shape, strides: c.strides, to: shape)
    let rows = StridedRows(shape: shape, strides: [sa, sb, sc])
    let len = rows.rowLength
    let ra = rows.rowStrides[0], rb = rows.rowStrides[1], rc = rows.rowStrides[2]
    let pa = a.storage.base + a.offset, pb = b.storage.base + b.offset, pc = c.storage.base + c.offset
    let o = out.storage.base
    Runtime.parallelFor(rows.rowCount, grain: max(1, grain / max(len, 1))) { range in
      rows.forEachRow(in: range) { row, off in
        let x = pa + off[0], y = pb + off[1], w = pc + off[2], z = o + row * len
        if ra == 1 && rb == 1 && rc == 1 {
          for i in 0..<len { z[i] = f(x[i], y[i], w[i]) }
        } else {
          for i in 0..<len { z[i] = f(x[i * ra], y[i * rb], w[i * rc]) }
        }
      }
    }
    return out
  }
}
