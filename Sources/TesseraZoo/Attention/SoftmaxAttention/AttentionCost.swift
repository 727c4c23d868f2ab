// Counted FLOPs of the attention cores, for the layers' `cost(batch:time:context:)` (counting
// rules in ``LayerCost``).

import TesseraCore

extension AttentionMask {
  /// What the tiled kernel visits over `time` queries and keys: each block of `queryBlock` query
  /// rows walks whole key tiles of `keyBlock`, from the tile holding the first key the block may
  /// see to the last one (a tile is cut only by the end of the sequence). Returns the (query, key)
  /// scores computed and the (query row, key tile) visits.
  func tiledVisits(time: Int, queryBlock: Int, keyBlock: Int) -> (scores: Int, rowTiles: Int) {
    var scores = 0, rowTiles = 0
    var r0 = 0
    while r0 < time {
      let rows = min(queryBlock, time - r0)
      let keys = keyRange(rows: r0..<(r0 + rows), time: time)
      if !keys.isEmpty {
        let first = keys.lowerBound - keys.lowerBound % keyBlock
        let tiles = (keys.upperBound - first + keyBlock - 1) / keyBlock
        let last = first + (tiles - 1) * keyBlock
        scores += rows * ((tiles - 1) * keyBlock + min(keyBlock, time - last))
        rowTiles += rows * tiles
      }
      r0 += queryBlock
    }
    return (scores, rowTiles)
  }
}

/// FLOPs of softmax attention's core for one (sequence, query head) over `time` queries and keys
/// of head dimension `dimension`, in `form`; `positionBias` adds forgetting attention's
/// `G_t − G_s` to every score.
///
/// - `.reference` materialises the `T × T` scores whatever the mask: `Q Kᵀ` and `P V` (2D each),
///   the scale, the mask's selection (and the bias: its difference and its sum), then a softmax
///   over every row.
/// - `.tiled` computes whole tiles of the keys each query block sees
///   (``AttentionMask/tiledVisits(time:queryBlock:keyBlock:)``): per score `Q Kᵀ` and `P V` (the
///   scale rides on the product), the bias, the running maximum, the shifted exp and the row sum;
///   per query row and key tile the correction `exp(m − m′)`, the new maximum, `ℓ`'s update and
///   the rescaling of the accumulator (D); per query row the division by `ℓ` (D, and the
///   reciprocal) and `L = m + log ℓ`.
func attentionCoreFlops(time: Int, dimension d: Int, mask: AttentionMask, form: Form, positionBias: Bool) -> Int {
  let bias = positionBias ? 2 * FlopCount.arithmetic : 0
  switch form {
  case .tiled(let queryBlock, let keyBlock):
    let (scores, rowTiles) = mask.tiledVisits(time: time, queryBlock: queryBlock, keyBlock: keyBlock)
    let perScore = 4 * d + bias + 3 * FlopCount.arithmetic + FlopCount.transcendental
    let perRowTile = d * FlopCount.arithmetic + FlopCount.transcendental + 4 * FlopCount.arithmetic
    let perRow = (d + 2) * FlopCount.arithmetic + FlopCount.transcendental
    return scores * perScore + rowTiles * perRowTile + time * perRow
  default:
    return time * time * (4 * d + 2 * FlopCount.arithmetic + bias) + FlopCount.softmax(rows: time, width: time)
  }
}
