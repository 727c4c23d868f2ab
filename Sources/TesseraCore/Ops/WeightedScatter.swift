// Weighted rows added back to their destinations, as one op:
//   out[i] = Σ_{s : indices[s] = i} w[s] · y[s]          (in slot order; rows nobody adds to are 0)
//   dy[s] = w[s] · g[indices[s]],    dw[s] = ⟨g[indices[s]], y[s]⟩
// What a mixture of experts does with its experts' outputs: one pass instead of a product, a
// gather-add and their backward passes. Each output element sums in slot order and each
// gradient row is its own, so any split over the threads gives the same bits.

/// Adds `weights[s] · rows[s]` (`rows` `[S, D]`, `weights` `[S]`) into row `indices[s]` of `count`
/// zero rows: `[count, D]`. Differentiable in `rows` and `weights`.
public func weightedScatterAdd(_ rows: Tensor, weights: Tensor, indices: [Int], count: Int) -> Tensor {
  check(rows.rank == 2, "weightedScatterAdd: rows must be [slots, width], got \(rows.shape.shapeDescription)")
  let (slots, width) = (rows.shape[0], rows.shape[1])
  check(
    weights.shape == [slots] && indices.count == slots,
    "weightedScatterAdd: \(slots) rows, weights \(weights.shape.shapeDescription), \(indices.count) indices")
  for i in indices { check(i >= 0 && i < count, "weightedScatterAdd: index \(i) out of range for \(count) rows") }
  let ys = rows.contiguousUntraced(), ws = weights.contiguousUntraced()
  let out = Tensor.zeros([count, width])
  let o = out.storage.base, y = ys.basePointer, w = ws.basePointer
  let chunk = 64
  let chunks = (width + chunk - 1) / chunk
  indices.withUnsafeBufferPointer { index in
    Runtime.parallelFor(chunks, grain: 1) { range in
      for c in range {
        let lo = c * chunk, hi = Swift.min(width, lo + chunk)
        for s in 0..<slots {
          let destination = o + index[s] * width, source = y + s * width, weight = w[s]
          for j in lo..<hi { destination[j] += weight * source[j] }
        }
      }
    }
  }
  withExtendedLifetime((ys, ws)) {}
  return Tensor.record(out, op: "weightedScatterAdd", inputs: [rows, weights]) { g, needs in
    let gs = g.contiguousUntraced()
    let dy = needs[0] ? Tensor(uninitializedShape: [slots, width]) : nil
    let dw = needs[1] ? Tensor(uninitializedShape: [slots]) : nil
    let pg = gs.basePointer
    indices.withUnsafeBufferPointer { index in
      Runtime.parallelFor(slots, grain: Swift.max(1, 4096 / Swift.max(width, 1))) { range in
        for s in range {
          let source = pg + index[s] * width, row = y + s * width
          if let dy {
            let target = dy.storage.base + s * width, weight = w[s]
            for j in 0..<width { target[j] = weight * source[j] }
          }
          if let dw {
            var total: Float = 0
            for j in 0..<width { total += source[j] * row[j] }
            dw.storage.base[s] = total
          }
        }
      }
    }
    withExtendedLifetime((gs, ys, ws)) {}
    return [dy, dw]
  }
}
