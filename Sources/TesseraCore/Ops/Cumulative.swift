// Cumulative sum and product along an axis.
//   cumsum:  y_i = Σ_{j≤i} x_j;   dx_j = Σ_{i≥j} g_i  (a reversed cumsum)
//   cumprod: y_i = Π_{j≤i} x_j;   dx_j = (Π_{k<j} x_k) · S_j,  S_j = g_j + x_{j+1} S_{j+1}
// The cumprod pullback never divides by x, so it is exact when some x_j = 0.

extension Tensor {
  /// Running sum along `axis`; `reverse` sums from the end.
  public func cumulativeSum(axis: Int, reverse: Bool = false) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "cumulativeSum")
    let y = Scan.run(self, axis: a) { p, o, n, inner in
      Scan.cumsum(p, o, n, inner, reverse: reverse)
    }
    return Tensor.record(y, op: "cumulativeSum", input: self) { g in g.cumulativeSum(axis: a, reverse: !reverse) }
  }

  /// Running product along `axis`.
  public func cumulativeProduct(axis: Int) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "cumulativeProduct")
    let y = Scan.run(self, axis: a) { p, o, n, inner in
      for j in 0..<inner { o[j] = p[j] }
      for i in 1..<Swift.max(n, 1) {
        for j in 0..<inner { o[i * inner + j] = o[(i - 1) * inner + j] * p[i * inner + j] }
      }
    }
    let x = detached()
    return Tensor.record(y, op: "cumulativeProduct", input: self) { g in
      Scan.cumprodBackward(x: x, g: g, axis: a)
    }
  }
}

enum Scan {
  /// Views dense `x` as `[outer, n, inner]` around `axis` and runs `body(x, out, n, inner)` on
  /// each outer slice.
  static func run(
    _ x: Tensor, axis: Int,
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void
  ) -> Tensor {
    let src = x.contiguousUntraced()
    let out = Tensor(uninitializedShape: x.shape)
    if x.count == 0 { return out }
    let n = x.shape[axis]
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let outer = x.count / (n * inner)
    let p = src.basePointer, o = out.storage.base
    Runtime.parallelFor(outer, grain: Swift.max(1, (1 << 14) / Swift.max(n * inner, 1))) { range in
      for s in range { body(p + s * n * inner, o + s * n * inner, n, inner) }
    }
    return out
  }

  @inline(__always)
  static func cumsum(_ p: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int, _ inner: Int, reverse: Bool)
  {
    if reverse {
      let last = (n - 1) * inner
      for j in 0..<inner { o[last + j] = p[last + j] }
      var i = n - 2
      while i >= 0 {
        for j in 0..<inner { o[i * inner + j] = o[(i + 1) * inner + j] + p[i * inner + j] }
        i -= 1
      }
    } else {
      for j in 0..<inner { o[j] = p[j] }
      for i in 1..<Swift.max(n, 1) {
        for j in 0..<inner { o[i * inner + j] = o[(i - 1) * inner + j] + p[i * inner + j] }
      }
    }
  }

  static func cumprodBackward(x: Tensor, g: Tensor, axis: Int) -> Tensor {
    let xs = x.contiguousUntraced(), gs = g.contiguousUntraced()
    let out = Tensor(uninitializedShape: x.shape)
    if x.count == 0 { return out }
    let n = x.shape[axis]
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let outer = x.count / (n * inner)
    let px = xs.basePointer, pg = gs.basePointer, o = out.storage.base
    Runtime.parallelFor(outer * inner, grain: 64) { range in
      for t in range {
        let s = t / inner, j = t % inner
        let base = s * n * inner + j
        // S_j from the end, stored in the output; then multiply by exclusive prefix products.
        var acc: Float = 0
        var i = n - 1
        while i >= 0 {
          let next: Float = i + 1 < n ? px[base + (i + 1) * inner] : 0
          acc = pg[base + i * inner] + next * acc
          o[base + i * inner] = acc
          i -= 1
        }
        var prefix: Float = 1
        for i in 0..<n {
          o[base + i * inner] *= prefix
          prefix *= px[base + i * inner]
        }
      }
    }
    return out
  }
}
