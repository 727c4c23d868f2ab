import Foundation
import TesseraCore

/// Forgetting attention, the mixer of the Forgetting Transformer (FoX: Lin et al., 2025): softmax
/// attention whose scores are biased by cumulative log forget gates,
///
///     O = softmax(Q Kᵀ / √D + (G_t − G_s) + M) V,     G = cumsum_t(g),  g_t = log f_t ≤ 0
///
/// so a key's weight decays with the forget gates between it and the query. Layout as
/// ``naiveAttention`` (`[B, T, H, D]`), `logDecay` `[B, T, H]`; causal. This is the naive form,
/// `T × T` per head; ``tiledForgettingAttention(_:_:_:logDecay:queryBlock:keyBlock:)`` is its tiled twin.
func naiveForgettingAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, logDecay g: Tensor) -> Tensor {
  checkAttentionShapes(q, k, v, function: "naiveForgettingAttention")
  check(q.shape[2] == k.shape[2], "naiveForgettingAttention: grouped heads are not supported here")
  check(g.shape == Array(q.shape.prefix(3)), "naiveForgettingAttention: logDecay \(g.shape) must be [B, T, H]")
  let (t, d) = (q.shape[1], q.shape[3])
  let qh = q.permuted(0, 2, 1, 3), kh = k.permuted(0, 2, 1, 3), vh = v.permuted(0, 2, 1, 3)  // [B, H, T, D]
  let cumulative = g.cumulativeSum(axis: 1).permuted(0, 2, 1)  // [B, H, T]
  let bias = cumulative.expandingDimensions(at: 3) - cumulative.expandingDimensions(at: 2)  // G_t − G_s
  let scores = matmul(qh, kh.transposed()) * (1 / Float(d).squareRoot()) + bias
  let masked = `where`(Tensor.ones([t, t]).lowerTriangle(), scores, -Float.infinity)
  return matmul(masked.softmax(), vh).permuted(0, 2, 1, 3)
}

/// Forgetting attention computed in tiles (Lin et al., 2025, whose kernel extends FlashAttention):
/// the tiled kernel of ``tiledAttention(_:_:_:mask:scale:queryBlock:keyBlock:)`` with the score
/// bias `G_t − G_s` added per tile, so memory stays `O(T)`. The gradient of `G` comes from the
/// same tiles (`dG_t += Σ_s dS_ts`, `dG_s −= Σ_t dS_ts`) and flows back through the cumulative sum
/// to `logDecay`. Grouped heads are allowed (`logDecay` per query head `[B, T, HQ]`).
func tiledForgettingAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, logDecay g: Tensor, queryBlock: Int = 128, keyBlock: Int = 128
) -> Tensor {
  checkAttentionShapes(q, k, v, function: "tiledForgettingAttention")
  check(
    g.shape == Array(q.shape.prefix(3)) && k.shape[1] == q.shape[1],
    "tiledForgettingAttention: logDecay \(g.shape) must be [B, T, HQ] = \(Array(q.shape.prefix(3))), keys as long as queries"
  )
  let cumulative = g.cumulativeSum(axis: 1).permuted(0, 2, 1)  // G [B, HQ, T]
  let mask = BlockMask(.causal, time: q.shape[1], queryBlock: queryBlock, keyBlock: keyBlock)
  return tiledAttentionKernel(
    q, k, v, blockMask: mask, scale: nil, positionBias: cumulative, function: "tiledForgettingAttention")
}

/// The forms of ``forgettingAttention(_:_:_:logDecay:form:)``.
public let forgettingAttentionForms: [Form] = [.reference, .tiled(queryBlock: 128, keyBlock: 128)]

/// Forgetting attention in `form`: `.reference` (``naiveForgettingAttention``) or
/// `.tiled(queryBlock:keyBlock:)` (``tiledForgettingAttention``). q, k, v `[B, T, H, D]`,
/// `logDecay` `[B, T, H]` → `[B, T, H, D]`.
public func forgettingAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, logDecay g: Tensor, form: Form = .tiled(queryBlock: 128, keyBlock: 128)
) -> Tensor {
  switch form {
  case .reference: return naiveForgettingAttention(q, k, v, logDecay: g)
  case .tiled(let queryBlock, let keyBlock):
    return tiledForgettingAttention(q, k, v, logDecay: g, queryBlock: queryBlock, keyBlock: keyBlock)
  default: checkFailed("forgettingAttention: no \(form) form; the forms are \(forgettingAttentionForms)")
  }
}
