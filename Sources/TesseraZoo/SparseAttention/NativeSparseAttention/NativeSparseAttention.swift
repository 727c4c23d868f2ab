import Foundation
import TesseraCore

/// Native Sparse Attention (Yuan et al., "Native Sparse Attention: Hardware-Aligned and Natively
/// Trainable Sparse Attention", 2025), in the semantics of flash-linear-attention's `naive_nsa`:
/// three branches over the same queries, mixed by gates,
///
///     o = g_cmp ⊙ o_cmp + g_slc ⊙ o_slc + g_swa ⊙ o_swa
///
/// - **compressed**: keys and values mean-pooled over blocks of `block` (the paper's learned
///   compressor replaced by the mean, as in the reference, unless `compressor` is given: a map
///   from `[B, S, H, D]` to one vector per block, `[B, ⌈S/block⌉, H, D]`, e.g. the learned
///   ``BlockCompressor``); query `t` attends the complete blocks `c` with `(c + 1)·block − 1 ≤ t`
///   (none: `o_cmp = 0`);
/// - **selected**: block `c`'s importance for (t, key/value head) is the compressed softmax
///   probability of `c` averaged over the head's query group; blocks 0, `t / block` and
///   `t / block − 1` are forced, then the best of the complete blocks fill `selectedBlocks`
///   (ties to the lower block); query `t` attends those blocks' keys `s ≤ t`. The selection is a
///   decision: no gradient flows through it;
/// - **sliding**: the last `window` keys.
///
/// q `[B, T, HQ, D]`, k and v `[B, S, H, D]` (grouped heads: query head `i` reads head
/// `i / (HQ / H)`; queries at the end of the keys when `S > T`), gates `[B, T, HQ]` (values,
/// already squashed) → o `[B, T, HQ, D]` and the selected blocks `[B, T, H, selectedBlocks]`
/// (ascending, −1 padding). Every branch runs in `form`: `.reference` (dense masks,
/// ``maskedAttention``) or `.tiled` (the block-sparse kernel: no tile outside a branch's pattern
/// is computed).
public func nativeSparseAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, compressedGate: Tensor, selectedGate: Tensor, windowGate: Tensor,
  block: Int, selectedBlocks: Int, window: Int, scale: Float? = nil, form: Form = .tiled(queryBlock: 64, keyBlock: 64),
  compressor: ((_ keysOrValues: Tensor, _ isKeys: Bool) -> Tensor)? = nil
) -> NativeSparseAttentionOutput {
  checkAttentionShapes(q, k, v, function: "nativeSparseAttention")
  let (b, t, hq, _) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let s = k.shape[1]
  for (name, gate) in [("compressedGate", compressedGate), ("selectedGate", selectedGate), ("windowGate", windowGate)] {
    check(
      gate.shape == [b, t, hq], "nativeSparseAttention: \(name) \(gate.shape) must be [B, T, HQ] = [\(b), \(t), \(hq)]")
  }
  check(
    block >= 1 && selectedBlocks >= 1 && window >= 1,
    "nativeSparseAttention: block, selectedBlocks and window must be at least 1")
  if case .tiled = form {
  } else if form != .reference {
    checkFailed("nativeSparseAttention: no \(form) form; the forms are \(nsaForms)")
  }
  let offset = s - t
  let blocks = (s + block - 1) / block
  // Compressed branch: query t (position t + offset) sees the blocks that end at or before it.
  let compress = compressor ?? { x, _ in blockMeans(x, block: block) }
  let compressedKeys = compress(k, true), compressedValues = compress(v, false)
  check(
    compressedKeys.shape == [b, blocks, k.shape[2], k.shape[3]] && compressedValues.shape == compressedKeys.shape,
    "nativeSparseAttention: the compressor must give [B, ⌈S/block⌉, H, D] = [\(b), \(blocks), \(k.shape[2]), \(k.shape[3])], "
      + "got \(compressedKeys.shape) and \(compressedValues.shape)")
  let complete = { (query: Int) in (query + offset + 1) / block }  // blocks 0..<complete(query)
  let compressedOutput: Tensor
  var masks: [BlockMask] = []
  switch form {
  case .tiled(let queryBlock, let keyBlock):
    let mask = BlockMask(
      time: t, keyTime: blocks, queryBlock: queryBlock, keyBlock: keyBlock, sliceBatches: 1, sliceHeads: 1
    ) { _, query in [0..<complete(query)] }
    masks.append(mask)
    compressedOutput = blockSparseAttention(q, compressedKeys, compressedValues, mask: mask, scale: scale)
  default:
    var allowed = [Float](repeating: 0, count: t * blocks)
    for query in 0..<t { for c in 0..<min(blocks, complete(query)) { allowed[query * blocks + c] = 1 } }
    compressedOutput = maskedAttention(
      q, compressedKeys, compressedValues, allowed: Tensor(allowed, shape: [t, blocks]), scale: scale)
  }
  // Selection from the compressed probabilities, shared by a key/value head's query group.
  let selection = withoutGradients {
    nsaSelection(q, compressedKeys, block: block, selectedBlocks: selectedBlocks, offset: offset, scale: scale)
  }
  let blockKeys = { (id: Int) in (id * block)..<min(s, (id + 1) * block) }
  let selectedOutput: Tensor
  let windowOutput: Tensor
  switch form {
  case .tiled(let queryBlock, let keyBlock):
    let mask = selection.blockMask(
      keyTime: s, queryBlock: queryBlock, keyBlock: keyBlock, keys: blockKeys, limit: { $0 + offset + 1 })
    selectedOutput = blockSparseAttention(q, k, v, mask: mask, scale: scale)
    let windowMask = BlockMask(
      .slidingWindow(window), time: t, keyTime: s, queryBlock: queryBlock, keyBlock: keyBlock)
    windowOutput = blockSparseAttention(q, k, v, mask: windowMask, scale: scale)
    masks += [mask, windowMask]
  default:
    let causal = Tensor(AttentionMask.causal.dense(time: t, keyTime: s), shape: [t, s])
    let chosen = selection.denseMask(keyTime: s, queryHeads: hq, keys: blockKeys)
    selectedOutput = maskedAttention(q, k, v, allowed: chosen * causal, scale: scale)
    windowOutput = attention(q, k, v, mask: .slidingWindow(window), scale: scale, form: .reference)
  }
  let gate = { (g: Tensor) in g.expandingDimensions(at: 3) }
  let output =
    gate(compressedGate) * compressedOutput + gate(selectedGate) * selectedOutput + gate(windowGate) * windowOutput
  return NativeSparseAttentionOutput(output: output, selection: selection, blockMasks: masks)
}

/// NSA's output, its selected blocks `[B, H, T, selectedBlocks]`, and in the tiled form the
/// block masks of the compressed, selected and sliding branches (their live tiles are the
/// counted cost).
public struct NativeSparseAttentionOutput {
  public var output: Tensor
  public var selection: KeySelection
  public var blockMasks: [BlockMask]
}

/// The forms of ``nativeSparseAttention(_:_:_:compressedGate:selectedGate:windowGate:block:selectedBlocks:window:scale:form:)``.
public let nsaForms: [Form] = [.reference, .tiled(queryBlock: 64, keyBlock: 64)]

/// NSA's block selection, `[B, H, T, selectedBlocks]` over key/value heads: the compressed
/// attention probabilities (complete blocks only) averaged over each head's query group give
/// every block's importance; blocks 0, own and previous are forced, the rest by importance
/// (ties to the lower block) among the complete blocks.
func nsaSelection(
  _ q: Tensor, _ compressedKeys: Tensor, block: Int, selectedBlocks: Int, offset: Int, scale: Float?
) -> KeySelection {
  let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (blocks, h) = (compressedKeys.shape[1], compressedKeys.shape[2])
  let group = hq / h
  let queries = q.permuted(0, 2, 1, 3).reshaped(b, h, group, t, d)
  let keys = compressedKeys.permuted(0, 2, 1, 3).expandingDimensions(at: 2)
  let scores = matmul(queries, keys.transposed()) * (scale ?? 1 / Float(d).squareRoot())  // [B, H, G, T, NB]
  var selection = KeySelection(batch: b, heads: h, time: t, width: selectedBlocks)
  // Each (batch, key/value head) on its own: its queries' ids are its own stretch of `ids`.
  scores.withScalars { scores in
    selection.ids.withUnsafeMutableBufferPointer { ids in
      Runtime.parallelFor(b * h, grain: 1) { range in
        var importance = [Float](repeating: 0, count: blocks)
        var p = [Float](repeating: 0, count: blocks)
        var chosen = [Int](repeating: 0, count: selectedBlocks + 3)
        var best = [Int](repeating: 0, count: selectedBlocks)
        for slice in range {
          for query in 0..<t {
            let position = query + offset
            let complete = min(blocks, (position + 1) / block)
            for c in 0..<blocks { importance[c] = 0 }
            if complete > 0 {
              for g in 0..<group {
                let row = scores.baseAddress! + ((slice * group + g) * t + query) * blocks
                var m = -Float.infinity
                for c in 0..<complete { m = max(m, row[c]) }
                var sum: Float = 0
                for c in 0..<complete {
                  p[c] = Foundation.exp(row[c] - m)
                  sum += p[c]
                }
                for c in 0..<complete { importance[c] += p[c] / sum / Float(group) }
              }
            }
            // Forced: block 0, the own block and the one before (each once), then the best others.
            let own = position / block
            var forced = 0
            for c in [0, own, own - 1] where c >= 0 && !chosen[0..<forced].contains(c) {
              chosen[forced] = c
              forced += 1
            }
            let taken = min(forced, selectedBlocks)
            let ranked = bestDescending(
              (0..<complete).lazy.filter { !chosen[0..<forced].contains($0) }, count: selectedBlocks - taken,
              into: &best
            ) { importance[$0] }
            KeySelection.store(
              chosen[0..<taken] + best[0..<ranked], into: ids, at: (slice * t + query) * selectedBlocks)
          }
        }
      }
    }
  }
  return selection
}
