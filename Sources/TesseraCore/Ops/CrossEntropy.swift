import Foundation

// Fused softmax cross-entropy over the last axis.
//   loss = mean over counted rows r of (logΣ_c e^{x_rc} − x_{r,t_r})
//   dx_rc = g · (softmax(x_r)_c − [c = t_r]) / count
// Rows whose target equals `ignoreIndex` contribute nothing and are not counted.

/// Mean cross-entropy between `logits` `[..., C]` and integer `targets` `[...]`. Rows whose
/// target is `ignoreIndex` are skipped; when every row is skipped the loss is 0.
public func crossEntropy(_ logits: Tensor, targets: IndexTensor, ignoreIndex: Int? = nil) -> Tensor {
  check(logits.rank >= 1, "crossEntropy: logits must have a class axis, got a scalar")
  let c = logits.shape[logits.rank - 1]
  check(
    Array(logits.shape.dropLast()) == targets.shape,
    "crossEntropy: logits \(logits.shape.shapeDescription) and targets \(targets.shape.shapeDescription): targets must have the logits' shape without the class axis"
  )
  let xs = logits.contiguousUntraced()
  let rows = targets.count
  let lse = Tensor(uninitializedShape: [rows])
  let perRow = Tensor(uninitializedShape: [rows])
  let p = xs.basePointer, l = lse.storage.base, pr = perRow.storage.base
  var counted = 0
  for t in targets.values where t != ignoreIndex {
    check(t >= 0 && t < c, "crossEntropy: target \(t) out of range for \(c) classes")
    counted += 1
  }
  targets.values.withUnsafeBufferPointer { tv in
    Runtime.parallelFor(rows, grain: RowKernels.rowGrain(c)) { range in
      for r in range {
        let xi = p + r * c
        let m = Dense.max(xi, c)
        l[r] = m + Foundation.log(VectorMath.sumExpShifted(xi, c, shift: m))
        pr[r] = tv[r] == ignoreIndex ? 0 : l[r] - xi[tv[r]]
      }
    }
  }
  let loss = Tensor(counted == 0 ? 0 : Dense.sum(pr, rows) / Float(counted))
  return Tensor.record(loss, op: "crossEntropy", input: logits) { g in
    // Pointers re-derived from the captured tensors, which keep the saved buffers alive.
    let p = xs.basePointer, l = lse.storage.base
    let dx = Tensor(uninitializedShape: logits.shape)
    let scale = counted == 0 ? 0 : g.scalar / Float(counted)
    let o = dx.storage.base
    targets.values.withUnsafeBufferPointer { tv in
      Runtime.parallelFor(rows, grain: RowKernels.rowGrain(c)) { range in
        for r in range {
          let xi = p + r * c, di = o + r * c
          if tv[r] == ignoreIndex {
            di.update(repeating: 0, count: c)
            continue
          }
          _ = VectorMath.expShifted(xi, di, c, shift: l[r])
          for j in 0..<c { di[j] *= scale }
          di[tv[r]] -= scale
        }
      }
    }
    withExtendedLifetime((xs, lse)) {}
    return dx
  }
}
