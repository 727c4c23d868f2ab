import Foundation
import TesseraCore

/// MoBA, mixture of block attention (Lu et al., "MoBA: Mixture of Block Attention for
/// Long-Context LLMs", 2025): the keys are cut into blocks of `block` (the last may be partial);
/// query `t` in block `i = t / block` attends causally to its own block plus the `topK − 1` past
/// blocks `j < i` with the largest gate
///
///     g_tj = q_t · mean(k over block j)        (unscaled; all past blocks when i < topK)
///
/// (ties to the lower block), then `O_t = softmax(q_t K_Sᵀ · scale) V_S` over the keys `s ≤ t`
/// of the chosen blocks. No gradient flows through the gate. With grouped heads a query head uses
/// its key/value head's block means. Layout as ``naiveAttention`` (queries at the end of the
/// keys when `S > T`).
///
/// Forms: `.reference` (gates from materialised tensors, dense mask, ``maskedAttention``) and
/// `.tiled(queryBlock:keyBlock:)` (gates by one product per head against the block means, then
/// the block-sparse kernel on the chosen blocks' tiles).
public func mixtureOfBlockAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, block: Int, topK: Int, scale: Float? = nil,
  form: Form = .tiled(queryBlock: 64, keyBlock: 64)
) -> Tensor {
  mixtureOfBlockAttentionWithSelection(q, k, v, block: block, topK: topK, scale: scale, form: form).output
}

/// ``mixtureOfBlockAttention(_:_:_:block:topK:scale:form:)`` and the blocks each query chose,
/// `[B, HQ, T, topK]` ascending (own block included, −1 padding).
public func mixtureOfBlockAttentionWithSelection(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, block: Int, topK: Int, scale: Float? = nil,
  form: Form = .tiled(queryBlock: 64, keyBlock: 64)
) -> SparseAttentionOutput {
  checkAttentionShapes(q, k, v, function: "mixtureOfBlockAttention")
  check(block >= 1 && topK >= 1, "mixtureOfBlockAttention: block and topK must be at least 1, got \(block), \(topK)")
  let (t, s) = (q.shape[1], k.shape[1])
  let offset = s - t
  let selection = withoutGradients { mobaSelection(q, k, block: block, topK: topK) }
  let keys = { (id: Int) in (id * block)..<min(s, (id + 1) * block) }
  switch form {
  case .reference:
    // The chosen blocks, then the causal limit s ≤ t.
    let chosen = selection.denseMask(keyTime: s, keys: keys)
    let causal = Tensor(AttentionMask.causal.dense(time: t, keyTime: s), shape: [t, s])
    let output = maskedAttention(q, k, v, allowed: chosen * causal, scale: scale)
    return SparseAttentionOutput(output: output, selection: selection, blockMask: nil)
  case .tiled(let queryBlock, let keyBlock):
    let mask = selection.blockMask(
      keyTime: s, queryBlock: queryBlock, keyBlock: keyBlock, keys: keys, limit: { $0 + offset + 1 })
    return SparseAttentionOutput(
      output: blockSparseAttention(q, k, v, mask: mask, scale: scale), selection: selection, blockMask: mask)
  default: checkFailed("mixtureOfBlockAttention: no \(form) form; the forms are \(mobaForms)")
  }
}

/// The forms of ``mixtureOfBlockAttention(_:_:_:block:topK:scale:form:)``.
public let mobaForms: [Form] = [.reference, .tiled(queryBlock: 64, keyBlock: 64)]

/// MoBA's gate: for every query head and query, its own block and the `topK − 1` past blocks
/// with the largest `q_t · mean(k_j)` (ties to the lower block). Block means of each key/value
/// head, then per query head and chunk of queries one product `Q · Meansᵀ` into a buffer of the
/// thread's (no `[B, HQ, T, blocks]` tensor: 268 MB at T 32k, 8 heads, blocks of 128).
func mobaSelection(_ q: Tensor, _ k: Tensor, block: Int, topK: Int) -> KeySelection {
  let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (s, h) = (k.shape[1], k.shape[2])
  let offset = s - t
  let blocks = (s + block - 1) / block
  let means = blockMeans(k, block: block).contiguous()  // [B, NB, H, D]
  let queries = q.contiguous()
  let group = hq / h
  let chunk = 256
  let gemm = GEMMKernel.current  // read here: the worker threads below do not see task-local values
  var selection = KeySelection(batch: b, heads: hq, time: t, width: topK)
  // Each (batch, head) on its own: its queries' ids are its own stretch of `ids`.
  Tensor.withScalars(of: [queries, means]) { inputs in
    let (qp, mp) = (inputs[0], inputs[1])
    selection.ids.withUnsafeMutableBufferPointer { ids in
      Runtime.parallelFor(b * hq, grain: 1) { range in
        var best = [Int](repeating: 0, count: topK)
        let gates = UnsafeMutablePointer<Float>.allocate(capacity: chunk * Swift.max(1, blocks))
        defer { gates.deallocate() }
        for slice in range {
          let (batch, head) = (slice / hq, slice % hq)
          let qHead = qp + (batch * t * hq + head) * d
          let mHead = mp + (batch * blocks * h + head / group) * d
          for first in stride(from: 0, to: t, by: chunk) {
            let rows = Swift.min(chunk, t - first)
            gemm.sgemm(
              transA: false, transB: true, m: rows, n: blocks, k: d, a: qHead + first * hq * d, lda: hq * d,
              b: mHead, ldb: h * d, c: gates, ldc: blocks)
            for i in 0..<rows {
              let query = first + i
              let own = (query + offset) / block
              let row = gates + i * blocks
              let kept = bestDescending(0..<own, count: topK - 1, into: &best) { row[$0] }
              best[kept] = own
              KeySelection.store(best[0...kept], into: ids, at: (slice * t + query) * topK)
            }
          }
        }
      }
    }
  }
  return selection
}

/// The mean of `x` `[B, T, H, D]` over blocks of `block` steps along time, `[B, ⌈T/block⌉, H, D]`
/// (the last block's mean over its own length). Differentiable.
public func blockMeans(_ x: Tensor, block: Int) -> Tensor {
  let (b, t, h, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let blocks = (t + block - 1) / block
  let padded = blocks * block == t ? x : x.padded(axis: 1, before: 0, after: blocks * block - t)
  let sums = padded.reshaped(b, blocks, block, h, d).sum(axis: 2)
  let inverse = (0..<blocks).map { 1 / Float(min(block, t - $0 * block)) }
  return sums * Tensor(inverse, shape: [1, blocks, 1, 1])
}
