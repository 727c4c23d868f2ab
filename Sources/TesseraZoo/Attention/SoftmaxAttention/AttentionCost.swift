// Counted FLOPs of the attention cores, for the layers' `cost(batch:time:context:)` (counting
// rules in ``LayerCost``).

import TesseraCore

/// FLOPs of softmax attention's core for one (sequence, query head) over `time` queries and keys
/// of head dimension `dimension`, in `form`; `positionBias` adds forgetting attention's
/// `G_t − G_s` to every score.
///
/// - `.reference` materialises the `T × T` scores whatever the mask: `Q Kᵀ` and `P V` (2D each),
///   the scale, the mask's selection (and the bias: its difference and its sum), then a softmax
///   over every row.
/// - `.tiled` computes whole tiles of the keys each query block sees
///   (the live tiles of the ``BlockMask`` the mask compiles to): per score `Q Kᵀ` and `P V` (the
///   scale rides on the product), the bias, the running maximum, the shifted exp and the row sum;
///   per query row and key tile the correction `exp(m − m′)`, the new maximum, `ℓ`'s update and
///   the rescaling of the accumulator (D); per query row the division by `ℓ` (D, and the
///   reciprocal) and `L = m + log ℓ`.
public func attentionCoreFlops(time: Int, dimension d: Int, mask: AttentionMask, form: Form, positionBias: Bool) -> Int
{
  let bias = positionBias ? 2 * FlopCount.arithmetic : 0
  switch form {
  case .tiled(let queryBlock, let keyBlock):
    let visits = BlockMask(mask, time: time, queryBlock: queryBlock, keyBlock: keyBlock).visits
    return tiledCoreFlops(visits, time: time, dimension: d, positionBias: positionBias)
  default:
    return time * time * (4 * d + 2 * FlopCount.arithmetic + bias) + FlopCount.softmax(rows: time, width: time)
  }
}

/// FLOPs of the tiled kernel under `mask` over `batch` sequences of `queryHeads` heads of
/// `dimension`: the live tiles of its slices, each counted for every (batch, head) it stands for.
func tiledCoreFlops(_ mask: BlockMask, batch: Int, queryHeads: Int, dimension: Int) -> Int {
  tiledCoreFlops(mask.visits, time: mask.time * mask.slices, dimension: dimension, positionBias: false)
    * mask.headCopies(batch: batch, queryHeads: queryHeads)
}

/// FLOPs of the tiled kernel over the live tiles `visits` of one (sequence, query head) — or of
/// several, summed — with `time` query rows per head counted in `visits`' slices.
func tiledCoreFlops(_ visits: BlockMask.Visits, time: Int, dimension d: Int, positionBias: Bool) -> Int {
  let bias = positionBias ? 2 * FlopCount.arithmetic : 0
  let (scores, rowTiles) = (visits.scores, visits.rowTiles)
  let perScore = 4 * d + bias + 3 * FlopCount.arithmetic + FlopCount.transcendental
  let perRowTile = d * FlopCount.arithmetic + FlopCount.transcendental + 4 * FlopCount.arithmetic
  let perRow = (d + 2) * FlopCount.arithmetic + FlopCount.transcendental
  return scores * perScore + rowTiles * perRowTile + time * perRow
}
