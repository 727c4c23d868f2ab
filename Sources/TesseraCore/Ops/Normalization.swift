import Foundation

// Fused normalisations over the last axis (`[..., D]`), forward and backward in one pass each.
// Forward saves the per-row statistics (mean and 1/σ, or 1/rms) for backward.
//   layerNorm: x̂ = (x − μ)·r, r = 1/√(var + ε);  y = x̂ ⊙ w + b
//              dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)),  ĝ = g ⊙ w;  dw = Σ g ⊙ x̂;  db = Σ g
//   rmsNorm:   x̂ = x·r, r = 1/√(mean(x²) + ε);   y = x̂ ⊙ w
//              dx = r·(ĝ − x̂·mean(ĝ ⊙ x̂));  dw = Σ g ⊙ x̂
// (Ba et al., 2016, "Layer Normalization"; Zhang & Sennrich, 2019, "Root Mean Square Layer
// Normalization".)

/// Layer normalisation over the last axis of `x` `[..., D]`, with optional `weight` and `bias`
/// of shape `[D]`.
public func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Float = 1e-5) -> Tensor {
  Norms.apply(x, weight: weight, bias: bias, epsilon: epsilon, centered: true, op: "layerNorm")
}

/// RMS normalisation over the last axis of `x` `[..., D]`, with an optional `weight` `[D]`.
public func rmsNorm(_ x: Tensor, weight: Tensor? = nil, epsilon: Float = 1e-6) -> Tensor {
  Norms.apply(x, weight: weight, bias: nil, epsilon: epsilon, centered: false, op: "rmsNorm")
}

enum Norms {
  static func apply(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Float, centered: Bool, op: String) -> Tensor {
    check(x.rank >= 1, "\(op): needs rank ≥ 1, got a scalar")
    let d = x.shape[x.rank - 1]
    if let weight {
      check(
        weight.shape == [d],
        "\(op): weight \(weight.shape.shapeDescription) for input \(x.shape.shapeDescription); expected [\(d)]")
    }
    if let bias {
      check(
        bias.shape == [d],
        "\(op): bias \(bias.shape.shapeDescription) for input \(x.shape.shapeDescription); expected [\(d)]")
    }
    let xs = x.contiguousUntraced()
    let w = weight?.contiguousUntraced(), b = bias?.contiguousUntraced()
    let rows = d == 0 ? 0 : x.count / d
    let out = Tensor(uninitializedShape: x.shape)
    let stats = Tensor(uninitializedShape: [rows, 2])  // mean (0 for rms), 1/σ
    let p = xs.basePointer, o = out.storage.base, s = stats.storage.base
    let pw = w?.basePointer, pb = b?.basePointer
    Runtime.parallelFor(rows, grain: RowKernels.rowGrain(d)) { range in
      for r in range {
        let xi = p + r * d, yi = o + r * d
        var mean: Float = 0
        if centered { mean = Dense.sum(xi, d) / Float(d) }
        var sq: Float = 0
        for j in 0..<d {
          let c = xi[j] - mean
          sq += c * c
        }
        let rstd = 1 / (sq / Float(d) + epsilon).squareRoot()
        s[2 * r] = mean
        s[2 * r + 1] = rstd
        for j in 0..<d {
          var v = (xi[j] - mean) * rstd
          if let pw { v *= pw[j] }
          if let pb { v += pb[j] }
          yi[j] = v
        }
      }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return Tensor.record(out, op: op, inputs: inputs) { g, needs in
      // Pointers re-derived from the captured tensors, which keep the saved buffers alive.
      let p = xs.basePointer, s = stats.storage.base, pw = w?.basePointer
      let gs = g.contiguousUntraced()
      let pg = gs.basePointer
      let dx = Tensor(uninitializedShape: x.shape)
      // g ⊙ x̂ per element, summed over rows afterwards (fixed order) for dw.
      let gxhat = Tensor(uninitializedShape: x.shape)
      let pdx = dx.storage.base, pgx = gxhat.storage.base
      Runtime.parallelFor(rows, grain: RowKernels.rowGrain(d)) { range in
        for r in range {
          let xi = p + r * d, gi = pg + r * d, di = pdx + r * d, hi = pgx + r * d
          let mean = s[2 * r], rstd = s[2 * r + 1]
          var sumG: Float = 0, sumGX: Float = 0
          for j in 0..<d {
            let xhat = (xi[j] - mean) * rstd
            let ghat = pw.map { gi[j] * $0[j] } ?? gi[j]
            sumG += ghat
            sumGX += ghat * xhat
            hi[j] = gi[j] * xhat
          }
          let meanG = centered ? sumG / Float(d) : 0, meanGX = sumGX / Float(d)
          for j in 0..<d {
            let xhat = (xi[j] - mean) * rstd
            let ghat = pw.map { gi[j] * $0[j] } ?? gi[j]
            di[j] = rstd * (ghat - meanG - xhat * meanGX)
          }
        }
      }
      var grads: [Tensor?] = [needs[0] ? dx : nil]
      if weight != nil { grads.append(needs[1] ? gxhat.reshaped([rows, d]).sum(axes: [0]) : nil) }
      if bias != nil { grads.append(needs[inputs.count - 1] ? gs.reshaped([rows, d]).sum(axes: [0]) : nil) }
      withExtendedLifetime((xs, stats, w)) {}
      return grads
    }
  }
}
