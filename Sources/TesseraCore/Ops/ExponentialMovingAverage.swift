// An exponential moving average with a rate per step, along the second axis:
//   z_j = (1 − r_j) z_{j−1} + r_j c_j,   z_{−1} = 0,   c [B, M, D], r [B, M]
// Backward, with G_j the total cotangent reaching z_j (its own g_j and what z_{j+1} passes back):
//   G_j = g_j + (1 − r_{j+1}) G_{j+1},   dc_j = r_j G_j,   dr_j = Σ_d G_j (c_j − z_{j−1})
// One pass each way, O(B·M·D); the recurrence never divides, so r = 0 or 1 is exact.

/// The exponential moving average of `values` `[B, M, D]` along `M` with a rate `rates` `[B, M]`
/// per step, from a zero state: `z_j = (1 − r_j) z_{j−1} + r_j c_j`. With `r_0 = 1` it starts at
/// `c_0` exactly. The dechunking of token-to-concept models (H-Net, ConceptMoE) smooths concept
/// vectors this way, each weighted by its boundary probability.
public func exponentialMovingAverage(_ values: Tensor, rates: Tensor) -> Tensor {
  check(values.rank == 3, "exponentialMovingAverage: values must be [B, M, D], got \(values.shape.shapeDescription)")
  let (b, m, d) = (values.shape[0], values.shape[1], values.shape[2])
  check(
    rates.shape == [b, m],
    "exponentialMovingAverage: rates must be [\(b), \(m)] for values \(values.shape.shapeDescription), got \(rates.shape.shapeDescription)"
  )
  let c = values.contiguousUntraced(), r = rates.contiguousUntraced()
  let z = Tensor(uninitializedShape: [b, m, d])
  let pc = c.basePointer, pr = r.basePointer, pz = z.storage.base
  Runtime.parallelFor(b, grain: 1) { rows in
    for row in rows {
      let cz = row * m * d
      for j in 0..<m {
        let rate = pr[row * m + j], keep = 1 - rate
        let out = pz + cz + j * d, input = pc + cz + j * d
        if j == 0 {
          for k in 0..<d { out[k] = keep * 0 + rate * input[k] }
        } else {
          let previous = pz + cz + (j - 1) * d
          for k in 0..<d { out[k] = keep * previous[k] + rate * input[k] }
        }
      }
    }
  }
  return Tensor.record(z, op: "exponentialMovingAverage", inputs: [values, rates]) { g, needs in
    let gs = g.contiguousUntraced()
    let pc = c.basePointer, pr = r.basePointer, pz = z.storage.base  // the tensors the closure holds
    let dc = Tensor(uninitializedShape: [b, m, d]), dr = Tensor(uninitializedShape: [b, m])
    let pg = gs.basePointer, pdc = dc.storage.base, pdr = dr.storage.base
    Runtime.parallelFor(b, grain: 1) { rows in
      var carried = [Float](repeating: 0, count: d)
      for row in rows {
        let base = row * m * d
        for k in 0..<d { carried[k] = 0 }
        var j = m - 1
        while j >= 0 {
          // carried = G_{j+1} (1 − r_{j+1}) on entry; G_j = g_j + that.
          var rateGradient: Float = 0
          let rate = pr[row * m + j]
          for k in 0..<d {
            let total = pg[base + j * d + k] + carried[k]
            pdc[base + j * d + k] = rate * total
            let previous: Float = j == 0 ? 0 : pz[base + (j - 1) * d + k]
            rateGradient += total * (pc[base + j * d + k] - previous)
            carried[k] = total * (1 - rate)
          }
          pdr[row * m + j] = rateGradient
          j -= 1
        }
      }
    }
    return [needs[0] ? dc : nil, needs[1] ? dr : nil]
  }
}
