import TesseraCore

/// The forms of the sparse attention layers: the dense-mask reference and the block-sparse
/// kernel on 64 × 64 tiles.
public let sparseAttentionForms: [Form] = [.reference, .tiled(queryBlock: 64, keyBlock: 64)]

/// Attention under a static pattern in `form`, with the fraction of causally visible (query,
/// key) pairs the pattern keeps: `.reference` applies the dense mask (``maskedAttention``),
/// `.tiled` compiles the pattern to a ``BlockMask`` once and runs the block-sparse kernel.
/// Layout as ``naiveAttention`` (queries at the end of the keys when `S > T`).
public func staticPatternAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask, scale: Float? = nil, form: Form
) -> (output: Tensor, attendedFraction: Double) {
  let (t, s) = (q.shape[1], k.shape[1])
  switch form {
  case .tiled(let queryBlock, let keyBlock):
    let blockMask = BlockMask(mask, time: t, keyTime: s, queryBlock: queryBlock, keyBlock: keyBlock)
    return (blockSparseAttention(q, k, v, mask: blockMask, scale: scale), blockMask.attendedFraction)
  case .reference:
    let dense = mask.dense(time: t, keyTime: s)
    let causal = causalPairs(time: t, keyTime: s)
    let fraction = causal == 0 ? 0 : Double(dense.reduce(0, +)) / Double(causal)
    return (maskedAttention(q, k, v, allowed: Tensor(dense, shape: [t, s]), scale: scale), fraction)
  default: checkFailed("staticPatternAttention: no \(form) form; the forms are \(sparseAttentionForms)")
  }
}

/// A causal attention layer over a static sparse pattern: the projections of
/// ``MultiHeadAttention``, the pattern's block-sparse core, the attended-key fraction recorded
/// as the statistic `attended_key_fraction`.
public class StaticPatternAttentionLayer: MultiHeadAttention {
  override func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask, form: Form)
    -> (output: Tensor, attendedFraction: Double?)
  {
    let result = staticPatternAttention(q, k, v, mask: mask, form: form)
    return (result.output, result.attendedFraction)
  }

  func forward(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let result = forward(x, mask: mask)
    if let fraction = result.attendedFraction { context.record("attended_key_fraction", [fraction]) }
    return result.output
  }
}
