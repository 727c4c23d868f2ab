/// A pointwise function of one float, as a type so that generic kernels specialise on it and
/// vectorise (a closure captured by the threading layer is called indirectly per element).
protocol UnaryKernel {
  func callAsFunction(_ x: Float) -> Float
}

/// A pointwise function of two floats, as a type (see ``UnaryKernel``).
protocol BinaryKernel {
  func callAsFunction(_ a: Float, _ b: Float) -> Float
}

extension Elementwise {
  /// `out[i] = k(x[i])`.
  static func map<K: UnaryKernel>(_ x: Tensor, _ k: K) -> Tensor {
    mapDense(x) { unaryLoop(k, $0, $1, $2) }
  }

  /// Runs `loop(x, out, n)` over the dense elements of `x`, split into ranges over threads: the
  /// driver of every one-input kernel, Swift or C.
  static func mapDense(
    _ x: Tensor, _ loop: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
  ) -> Tensor {
    let src = x.contiguousUntraced()
    let out = Tensor(uninitializedShape: x.shape)
    let s = src.basePointer, o = out.storage.base
    Runtime.parallelFor(x.count, grain: grain) { r in
      loop(s + r.lowerBound, o + r.lowerBound, r.count)
    }
    withExtendedLifetime(src) {}
    return out
  }

  /// Runs `loop(a, b, out, n)` over the dense elements of `a` and `b` (one shape), split into
  /// ranges over threads: the driver of every two-input kernel without broadcasting.
  static func zipDense(
    _ a: Tensor, _ b: Tensor,
    _ loop: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
  ) -> Tensor {
    let ad = a.contiguousUntraced(), bd = b.contiguousUntraced()
    let out = Tensor(uninitializedShape: a.shape)
    let pa = ad.basePointer, pb = bd.basePointer, o = out.storage.base
    Runtime.parallelFor(a.count, grain: grain) { r in
      loop(pa + r.lowerBound, pb + r.lowerBound, o + r.lowerBound, r.count)
    }
    withExtendedLifetime((ad, bd)) {}
    return out
  }

  /// `out[i] = k(a[i], b[i])` with NumPy broadcasting.
  static func zip<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, op: String, _ k: K) -> Tensor {
    if a.shape == b.shape && a.isContiguous && b.isContiguous {
      return zipDense(a, b) { binaryLoop(k, $0, $1, $2, $3) }
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
      Runtime.parallelFor(len, grain: grain) { r in
        stridedLoop(k, pa + r.lowerBound * ra, ra, pb + r.lowerBound * rb, rb, o + r.lowerBound, r.count)
      }
      return out
    }
    Runtime.parallelFor(rows.rowCount, grain: max(1, grain / max(len, 1))) { range in
      rows.forEachRow(in: range) { row, off in
        stridedLoop(k, pa + off[0], ra, pb + off[1], rb, o + row * len, len)
      }
    }
    return out
  }

  @inline(never)
  static func unaryLoop<K: UnaryKernel>(_ k: K, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int)
  {
    for i in 0..<n { out[i] = k(x[i]) }
  }

  @inline(never)
  static func binaryLoop<K: BinaryKernel>(
    _ k: K, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    for i in 0..<n { out[i] = k(x[i], y[i]) }
  }

  /// One row with element strides `sx`, `sy` (0 for a broadcast operand).
  @inline(never)
  static func stridedLoop<K: BinaryKernel>(
    _ k: K, _ x: UnsafePointer<Float>, _ sx: Int, _ y: UnsafePointer<Float>, _ sy: Int,
    _ out: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    switch (sx, sy) {
    case (1, 1): for i in 0..<n { out[i] = k(x[i], y[i]) }
    case (1, 0):
      let v = y[0]
      for i in 0..<n { out[i] = k(x[i], v) }
    case (0, 1):
      let v = x[0]
      for i in 0..<n { out[i] = k(v, y[i]) }
    default: for i in 0..<n { out[i] = k(x[i * sx], y[i * sy]) }
    }
  }
}

/// The pointwise functions of the hot paths (forward and the fused backward steps).
enum Kernels {
  struct Exp: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { VectorMath.exp(x) } }
  struct Negate: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { -x } }
  struct Square: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x * x } }
  struct Relu: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 } }
  struct Sigmoid: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { VectorMath.sigmoid(x) } }
  struct Tanh: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { VectorMath.tanh(x) } }
  struct Silu: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x * VectorMath.sigmoid(x) } }
  struct Scale: UnaryKernel {
    let factor: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * factor }
  }
  struct Shift: UnaryKernel {
    let amount: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x + amount }
  }

  struct Add: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
  struct Subtract: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
  struct Multiply: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
  struct Divide: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
  /// `g·(1 − y²)`: tanh's pullback from its output.
  struct TanhGrad: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * (1 - y * y) }
  }
  /// `g·y·(1 − y)`: sigmoid's pullback from its output.
  struct SigmoidGrad: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) }
  }
  /// `g·[x > 0]`.
  struct ReluGrad: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : 0 }
  }
  /// `g·σ(x)·(1 + x·(1 − σ(x)))`.
  struct SiluGrad: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
      let s = VectorMath.sigmoid(x)
      return g * s * (1 + x * (1 - s))
    }
  }
  /// `2·g·x`.
  struct SquareGrad: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { 2 * g * x }
  }
}
