/// Reductions over a tensor viewed as `[outer, reduced, inner]`. Each output element is reduced
/// by one thread in a fixed order, so results do not depend on the thread count.
enum Reduce {
  enum Kind { case sum, max, min }

  /// Reduces `x` over `axes` (sorted, distinct), keeping them as size-1 axes.
  static func reduce(_ x: Tensor, axes: [Int], kind: Kind) -> Tensor {
    var keptShape = x.shape
    for a in axes { keptShape[a] = 1 }
    if axes.isEmpty { return kind == .sum ? x.contiguousUntraced() : x.contiguousUntraced() }
    let isBlock = axes.last! - axes.first! + 1 == axes.count
    let src: Tensor
    var outer = 1, reduced = 1, inner = 1
    if isBlock {
      src = x.contiguousUntraced()
      for a in 0..<axes.first! { outer *= x.shape[a] }
      for a in axes { reduced *= x.shape[a] }
      for a in (axes.last! + 1)..<x.rank { inner *= x.shape[a] }
    } else {
      let kept = (0..<x.rank).filter { !axes.contains($0) }
      src = x.detached().permuted(kept + axes).contiguousUntraced()
      for a in kept { outer *= x.shape[a] }
      for a in axes { reduced *= x.shape[a] }
    }
    let out = Tensor(uninitializedShape: keptShape)
    let p = src.basePointer, o = out.storage.base
    if inner == 1 {
      Runtime.parallelFor(outer, grain: max(1, (1 << 15) / max(reduced, 1))) { range in
        for i in range {
          let row = p + i * reduced
          switch kind {
          case .sum: o[i] = Dense.sum(row, reduced)
          case .max: o[i] = Dense.max(row, reduced)
          case .min: o[i] = Dense.min(row, reduced)
          }
        }
      }
    } else {
      // Accumulate whole rows of `inner` elements, in order over the reduced index.
      let tasks = outer * ((inner + 63) / 64)
      let chunksPerOuter = (inner + 63) / 64
      Runtime.parallelFor(tasks, grain: max(1, (1 << 15) / max(reduced * 64, 1))) { range in
        for t in range {
          let i = t / chunksPerOuter
          let lo = (t % chunksPerOuter) * 64
          let hi = Swift.min(inner, lo + 64)
          let dst = o + i * inner
          let base = p + i * reduced * inner
          for j in lo..<hi { dst[j] = base[j] }
          for r in 1..<Swift.max(reduced, 1) {
            let row = base + r * inner
            switch kind {
            case .sum: for j in lo..<hi { dst[j] += row[j] }
            case .max: for j in lo..<hi { dst[j] = Swift.max(dst[j], row[j]) }
            case .min: for j in lo..<hi { dst[j] = Swift.min(dst[j], row[j]) }
            }
          }
        }
      }
    }
    return out
  }
}

/// Dense loops over contiguous memory with SIMD accumulators. The accumulation order depends
/// only on `n`.
public enum Dense {
  @inline(__always)
  @inlinable
  public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 32 <= n {
      a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
      a1 += raw.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
      i += 32
    }
    var total = (a0 + a1).sum()
    while i < n {
      total += p[i]
      i += 1
    }
    return total
  }

  /// The largest of `n` values that hold no NaN (e.g. attention scores, −∞ allowed), with eight
  /// independent running maxima so the loop does not wait on one comparison chain.
  @inlinable
  public static func maximumWithoutNaN(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = (
      -Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity,
      -Float.infinity, -Float.infinity
    )
    var i = 0
    while i + 8 <= n {
      m.0 = p[i] > m.0 ? p[i] : m.0
      m.1 = p[i + 1] > m.1 ? p[i + 1] : m.1
      m.2 = p[i + 2] > m.2 ? p[i + 2] : m.2
      m.3 = p[i + 3] > m.3 ? p[i + 3] : m.3
      m.4 = p[i + 4] > m.4 ? p[i + 4] : m.4
      m.5 = p[i + 5] > m.5 ? p[i + 5] : m.5
      m.6 = p[i + 6] > m.6 ? p[i + 6] : m.6
      m.7 = p[i + 7] > m.7 ? p[i + 7] : m.7
      i += 8
    }
    var best = Swift.max(
      Swift.max(Swift.max(m.0, m.1), Swift.max(m.2, m.3)), Swift.max(Swift.max(m.4, m.5), Swift.max(m.6, m.7)))
    while i < n {
      best = p[i] > best ? p[i] : best
      i += 1
    }
    return best
  }

  @inline(__always)
  static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = -Float.infinity
    for i in 0..<n where p[i] > m || p[i].isNaN {
      m = p[i]
      if m.isNaN { return m }
    }
    return m
  }

  @inline(__always)
  static func min(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = Float.infinity
    for i in 0..<n where p[i] < m || p[i].isNaN {
      m = p[i]
      if m.isNaN { return m }
    }
    return m
  }

  /// Σ a[i]·b[i], in sixteen interleaved partial sums (an order fixed by `n`).
  @inlinable @inline(__always)
  public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
      acc +=
        ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
      i += 16
    }
    var total = acc.sum()
    while i < n {
      total += a[i] * b[i]
      i += 1
    }
    return total
  }
}
