import Foundation
import TesseraCore

/// Softmax attention computed in tiles, in the manner of FlashAttention-2 (Dao, 2023): the same
/// result as ``naiveAttention`` without ever holding a `T × S` score matrix.
///
/// **Forward.** For each block of `queryBlock` query rows, walk the key blocks the mask leaves
/// visible, keeping per row the running maximum `m`, the running normaliser `ℓ` and an
/// unnormalised output `A` (online softmax, Milakov & Gimelshein 2018):
///
///     S = Q_i K_jᵀ · scale        m' = max(m, rowmax S)        P = exp(S − m')
///     ℓ ← ℓ·e^{m−m'} + rowsum P   A ← A·e^{m−m'} + P V_j       m ← m'
///
/// then `O_i = A / ℓ`. Only the row log-sum-exp `L = m + log ℓ` (`[B, HQ, T]`) is saved.
///
/// **Backward.** With `Δ = rowsum(dO ∘ O)`, each tile's probabilities are recomputed from `L`
/// (`P = exp(S − L)`) and
///
///     dV_j += Pᵀ dO_i     dP = dO_i V_jᵀ     dS = P ∘ (dP − Δ)
///     dQ_i += dS K_j · scale                 dK_j += dSᵀ Q_i · scale
///
/// Memory beyond inputs and outputs: `O(T)` statistics plus one tile per thread. Work is split
/// over (batch, key/value head) pairs with a fixed order of accumulation, so results do not
/// depend on the thread count. Tiles are walked query tile by query tile, or (a dynamic selection
/// of a few rows per tile) key tile by key tile, with the same bits (``BlockMask/TileOrder``,
/// `TiledAttentionByKeyTile.swift`). Layout and head grouping as in ``naiveAttention``.
func tiledAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask = .causal, scale: Float? = nil,
  queryBlock: Int = 128, keyBlock: Int = 128
) -> Tensor {
  checkAttentionShapes(q, k, v, function: "tiledAttention")
  let blockMask = BlockMask(
    mask, time: q.shape[1], keyTime: k.shape[1], queryBlock: queryBlock, keyBlock: keyBlock)
  return tiledAttentionKernel(
    q, k, v, blockMask: blockMask, scale: scale, positionBias: nil, function: "tiledAttention")
}

/// Attention under a compiled ``BlockMask`` (static or dynamic): the tiled kernel visits only the
/// mask's live tiles, unmasked where full and masked element by element where partial; a query
/// that sees no key gets a zero output (and no gradient). Layout as ``naiveAttention``; the
/// mask's `time` and `keyTime` must be the queries' and keys' lengths, its slices 1 or `B` batches
/// by a divisor of `HQ` heads.
public func blockSparseAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: BlockMask, scale: Float? = nil) -> Tensor
{
  checkAttentionShapes(q, k, v, function: "blockSparseAttention")
  return tiledAttentionKernel(
    q, k, v, blockMask: mask, scale: scale, positionBias: nil, function: "blockSparseAttention")
}

/// The tiled kernel with an optional additive score bias of the form `c_t − c_s` (query position
/// `t`, key position `s`), `positionBias` `c` `[B, HQ, S]` over the key axis — what forgetting
/// attention adds. The bias is differentiable: `dc_t += Σ_s dS_ts`, `dc_s −= Σ_t dS_ts`.
func tiledAttentionKernel(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, blockMask: BlockMask, scale: Float?, positionBias: Tensor?, function: String
) -> Tensor {
  let geometry = AttentionGeometry(q: q, k: k, scale: scale, mask: blockMask)
  check(
    blockMask.time == geometry.time && blockMask.keyTime == geometry.keyTime,
    "\(function): the block mask is for \(blockMask.time) queries and \(blockMask.keyTime) keys, "
      + "the inputs have \(geometry.time) and \(geometry.keyTime)")
  check(
    (blockMask.sliceBatches == 1 || blockMask.sliceBatches == geometry.batch)
      && geometry.queryHeads % blockMask.sliceHeads == 0,
    "\(function): a block mask of \(blockMask.sliceBatches) × \(blockMask.sliceHeads) slices does not fit "
      + "\(geometry.batch) batches and \(geometry.queryHeads) query heads")
  if let positionBias {
    check(
      positionBias.shape == [geometry.batch, geometry.queryHeads, geometry.keyTime],
      "\(function): position bias \(positionBias.shape) must be [B, HQ, S] = "
        + "[\(geometry.batch), \(geometry.queryHeads), \(geometry.keyTime)]")
  }
  let (qc, kc, vc) = withoutGradients { (q.contiguous(), k.contiguous(), v.contiguous()) }
  let bias = withoutGradients { positionBias?.contiguous() }
  let (output, logSumExp) = withoutGradients { geometry.forward(qc, kc, vc, bias: bias) }
  let inputs = [q, k, v] + (positionBias.map { [$0] } ?? [])
  return Tensor.differentiable(output, op: function, inputs: inputs) { dO, needs in
    let (dq, dk, dv, dc) = geometry.backward(
      qc, kc, vc, bias: bias, output: output, logSumExp: logSumExp, dO: dO.contiguous())
    return [needs[0] ? dq : nil, needs[1] ? dk : nil, needs[2] ? dv : nil] + (bias == nil ? [] : [dc])
  }
}

/// Shapes, strides and settings of one tiled attention call.
struct AttentionGeometry {
  let batch: Int, time: Int, keyTime: Int, queryHeads: Int, heads: Int, dimension: Int
  let scale: Float
  let mask: BlockMask

  init(q: Tensor, k: Tensor, scale: Float?, mask: BlockMask) {
    (batch, time, queryHeads, dimension) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    (keyTime, heads) = (k.shape[1], k.shape[2])
    self.scale = scale ?? 1 / Float(dimension).squareRoot()
    self.mask = mask
  }

  var queryBlock: Int { mask.queryBlock }
  var keyBlock: Int { mask.keyBlock }

  var group: Int { queryHeads / heads }
  /// Row strides of the `[B, T, H, D]` layouts.
  var queryStride: Int { queryHeads * dimension }
  var keyStride: Int { heads * dimension }
  /// Queries sit at the end of the key axis (S ≥ T when decoding with a cache).
  var offset: Int { keyTime - time }

  func forward(_ q: Tensor, _ k: Tensor, _ v: Tensor, bias: Tensor? = nil) -> (Tensor, Tensor) {
    if walksByKeyTile(hasBias: bias != nil) { return forwardByKeyTile(q, k, v) }
    Runtime.prepareBLAS()
    let gemm = GEMMKernel.current  // read here: the worker threads below do not see task-local values
    let (D, Br, Bc) = (dimension, queryBlock, keyBlock)
    let biasValues = bias ?? Tensor.zeros([1])
    let hasBias = bias != nil
    var results = [Tensor.zeros([batch, time, queryHeads, dimension]), Tensor.zeros([batch, queryHeads, time])]
    Tensor.withScalars(of: [q, k, v, biasValues]) { inputs in
      Tensor.withMutableScalars(of: &results) { outputs in
        let (qp, kp, vp, cp) = (inputs[0], inputs[1], inputs[2], inputs[3])
        let (op, lp) = (outputs[0], outputs[1])
        mask.masks.withUnsafeBufferPointer { maskBuffer in
          mask.activeRows.withUnsafeBufferPointer { rowBuffer in
            let (masks, activeRows) = (maskBuffer.baseAddress!, rowBuffer.baseAddress!)
            Runtime.parallelFor(batch * queryHeads, grain: 1) { range in
              let scores = UnsafeMutablePointer<Float>.allocate(capacity: Br * Bc)
              let gathered = UnsafeMutablePointer<Float>.allocate(capacity: 2 * Br * D)
              let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: Br)
              let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: Br)
              defer {
                scores.deallocate()
                gathered.deallocate()
                rowMax.deallocate()
                rowSum.deallocate()
              }
              for pair in range {
                let (b, hq) = (pair / queryHeads, pair % queryHeads)
                let h = hq / group
                let qHead = qp + b * time * queryStride + hq * D
                let oHead = op + b * time * queryStride + hq * D
                let kHead = kp + b * keyTime * keyStride + h * D
                let vHead = vp + b * keyTime * keyStride + h * D
                let cHead = cp + (hasBias ? (b * queryHeads + hq) * keyTime : 0)
                let slice = mask.slice(batch: b, head: hq, queryHeads: queryHeads)
                for queryTile in 0..<mask.queryTiles {
                  let r0 = queryTile * Br
                  let rows = min(Br, time - r0)
                  for i in 0..<rows {
                    rowMax[i] = -.infinity
                    rowSum[i] = 0
                  }
                  let acc = oHead + r0 * queryStride  // accumulate straight into O's rows
                  for tile in mask.tiles(slice: slice, queryTile: queryTile) {
                    let c0 = Int(mask.tileKey[tile]) * Bc
                    let cols = min(Bc, keyTime - c0)
                    let tileMask = mask.tileMask[tile]
                    // The rows computed: all of them, or (a partial tile) those that see a key of it,
                    // gathered into a block of their own.
                    let rowStart = mask.tileRowStart[tile]
                    let computed = Int(mask.tileRowCount[tile])
                    let row = { (i: Int) in rowStart < 0 ? i : Int(activeRows[rowStart + i]) }
                    let queries: UnsafePointer<Float>, queryLead: Int
                    if rowStart < 0 {
                      (queries, queryLead) = (UnsafePointer(qHead + r0 * queryStride), queryStride)
                    } else {
                      for i in 0..<computed {
                        (gathered + i * D).update(from: qHead + (r0 + row(i)) * queryStride, count: D)
                      }
                      (queries, queryLead) = (UnsafePointer(gathered), D)
                    }
                    // S = Q_i K_jᵀ · scale
                    gemm.sgemm(
                      transA: false, transB: true, m: computed, n: cols, k: D, alpha: scale, a: queries, lda: queryLead,
                      b: kHead + c0 * keyStride, ldb: keyStride, beta: 0, c: scores, ldc: cols)
                    for i in 0..<computed {
                      let r = row(i)
                      let s = scores + i * cols
                      let t = r0 + r + offset
                      if hasBias { addBias(s, cHead, query: t, keys: c0..<(c0 + cols)) }
                      if tileMask >= 0 { maskRow(s, masks + tileMask + r * cols, cols) }
                      onlineSoftmaxStep(
                        s, cols, max: &rowMax[r], sum: &rowSum[r], output: acc + r * queryStride, variant: gemm.variant)
                    }
                    // A += P V_j (gathered rows: P V_j into a block, then added row by row — the same
                    // sums, since the product adds C after its chains)
                    if rowStart < 0 {
                      gemm.sgemm(
                        transA: false, transB: false, m: rows, n: D, k: cols, alpha: 1, a: scores, lda: cols,
                        b: vHead + c0 * keyStride, ldb: keyStride, beta: 1, c: acc, ldc: queryStride)
                    } else {
                      let product = gathered + Br * D
                      gemm.sgemm(
                        transA: false, transB: false, m: computed, n: D, k: cols, alpha: 1, a: scores, lda: cols,
                        b: vHead + c0 * keyStride, ldb: keyStride, beta: 0, c: product, ldc: D)
                      for i in 0..<computed {
                        let (a, p) = (acc + row(i) * queryStride, product + i * D)
                        for d in 0..<D { a[d] += p[d] }
                      }
                    }
                  }
                  for i in 0..<rows {
                    lp[(b * queryHeads + hq) * time + r0 + i] = finishRow(
                      acc + i * queryStride, max: rowMax[i], sum: rowSum[i])
                  }
                }
              }
            }
          }
        }
      }
    }
    return (results[0], results[1])
  }

  /// Adds `c_t − c_s` to the scores of query `t` against `keys`.
  @inline(__always)
  func addBias(_ s: UnsafeMutablePointer<Float>, _ c: UnsafePointer<Float>, query t: Int, keys: Range<Int>) {
    let ct = c[t]
    for (j, key) in keys.enumerated() { s[j] += ct - c[key] }
  }

  /// One row's online-softmax step over a tile's scores `s` (masked already): the running maximum
  /// and normaliser advance, `s` becomes `exp(s − m')` (all 0 while the row has seen no key), and the
  /// unnormalised output `a` is rescaled by `e^{m − m'}`. Both tile walks call this, which is what
  /// keeps their bits equal.
  @inline(__always)
  func onlineSoftmaxStep(
    _ s: UnsafeMutablePointer<Float>, _ cols: Int, max rowMax: inout Float, sum rowSum: inout Float,
    output a: UnsafeMutablePointer<Float>, variant: GEMMKernel.Variant
  ) {
    let m = Swift.max(rowMax, Dense.maximumWithoutNaN(s, cols))
    if m == -.infinity {
      for j in 0..<cols { s[j] = 0 }
      return
    }
    let correction = VectorMath.exp(rowMax - m)
    VectorMath.exponentiate(s, cols, subtracting: m, variant: variant)
    let sum = Dense.sum(s, cols)
    rowSum = rowSum * correction + sum
    rowMax = m
    if correction != 1 { for d in 0..<dimension { a[d] *= correction } }
  }

  /// A finished row: the output divided by the normaliser (0 for a row that saw no key); returns its
  /// log-sum-exp (−∞ for such a row).
  @inline(__always)
  func finishRow(_ a: UnsafeMutablePointer<Float>, max rowMax: Float, sum l: Float) -> Float {
    let inverse: Float = l > 0 ? 1 / l : 0
    for d in 0..<dimension { a[d] *= inverse }
    return l > 0 ? rowMax + Foundation.log(l) : -.infinity
  }

  /// A tile row's probabilities recomputed from the row's log-sum-exp `l` (all 0 when it is −∞).
  @inline(__always)
  func recomputeProbabilities(
    _ s: UnsafeMutablePointer<Float>, _ cols: Int, logSumExp l: Float, variant: GEMMKernel.Variant
  ) {
    if l == -.infinity {
      for j in 0..<cols { s[j] = 0 }
      return
    }
    VectorMath.exponentiate(s, cols, subtracting: l, variant: variant)
  }

  /// `dS = P ∘ (dP − Δ)` into `ds` for one row; a row that sees a single key has P = 1 and no
  /// gradient through its scores: dS = 0 exactly (dP − Δ would leave the rounding difference of two
  /// dot products, sgemm's and Δ's, where the answer is zero).
  @inline(__always)
  func scoreGradients(
    _ p: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>, _ cols: Int, delta d0: Float, singleKey: Bool
  ) {
    if singleKey {
      for j in 0..<cols { ds[j] = 0 }
      return
    }
    for j in 0..<cols { ds[j] = p[j] * (ds[j] - d0) }
  }

  /// Sets the scores of keys a partial tile's row hides (`seen[j] == 0`) to −∞.
  @inline(__always)
  func maskRow(_ s: UnsafeMutablePointer<Float>, _ seen: UnsafePointer<UInt8>, _ cols: Int) {
    for j in 0..<cols where seen[j] == 0 { s[j] = -.infinity }
  }

  func backward(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, bias: Tensor? = nil, output: Tensor, logSumExp: Tensor, dO: Tensor
  ) -> (Tensor, Tensor, Tensor, Tensor) {
    Runtime.prepareBLAS()
    let gemm = GEMMKernel.current  // read here: the worker threads below do not see task-local values
    let biasValues = bias ?? Tensor.zeros([1])
    let hasBias = bias != nil
    // Δ = rowsum(dO ∘ O), [B, HQ, T]
    var delta = [Tensor.zeros([batch, queryHeads, time])]
    let (D, Br, Bc) = (dimension, queryBlock, keyBlock)
    Tensor.withScalars(of: [dO, output]) { inputs in
      Tensor.withMutableScalars(of: &delta) { outputs in
        let (gp, op, dp) = (inputs[0], inputs[1], outputs[0])
        Runtime.parallelFor(batch * time, grain: 64) { range in
          for row in range {
            let (b, t) = (row / time, row % time)
            for hq in 0..<queryHeads {
              let base = row * queryStride + hq * D
              dp[(b * queryHeads + hq) * time + t] = Dense.dot(gp + base, op + base, D)
            }
          }
        }
      }
    }
    if walksByKeyTile(hasBias: hasBias) {
      let (dq, dk, dv) = backwardByKeyTile(q, k, v, logSumExp: logSumExp, delta: delta[0], dO: dO)
      return (dq, dk, dv, Tensor.zeros(biasValues.shape))
    }
    var grads = [Tensor.zeros(q.shape), Tensor.zeros(k.shape), Tensor.zeros(v.shape), Tensor.zeros(biasValues.shape)]
    Tensor.withScalars(of: [q, k, v, dO, logSumExp, delta[0], biasValues]) { inputs in
      Tensor.withMutableScalars(of: &grads) { outputs in
        let (qp, kp, vp, gp, lp, delp, cp) = (
          inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], inputs[6]
        )
        let (dqp, dkp, dvp, dcp) = (outputs[0], outputs[1], outputs[2], outputs[3])
        // One task per (batch, kv head): it owns dK, dV of that head and dQ of its query heads.
        mask.masks.withUnsafeBufferPointer { maskBuffer in
          mask.activeRows.withUnsafeBufferPointer { rowBuffer in
            let (masks, activeRows) = (maskBuffer.baseAddress!, rowBuffer.baseAddress!)
            Runtime.parallelFor(batch * heads, grain: 1) { range in
              let p = UnsafeMutablePointer<Float>.allocate(capacity: Br * Bc)
              let dp = UnsafeMutablePointer<Float>.allocate(capacity: Br * Bc)
              let gathered = UnsafeMutablePointer<Float>.allocate(capacity: 3 * Br * D)
              defer {
                p.deallocate()
                dp.deallocate()
                gathered.deallocate()
              }
              for pair in range {
                let (b, h) = (pair / heads, pair % heads)
                let kHead = kp + b * keyTime * keyStride + h * D
                let vHead = vp + b * keyTime * keyStride + h * D
                let dkHead = dkp + b * keyTime * keyStride + h * D
                let dvHead = dvp + b * keyTime * keyStride + h * D
                for g in 0..<group {
                  let hq = h * group + g
                  let qHead = qp + b * time * queryStride + hq * D
                  let gHead = gp + b * time * queryStride + hq * D
                  let dqHead = dqp + b * time * queryStride + hq * D
                  let lse = lp + (b * queryHeads + hq) * time
                  let del = delp + (b * queryHeads + hq) * time
                  let biasOffset = hasBias ? (b * queryHeads + hq) * keyTime : 0
                  let cHead = cp + biasOffset, dcHead = dcp + biasOffset
                  let slice = mask.slice(batch: b, head: hq, queryHeads: queryHeads)
                  for queryTile in 0..<mask.queryTiles {
                    let r0 = queryTile * Br
                    let rows = min(Br, time - r0)
                    for tile in mask.tiles(slice: slice, queryTile: queryTile) {
                      let c0 = Int(mask.tileKey[tile]) * Bc
                      let cols = min(Bc, keyTime - c0)
                      let tileMask = mask.tileMask[tile]
                      // The rows computed, gathered when only some rows of a partial tile see its keys
                      // (rows left out have P = 0: they add nothing to dK, dV, and get no dQ here).
                      let rowStart = mask.tileRowStart[tile]
                      let computed = Int(mask.tileRowCount[tile])
                      let row = { (i: Int) in rowStart < 0 ? i : Int(activeRows[rowStart + i]) }
                      let queries: UnsafePointer<Float>, outputGrads: UnsafePointer<Float>, lead: Int
                      if rowStart < 0 {
                        queries = UnsafePointer(qHead + r0 * queryStride)
                        outputGrads = UnsafePointer(gHead + r0 * queryStride)
                        lead = queryStride
                      } else {
                        for i in 0..<computed {
                          (gathered + i * D).update(from: qHead + (r0 + row(i)) * queryStride, count: D)
                          (gathered + (Br + i) * D).update(from: gHead + (r0 + row(i)) * queryStride, count: D)
                        }
                        (queries, outputGrads, lead) = (UnsafePointer(gathered), UnsafePointer(gathered + Br * D), D)
                      }
                      // P = exp(Q_i K_jᵀ · scale − L), masked
                      gemm.sgemm(
                        transA: false, transB: true, m: computed, n: cols, k: D, alpha: scale, a: queries, lda: lead,
                        b: kHead + c0 * keyStride, ldb: keyStride, beta: 0, c: p, ldc: cols)
                      for i in 0..<computed {
                        let r = row(i)
                        let s = p + i * cols
                        if hasBias { addBias(s, cHead, query: r0 + r + offset, keys: c0..<(c0 + cols)) }
                        if tileMask >= 0 { maskRow(s, masks + tileMask + r * cols, cols) }
                        recomputeProbabilities(s, cols, logSumExp: lse[r0 + r], variant: gemm.variant)
                      }
                      // dV_j += Pᵀ dO_i
                      gemm.sgemm(
                        transA: true, transB: false, m: cols, n: D, k: computed, alpha: 1, a: p, lda: cols,
                        b: outputGrads, ldb: lead, beta: 1, c: dvHead + c0 * keyStride, ldc: keyStride)
                      // dP = dO_i V_jᵀ
                      gemm.sgemm(
                        transA: false, transB: true, m: computed, n: cols, k: D, alpha: 1, a: outputGrads, lda: lead,
                        b: vHead + c0 * keyStride, ldb: keyStride, beta: 0, c: dp, ldc: cols)
                      // dS = P ∘ (dP − Δ), into dp
                      for i in 0..<computed {
                        let r = r0 + row(i)
                        scoreGradients(
                          p + i * cols, dp + i * cols, cols, delta: del[r],
                          singleKey: mask.visibleKeys(slice: slice, query: r) == 1)
                      }
                      // The bias c_t − c_s: dc_t += rowsum dS, dc_s −= colsum dS.
                      if hasBias {
                        for i in 0..<computed {
                          let ds = dp + i * cols
                          var rowSum: Float = 0
                          for j in 0..<cols {
                            rowSum += ds[j]
                            dcHead[c0 + j] -= ds[j]
                          }
                          dcHead[r0 + row(i) + offset] += rowSum
                        }
                      }
                      // dQ_i += dS K_j · scale (gathered rows: into a block, then added row by row)
                      if rowStart < 0 {
                        gemm.sgemm(
                          transA: false, transB: false, m: rows, n: D, k: cols, alpha: scale, a: dp, lda: cols,
                          b: kHead + c0 * keyStride, ldb: keyStride, beta: 1, c: dqHead + r0 * queryStride,
                          ldc: queryStride)
                      } else {
                        let product = gathered + 2 * Br * D
                        gemm.sgemm(
                          transA: false, transB: false, m: computed, n: D, k: cols, alpha: scale, a: dp, lda: cols,
                          b: kHead + c0 * keyStride, ldb: keyStride, beta: 0, c: product, ldc: D)
                        for i in 0..<computed {
                          let (target, source) = (dqHead + (r0 + row(i)) * queryStride, product + i * D)
                          for d in 0..<D { target[d] += source[d] }
                        }
                      }
                      // dK_j += dSᵀ Q_i · scale
                      gemm.sgemm(
                        transA: true, transB: false, m: cols, n: D, k: computed, alpha: scale, a: dp, lda: cols,
                        b: queries, ldb: lead, beta: 1, c: dkHead + c0 * keyStride, ldc: keyStride)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return (grads[0], grads[1], grads[2], grads[3])
  }
}
