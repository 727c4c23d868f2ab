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

// Weighted sum of softmax cross-entropies over the last axis.
//   loss = Σ_r w_r · (logΣ_c e^{x_rc} − x_{r,t_r})
//   dx_rc = g · w_r · (softmax(x_r)_c − [c = t_r])
// A row of weight 0 is not computed: it adds nothing and gets a zero gradient (its target is not
// read, so it may be anything).

/// `Σ_r weights[r] · CE(logits[r], targets[r])` over the rows of `logits` `[..., C]`, `targets`
/// and `weights` shaped `[...]` (the weights are constants: no gradient flows to them). The loss
/// of a masked-diffusion language model (LLaDA, MDLM), where each masked token's cross-entropy
/// is weighted by its sequence's inverse masking rate and unmasked tokens weigh 0.
public func weightedCrossEntropySum(_ logits: Tensor, targets: IndexTensor, weights: [Float]) -> Tensor {
  check(logits.rank >= 1, "weightedCrossEntropySum: logits must have a class axis, got a scalar")
  let c = logits.shape[logits.rank - 1]
  check(
    Array(logits.shape.dropLast()) == targets.shape && weights.count == targets.count,
    "weightedCrossEntropySum: logits \(logits.shape.shapeDescription), targets \(targets.shape.shapeDescription) and "
      + "\(weights.count) weights: targets and weights must have the logits' shape without the class axis")
  for (t, w) in zip(targets.values, weights) where w != 0 {
    check(t >= 0 && t < c, "weightedCrossEntropySum: target \(t) out of range for \(c) classes")
  }
  let xs = logits.contiguousUntraced()
  let rows = targets.count
  let lse = Tensor(uninitializedShape: [rows])
  let perRow = Tensor(uninitializedShape: [rows])
  let p = xs.basePointer, l = lse.storage.base, pr = perRow.storage.base
  targets.values.withUnsafeBufferPointer { tv in
    weights.withUnsafeBufferPointer { wv in
      Runtime.parallelFor(rows, grain: RowKernels.rowGrain(c)) { range in
        for r in range {
          guard wv[r] != 0 else {
            pr[r] = 0
            continue
          }
          let xi = p + r * c
          let m = Dense.max(xi, c)
          l[r] = m + Foundation.log(VectorMath.sumExpShifted(xi, c, shift: m))
          pr[r] = wv[r] * (l[r] - xi[tv[r]])
        }
      }
    }
  }
  let loss = Tensor(Dense.sum(pr, rows))
  return Tensor.record(loss, op: "weightedCrossEntropySum", input: logits) { g in
    let p = xs.basePointer, l = lse.storage.base
    let dx = Tensor(uninitializedShape: logits.shape)
    let o = dx.storage.base
    let scale = g.scalar
    targets.values.withUnsafeBufferPointer { tv in
      weights.withUnsafeBufferPointer { wv in
        Runtime.parallelFor(rows, grain: RowKernels.rowGrain(c)) { range in
          for r in range {
            let xi = p + r * c, di = o + r * c
            guard wv[r] != 0 else {
              di.update(repeating: 0, count: c)
              continue
            }
            let w = scale * wv[r]
            _ = VectorMath.expShifted(xi, di, c, shift: l[r])
            for j in 0..<c { di[j] *= w }
            di[tv[r]] -= w
          }
        }
      }
    }
    withExtendedLifetime((xs, lse)) {}
    return dx
  }
}
