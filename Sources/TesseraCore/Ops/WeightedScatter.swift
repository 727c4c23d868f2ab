// Weighted rows added back to their destinations, as one op:
//   out[i] = Σ_{s : indices[s] = i} w[s] · y[s]          (in slot order; rows nobody adds to are 0)
//   dy[s] = w[s] · g[indices[s]],    dw[s] = ⟨g[indices[s]], y[s]⟩  (in a fixed order: orderedDot)
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
  // Each destination row built whole from its slots in slot order (0 + w·y, then + w·y for the
  // rest: the sums of adding into zero rows, bit for bit), so every row is written once.
  let (starts, slotsByRow) = IndexKernels.sourcesByDestination(indices, destinations: count)
  let out = Tensor(uninitializedShape: [count, width])
  let o = out.storage.base, y = ys.basePointer, w = ws.basePointer
  starts.withUnsafeBufferPointer { starts in
    slotsByRow.withUnsafeBufferPointer { slotsByRow in
      Runtime.parallelFor(count, grain: Swift.max(1, 4096 / Swift.max(width, 1))) { range in
        for i in range {
          let destination = o + i * width
          let (first, end) = (starts[i], starts[i + 1])
          guard first < end else {
            destination.update(repeating: 0, count: width)
            continue
          }
          scaleRow(y + slotsByRow[first] * width, by: w[slotsByRow[first]], into: destination, count: width, .firstTerm)
          for k in (first + 1)..<end {
            scaleRow(y + slotsByRow[k] * width, by: w[slotsByRow[k]], into: destination, count: width, .adding)
          }
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
    let pdy = dy?.storage.base, pdw = dw?.storage.base
    indices.withUnsafeBufferPointer { index in
      Runtime.parallelFor(slots, grain: Swift.max(1, 4096 / Swift.max(width, 1))) { range in
        for s in range {
          let source = pg + index[s] * width
          if let pdy { scaleRow(source, by: w[s], into: pdy + s * width, count: width, .product) }
          if let pdw { pdw[s] = orderedDot(source, y + s * width, count: width) }
        }
      }
    }
    withExtendedLifetime((gs, ys, ws)) {}
    return [dy, dw]
  }
}

/// How ``scaleRow(_:by:into:count:_:)`` writes its target.
enum RowScaling {
  /// `target[j] = weight · source[j]`
  case product
  /// `target[j] = 0 + weight · source[j]` (a sum's first term: −0 becomes +0, as adding into zero does)
  case firstTerm
  /// `target[j] += weight · source[j]`
  case adding
}

/// One row scaled by `weight` into `target`, sixteen floats at a time: each element the same
/// multiply (then add) as one at a time.
@inline(__always)
func scaleRow(
  _ source: UnsafePointer<Float>, by weight: Float, into target: UnsafeMutablePointer<Float>, count: Int,
  _ mode: RowScaling
) {
  let w = SIMD16<Float>(repeating: weight)
  var j = 0
  while j + 16 <= count {
    let x = UnsafeRawPointer(source + j).loadUnaligned(as: SIMD16<Float>.self)
    let value: SIMD16<Float>
    switch mode {
    case .product: value = w * x
    case .firstTerm: value = SIMD16<Float>() + w * x
    case .adding: value = UnsafeRawPointer(target + j).loadUnaligned(as: SIMD16<Float>.self) + w * x
    }
    UnsafeMutableRawPointer(target + j).storeBytes(of: value, as: SIMD16<Float>.self)
    j += 16
  }
  while j < count {
    switch mode {
    case .product: target[j] = weight * source[j]
    case .firstTerm: target[j] = 0 + weight * source[j]
    case .adding: target[j] += weight * source[j]
    }
    j += 1
  }
}

/// `⟨a, b⟩` over `count` floats in a fixed order on every machine: sixteen lanes of products summed
/// along the vector (lane l takes elements l, l + 16, …; multiply, then add), the lanes added in
/// order, then the tail.
@inline(__always)
func orderedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
  var lanes = SIMD16<Float>()
  var j = 0
  while j + 16 <= count {
    let x = UnsafeRawPointer(a + j).loadUnaligned(as: SIMD16<Float>.self)
    let z = UnsafeRawPointer(b + j).loadUnaligned(as: SIMD16<Float>.self)
    lanes = lanes + x * z
    j += 16
  }
  var total: Float = 0
  for l in 0..<16 { total += lanes[l] }
  while j < count {
    total += a[j] * b[j]
    j += 1
  }
  return total
}
