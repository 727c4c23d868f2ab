import TesseraCore
import TesseraNN

/// A causal attention layer whose pattern is chosen from the content (top-k, MoBA): the
/// projections of ``MultiHeadAttention`` around a selecting core. Each forward pass records the
/// statistic `attended_key_fraction` (kept (query, key) pairs ÷ causally visible ones) and keeps
/// the counted FLOPs of its core for the decisions taken, which ``cost(batch:time:context:)``
/// reports for that shape; before any pass of a shape it reports the dense causal bound.
public class DynamicPatternAttentionLayer: MultiHeadAttention {
  /// The counted core FLOPs of the last forward pass, with its shape.
  public internal(set) var lastDecisions: (batch: Int, time: Int, coreFlops: Int)?

  /// The selecting core: subclasses run their op.
  func select(_ q: Tensor, _ k: Tensor, _ v: Tensor, form: Form) -> SparseAttentionOutput {
    checkFailed("DynamicPatternAttentionLayer.select must be overridden")
  }

  /// FLOPs of choosing the pattern for `batch` sequences of `time` queries over `keyTime` keys.
  func selectionFlops(batch: Int, time: Int, keyTime: Int) -> Int { 0 }

  override func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask, form: Form)
    -> (output: Tensor, attendedFraction: Double?)
  {
    let (b, t, s) = (q.shape[0], q.shape[1], k.shape[1])
    let result = select(q, k, v, form: form)
    let kept: Int
    let attention: Int
    if let blockMask = result.blockMask {
      kept = blockMask.visits.attended * blockMask.headCopies(batch: b, queryHeads: queryHeads)
      attention = tiledCoreFlops(blockMask, batch: b, queryHeads: queryHeads, dimension: headDimension)
    } else {
      let chosen = result.selection
      var total = 0
      for batch in 0..<chosen.batch {
        for head in 0..<chosen.heads {
          for query in 0..<chosen.time { total += selectedKeys(chosen, batch, head, query, keyTime: s) }
        }
      }
      kept = total * queryHeads / chosen.heads
      attention =
        b * queryHeads
        * attentionCoreFlops(time: t, dimension: headDimension, mask: .causal, form: .reference, positionBias: false)
    }
    if t > 1 || s == 1 {
      lastDecisions = (b, t, attention + selectionFlops(batch: b, time: t, keyTime: s))
    }
    let causal = causalPairs(time: t, keyTime: s)
    return (result.output, Double(kept) / Double(max(1, causal * b * queryHeads)))
  }

  /// Keys a selection entry stands for (subclasses with block selections override).
  func selectedKeys(_ selection: KeySelection, _ b: Int, _ h: Int, _ t: Int, keyTime: Int) -> Int {
    selection.chosen(b, h, t).count
  }

  override func coreFlops(batch: Int, time: Int, mask: AttentionMask) -> Int {
    if let last = lastDecisions, last.batch == batch, last.time == time { return last.coreFlops }
    return super.coreFlops(batch: batch, time: time, mask: .causal)
      + selectionFlops(batch: batch, time: time, keyTime: time)
  }

  func forward(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let result = forward(x, mask: mask)
    if let fraction = result.attendedFraction { context.record("attended_key_fraction", [fraction]) }
    return result.output
  }
}
