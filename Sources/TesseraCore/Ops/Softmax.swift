import Foundation

// Fused softmax and log-softmax along one axis, with their closed-form pullbacks:
//   softmax:     y = e^(x - max) / Σ e^(x - max);   dx = y ⊙ (g − Σ g⊙y)
//   logSoftmax:  y = x − max − log Σ e^(x − max);   dx = g − e^y ⊙ Σ g

extension Tensor {
  /// Softmax along `axis` (default: last).
  public func softmax(axis: Int = -1) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "softmax")
    let y = RowKernels.softmax(movingAxisToEnd(a).contiguousUntraced(), log: false).movingLastAxis(to: a)
    return Tensor.record(y, op: "softmax", input: self) { g in
      let gl = g.movingAxisToEnd(a).contiguousUntraced(), yl = y.movingAxisToEnd(a).contiguousUntraced()
      return RowKernels.softmaxBackward(gl, yl, log: false).movingLastAxis(to: a)
    }
  }

  /// Log-softmax along `axis` (default: last).
  public func logSoftmax(axis: Int = -1) -> Tensor {
    let a = Shape.axis(axis, rank: rank, op: "logSoftmax")
    let y = RowKernels.softmax(movingAxisToEnd(a).contiguousUntraced(), log: true).movingLastAxis(to: a)
    return Tensor.record(y, op: "logSoftmax", input: self) { g in
      let gl = g.movingAxisToEnd(a).contiguousUntraced(), yl = y.movingAxisToEnd(a).contiguousUntraced()
      return RowKernels.softmaxBackward(gl, yl, log: true).movingLastAxis(to: a)
    }
  }
}

/// Softmax along `axis`.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor { x.softmax(axis: axis) }
/// Log-softmax along `axis`.
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor { x.logSoftmax(axis: axis) }

/// Kernels over the rows (last axis) of dense tensors.
enum RowKernels {
  static func rowGrain(_ n: Int) -> Int { max(1, (1 << 14) / max(n, 1)) }

  static func softmax(_ x: Tensor, log: Bool) -> Tensor {
    let n = x.shape.last ?? 1
    let rows = n == 0 ? 0 : x.count / n
    let out = Tensor(uninitializedShape: x.shape)
    let p = x.basePointer, o = out.storage.base
    Runtime.parallelFor(rows, grain: rowGrain(n)) { range in
      for r in range {
        let xi = p + r * n, yi = o + r * n
        var m = Dense.max(xi, n)
        if !m.isFinite { m = m.isNaN ? m : 0 }
        let total = VectorMath.expShifted(xi, yi, n, shift: m)
        if log {
          let shift = m + Foundation.log(total)
          for j in 0..<n { yi[j] = xi[j] - shift }
        } else {
          let inv = 1 / total
          for j in 0..<n { yi[j] *= inv }
        }
      }
    }
    return out
  }

  static func softmaxBackward(_ g: Tensor, _ y: Tensor, log: Bool) -> Tensor {
    let n = y.shape.last ?? 1
    let rows = n == 0 ? 0 : y.count / n
    let out = Tensor(uninitializedShape: y.shape)
    let pg = g.basePointer, py = y.basePointer, o = out.storage.base
    Runtime.parallelFor(rows, grain: rowGrain(n)) { range in
      for r in range {
        let gi = pg + r * n, yi = py + r * n, di = o + r * n
        if log {
          let s = Dense.sum(gi, n)
          for j in 0..<n { di[j] = gi[j] - VectorMath.exp(yi[j]) * s }
        } else {
          let s = Dense.dot(gi, yi, n)
          for j in 0..<n { di[j] = yi[j] * (gi[j] - s) }
        }
      }
    }
    return out
  }
}
