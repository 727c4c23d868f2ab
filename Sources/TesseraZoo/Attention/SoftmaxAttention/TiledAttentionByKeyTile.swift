import Foundation
import TesseraCore

/// The tiled kernel's second walk: key tile by key tile, each key tile's product taken at once
/// for every query row (of every query tile) that sees it.
///
/// A dynamic selection (MoBA, NSA's selected blocks, top-k over blocks) leaves each query tile
/// with many live key tiles of a few rows each. Walked query tile by query tile, every one of
/// those small products packs the whole key (and value) tile again for a handful of rows: at
/// T 16k, MoBA's 12% of the scores cost as much as dense attention. Walked key tile by key tile,
/// a key tile is packed once for up to ``rowsPerProduct`` rows.
///
/// The bits are those of the query-tile walk: each output element of a product is one chain
/// over its own k, whatever the other rows of the product; a row's online-softmax state (running
/// maximum, normaliser, unnormalised output) meets its key tiles in the same ascending order; and
/// in the backward pass dK, dV of a key tile still take their query tiles' contributions one
/// product per query tile, in the same (query head, query tile) order. The walk chosen never
/// changes a number — only the time (see ``BlockMask/TileOrder``).
extension AttentionGeometry {
  /// Rows gathered into one product against a key tile (at least a query tile's rows).
  var rowsPerProduct: Int { Swift.max(queryBlock, 512) }

  /// Whether this call walks by key tile: as the mask asks, or (automatic) when its live tiles
  /// have on average fewer than a quarter of a query tile's rows each. A score bias walks by
  /// query tile (its gradient interleaves query and key contributions in that walk's order).
  func walksByKeyTile(hasBias: Bool) -> Bool {
    if hasBias { return false }
    switch mask.tileOrder {
    case .byQueryTile: return false
    case .byKeyTile: return true
    case .automatic:
      let tiles = mask.tileKey.count
      guard tiles > 0 else { return false }
      let rows = mask.tileRowCount.reduce(0) { $0 + Int($1) }
      return rows * 4 < tiles * queryBlock
    }
  }

  /// The forward pass walked by key tile (no score bias).
  func forwardByKeyTile(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> (Tensor, Tensor) {
    Runtime.prepareBLAS()
    let gemm = GEMMKernel.current  // read here: the worker threads below do not see task-local values
    let (D, Br, Bc, M) = (dimension, queryBlock, keyBlock, rowsPerProduct)
    var results = [Tensor.zeros([batch, time, queryHeads, dimension]), Tensor.zeros([batch, queryHeads, time])]
    Tensor.withScalars(of: [q, k, v]) { inputs in
      Tensor.withMutableScalars(of: &results) { outputs in
        let (qp, kp, vp) = (inputs[0], inputs[1], inputs[2])
        let (op, lp) = (outputs[0], outputs[1])
        mask.masks.withUnsafeBufferPointer { maskBuffer in
          mask.activeRows.withUnsafeBufferPointer { rowBuffer in
            let (masks, activeRows) = (maskBuffer.baseAddress!, rowBuffer.baseAddress!)
            Runtime.parallelFor(batch * queryHeads, grain: 1) { range in
              let scores = UnsafeMutablePointer<Float>.allocate(capacity: M * Bc)
              let gathered = UnsafeMutablePointer<Float>.allocate(capacity: 2 * M * D)
              let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, time))
              let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, time))
              var rows = GatheredRows(capacity: M)
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
                let slice = mask.slice(batch: b, head: hq, queryHeads: queryHeads)
                for t in 0..<time {
                  rowMax[t] = -.infinity
                  rowSum[t] = 0
                }
                let order = mask.tilesByKeyTile(slice: slice)
                for keyTile in 0..<mask.keyTiles {
                  let c0 = keyTile * Bc
                  let cols = min(Bc, keyTime - c0)
                  var next = order.start[keyTile]
                  let end = order.start[keyTile + 1]
                  while next < end {
                    rows.gather(order, from: &next, to: end, limit: M, mask: mask, activeRows: activeRows)
                    let m = rows.count
                    for i in 0..<m {
                      (gathered + i * D).update(from: qHead + Int(rows.row[i]) * queryStride, count: D)
                    }
                    // S = Q K_jᵀ · scale
                    gemm.sgemm(
                      transA: false, transB: true, m: m, n: cols, k: D, alpha: scale, a: gathered, lda: D,
                      b: kHead + c0 * keyStride, ldb: keyStride, beta: 0, c: scores, ldc: cols)
                    for i in 0..<m {
                      let r = Int(rows.row[i])
                      let s = scores + i * cols
                      let tileMask = mask.tileMask[Int(rows.tile[i])]
                      if tileMask >= 0 { maskRow(s, masks + tileMask + Int(rows.local[i]) * cols, cols) }
                      onlineSoftmaxStep(
                        s, cols, max: &rowMax[r], sum: &rowSum[r], output: oHead + r * queryStride,
                        variant: gemm.variant)
                    }
                    // A += P V_j, into a block, then added row by row
                    let product = gathered + M * D
                    gemm.sgemm(
                      transA: false, transB: false, m: m, n: D, k: cols, alpha: 1, a: scores, lda: cols,
                      b: vHead + c0 * keyStride, ldb: keyStride, beta: 0, c: product, ldc: D)
                    for i in 0..<m {
                      let (a, p) = (oHead + Int(rows.row[i]) * queryStride, product + i * D)
                      for d in 0..<D { a[d] += p[d] }
                    }
                  }
                }
                for t in 0..<time {
                  lp[(b * queryHeads + hq) * time + t] = finishRow(
                    oHead + t * queryStride, max: rowMax[t], sum: rowSum[t])
                }
              }
            }
          }
        }
      }
    }
    return (results[0], results[1])
  }

  /// The backward pass walked by key tile (no score bias): per (batch, key/value head), key tile
  /// by key tile, each query head's rows that see it in products of up to ``rowsPerProduct``.
  func backwardByKeyTile(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, logSumExp: Tensor, delta: Tensor, dO: Tensor
  ) -> (Tensor, Tensor, Tensor) {
    let gemm = GEMMKernel.current
    let (D, Bc, M) = (dimension, keyBlock, rowsPerProduct)
    var grads = [Tensor.zeros(q.shape), Tensor.zeros(k.shape), Tensor.zeros(v.shape)]
    Tensor.withScalars(of: [q, k, v, dO, logSumExp, delta]) { inputs in
      Tensor.withMutableScalars(of: &grads) { outputs in
        let (qp, kp, vp, gp, lp, delp) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5])
        let (dqp, dkp, dvp) = (outputs[0], outputs[1], outputs[2])
        mask.masks.withUnsafeBufferPointer { maskBuffer in
          mask.activeRows.withUnsafeBufferPointer { rowBuffer in
            let (masks, activeRows) = (maskBuffer.baseAddress!, rowBuffer.baseAddress!)
            Runtime.parallelFor(batch * heads, grain: 1) { range in
              let p = UnsafeMutablePointer<Float>.allocate(capacity: M * Bc)
              let dp = UnsafeMutablePointer<Float>.allocate(capacity: M * Bc)
              let gathered = UnsafeMutablePointer<Float>.allocate(capacity: 3 * M * D)
              var rows = GatheredRows(capacity: M)
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
                let slices = (0..<group).map { mask.slice(batch: b, head: h * group + $0, queryHeads: queryHeads) }
                let orders = slices.map { mask.tilesByKeyTile(slice: $0) }
                for keyTile in 0..<mask.keyTiles {
                  let c0 = keyTile * Bc
                  let cols = min(Bc, keyTime - c0)
                  for g in 0..<group {
                    let hq = h * group + g
                    let qHead = qp + b * time * queryStride + hq * D
                    let gHead = gp + b * time * queryStride + hq * D
                    let dqHead = dqp + b * time * queryStride + hq * D
                    let lse = lp + (b * queryHeads + hq) * time
                    let del = delp + (b * queryHeads + hq) * time
                    let (slice, order) = (slices[g], orders[g])
                    var next = order.start[keyTile]
                    let end = order.start[keyTile + 1]
                    while next < end {
                      rows.gather(order, from: &next, to: end, limit: M, mask: mask, activeRows: activeRows)
                      let m = rows.count
                      let (queries, outputGrads, product) = (gathered, gathered + M * D, gathered + 2 * M * D)
                      for i in 0..<m {
                        let r = Int(rows.row[i])
                        (queries + i * D).update(from: qHead + r * queryStride, count: D)
                        (outputGrads + i * D).update(from: gHead + r * queryStride, count: D)
                      }
                      // P = exp(Q K_jᵀ · scale − L), masked
                      gemm.sgemm(
                        transA: false, transB: true, m: m, n: cols, k: D, alpha: scale, a: queries, lda: D,
                        b: kHead + c0 * keyStride, ldb: keyStride, beta: 0, c: p, ldc: cols)
                      for i in 0..<m {
                        let r = Int(rows.row[i])
                        let s = p + i * cols
                        let tileMask = mask.tileMask[Int(rows.tile[i])]
                        if tileMask >= 0 { maskRow(s, masks + tileMask + Int(rows.local[i]) * cols, cols) }
                        recomputeProbabilities(s, cols, logSumExp: lse[r], variant: gemm.variant)
                      }
                      // dV_j += Pᵀ dO, one product per query tile (the query-tile walk's sums)
                      for (first, count) in rows.tileSpans {
                        gemm.sgemm(
                          transA: true, transB: false, m: cols, n: D, k: count, alpha: 1, a: p + first * cols,
                          lda: cols, b: outputGrads + first * D, ldb: D, beta: 1, c: dvHead + c0 * keyStride,
                          ldc: keyStride)
                      }
                      // dP = dO V_jᵀ
                      gemm.sgemm(
                        transA: false, transB: true, m: m, n: cols, k: D, alpha: 1, a: outputGrads, lda: D,
                        b: vHead + c0 * keyStride, ldb: keyStride, beta: 0, c: dp, ldc: cols)
                      // dS = P ∘ (dP − Δ)
                      for i in 0..<m {
                        let r = Int(rows.row[i])
                        scoreGradients(
                          p + i * cols, dp + i * cols, cols, delta: del[r],
                          singleKey: mask.visibleKeys(slice: slice, query: r) == 1)
                      }
                      // dQ += dS K_j · scale, into a block, then added row by row
                      gemm.sgemm(
                        transA: false, transB: false, m: m, n: D, k: cols, alpha: scale, a: dp, lda: cols,
                        b: kHead + c0 * keyStride, ldb: keyStride, beta: 0, c: product, ldc: D)
                      for i in 0..<m {
                        let (target, source) = (dqHead + Int(rows.row[i]) * queryStride, product + i * D)
                        for d in 0..<D { target[d] += source[d] }
                      }
                      // dK_j += dSᵀ Q · scale, one product per query tile
                      for (first, count) in rows.tileSpans {
                        gemm.sgemm(
                          transA: true, transB: false, m: cols, n: D, k: count, alpha: scale, a: dp + first * cols,
                          lda: cols, b: queries + first * D, ldb: D, beta: 1, c: dkHead + c0 * keyStride,
                          ldc: keyStride)
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return (grads[0], grads[1], grads[2])
  }
}

/// The query rows gathered for one product against a key tile: per row its index in `0..<time`,
/// its offset in its query tile and its live tile; per query tile, its span of rows.
struct GatheredRows {
  var row: [Int32] = [], local: [Int32] = [], tile: [Int32] = []
  var tileSpans: [(first: Int, count: Int)] = []
  var count: Int { row.count }

  init(capacity: Int) {
    row.reserveCapacity(capacity)
    local.reserveCapacity(capacity)
    tile.reserveCapacity(capacity)
  }

  mutating func removeAll() {
    row.removeAll(keepingCapacity: true)
    local.removeAll(keepingCapacity: true)
    tile.removeAll(keepingCapacity: true)
    tileSpans.removeAll(keepingCapacity: true)
  }

  /// Starts afresh with the rows of `order`'s tiles from `next` on (advancing it, not past `end`),
  /// as many whole tiles as fit in `limit` rows (at least one).
  mutating func gather(
    _ order: (start: [Int], tiles: [Int32], queryTiles: [Int32]), from next: inout Int, to end: Int, limit: Int,
    mask: BlockMask, activeRows: UnsafePointer<Int32>
  ) {
    removeAll()
    while next < end {
      let tile = Int(order.tiles[next]), queryTile = Int(order.queryTiles[next])
      if count > 0 && count + Int(mask.tileRowCount[tile]) > limit { break }
      append(tile: tile, queryTile: queryTile, mask: mask, activeRows: activeRows)
      next += 1
    }
  }

  /// The computed rows of live tile `tile` (of query tile `queryTile`).
  mutating func append(tile: Int, queryTile: Int, mask: BlockMask, activeRows: UnsafePointer<Int32>) {
    let start = mask.tileRowStart[tile], count = Int(mask.tileRowCount[tile])
    let r0 = queryTile * mask.queryBlock
    tileSpans.append((row.count, count))
    for i in 0..<count {
      let r = start < 0 ? i : Int(activeRows[start + i])
      row.append(Int32(r0 + r))
      local.append(Int32(r))
      self.tile.append(Int32(tile))
    }
  }
}

extension BlockMask {
  /// Which order the tiled kernel visits the live tiles in. Both give the same bits; they differ
  /// in time. By query tile suits masks whose live tiles are mostly whole (causal, windows, static
  /// patterns): a query tile's running state stays in cache. By key tile suits dynamic selections
  /// whose live tiles hold a few rows each (MoBA, NSA's selected blocks): a key tile is packed
  /// once for all the rows that see it. Automatic takes by key tile when the live tiles hold
  /// fewer than a quarter of a query tile's rows on average.
  public enum TileOrder: Sendable, Equatable {
    case automatic, byQueryTile, byKeyTile
  }

  /// `slice`'s live tiles grouped by key tile (ascending), each group in ascending query tile:
  /// key tile `j`'s are `tiles[start[j] ..< start[j + 1]]`, of query tiles `queryTiles[…]`.
  func tilesByKeyTile(slice: Int) -> (start: [Int], tiles: [Int32], queryTiles: [Int32]) {
    var start = [Int](repeating: 0, count: keyTiles + 1)
    let first = tileStart[slice * queryTiles], last = tileStart[(slice + 1) * queryTiles]
    for index in first..<last { start[Int(tileKey[index]) + 1] += 1 }
    for j in 0..<keyTiles { start[j + 1] += start[j] }
    var fill = start
    var tiles = [Int32](repeating: 0, count: last - first)
    var queryTileOf = [Int32](repeating: 0, count: last - first)
    for queryTile in 0..<queryTiles {
      for index in self.tiles(slice: slice, queryTile: queryTile) {
        let j = Int(tileKey[index])
        tiles[fill[j]] = Int32(index)
        queryTileOf[fill[j]] = Int32(queryTile)
        fill[j] += 1
      }
    }
    return (start, tiles, queryTileOf)
  }
}
