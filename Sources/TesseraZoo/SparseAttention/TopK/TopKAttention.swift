import Foundation
import TesseraCore

/// Exact top-k attention (as in Gupta et al., "Memory-efficient Transformers via Top-k
/// Attention", 2021): each query keeps its `topK` largest scores among the keys it may see
/// (causal: `s ≤ t`; ties go to the lower key index) and attends over those alone,
///
///     O_t = softmax(q_t K_Sᵀ · scale) V_S,     S = top-k of { q_t · k_s · scale : s ≤ t }
///
/// The selection is a decision: gradients flow through the kept scores only. Layout as
/// ``naiveAttention``: q `[B, T, HQ, D]`, k and v `[B, S, H, D]` (queries at the end of the keys,
/// `S ≥ T`, when decoding with a cache) → `[B, T, HQ, D]`.
///
/// Forms: `.reference` selects from the materialised score matrix and applies the dense mask
/// (``maskedAttention(_:_:_:allowed:scale:)``); `.tiled(queryBlock:keyBlock:)` selects tile by
/// tile and runs the block-sparse kernel on the selected keys' tiles (``blockSparseAttention``).
/// Selecting needs every score either way; the saving is in the softmax, `P V` and the backward.
public func topKAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, topK: Int, scale: Float? = nil,
  form: Form = .tiled(queryBlock: 64, keyBlock: 64)
) -> Tensor {
  topKAttentionWithSelection(q, k, v, topK: topK, scale: scale, form: form).output
}

/// ``topKAttention(_:_:_:topK:scale:form:)`` and the keys each query kept, `[B, HQ, T, topK]`
/// ascending (−1 pads a query that sees fewer than `topK` keys).
public func topKAttentionWithSelection(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, topK: Int, scale: Float? = nil,
  form: Form = .tiled(queryBlock: 64, keyBlock: 64)
) -> SparseAttentionOutput {
  checkAttentionShapes(q, k, v, function: "topKAttention")
  check(topK >= 1, "topKAttention: topK must be at least 1, got \(topK)")
  let scale = scale ?? 1 / Float(q.shape[3]).squareRoot()
  switch form {
  case .reference:
    let selection = withoutGradients { referenceTopKSelection(q, k, topK: topK, scale: scale) }
    let output = maskedAttention(q, k, v, allowed: selection.denseMask(keyTime: k.shape[1]), scale: scale)
    return SparseAttentionOutput(output: output, selection: selection, blockMask: nil)
  case .tiled(let queryBlock, let keyBlock):
    let selection = withoutGradients { tiledTopKSelection(q, k, topK: topK, scale: scale, queryBlock: queryBlock) }
    let mask = selection.blockMask(keyTime: k.shape[1], queryBlock: queryBlock, keyBlock: keyBlock) { key in
      key..<(key + 1)
    }
    return SparseAttentionOutput(
      output: blockSparseAttention(q, k, v, mask: mask, scale: scale), selection: selection, blockMask: mask)
  default: checkFailed("topKAttention: no \(form) form; the forms are \(topKAttentionForms)")
  }
}

/// The forms of ``topKAttention(_:_:_:topK:scale:form:)``.
public let topKAttentionForms: [Form] = [.reference, .tiled(queryBlock: 64, keyBlock: 64)]

/// A dynamic sparse pattern's output and what it chose: the selection, and in the tiled form the
/// block mask the kernel ran (its live tiles are the counted cost).
public struct SparseAttentionOutput {
  public var output: Tensor
  public var selection: KeySelection
  public var blockMask: BlockMask?
}

/// What a dynamic sparse pattern chose: per batch, head and query, up to `width` ids (keys or
/// key blocks), ascending, −1 padding — `[batch, heads, time, width]`.
public struct KeySelection: Sendable, Equatable {
  public let batch: Int, heads: Int, time: Int, width: Int
  public var ids: [Int32]

  public init(batch: Int, heads: Int, time: Int, width: Int, ids: [Int32]? = nil) {
    (self.batch, self.heads, self.time, self.width) = (batch, heads, time, width)
    self.ids = ids ?? [Int32](repeating: -1, count: batch * heads * time * width)
  }

  /// The chosen ids of (b, h, t), ascending, without padding.
  public func chosen(_ b: Int, _ h: Int, _ t: Int) -> [Int] {
    let base = ((b * heads + h) * time + t) * width
    return ids[base..<(base + width)].filter { $0 >= 0 }.map(Int.init)
  }

  mutating func set(_ b: Int, _ h: Int, _ t: Int, _ chosen: [Int]) {
    let base = ((b * heads + h) * time + t) * width
    ids.withUnsafeMutableBufferPointer { Self.store(chosen, into: $0, at: base) }
  }

  /// Writes one query's chosen ids, ascending, at `base` of a selection's `ids` (for threads that
  /// each fill their own queries).
  static func store<C: Collection<Int>>(_ chosen: C, into ids: UnsafeMutableBufferPointer<Int32>, at base: Int) {
    for (i, id) in chosen.sorted().enumerated() { ids[base + i] = Int32(id) }
  }

  /// The ids as a float tensor `[B, heads, T, width]` (−1 padding), as golden files store them.
  public var tensor: Tensor { Tensor(ids.map(Float.init), shape: [batch, heads, time, width]) }

  /// The keys a query sees, given the key range each chosen id stands for (a key: `s..<s+1`; a
  /// block of keys, clipped to the query's causal limit by the caller's closure).
  func blockMask(
    keyTime: Int, queryBlock: Int, keyBlock: Int, keys: (_ id: Int) -> Range<Int>,
    limit: ((_ query: Int) -> Int)? = nil
  ) -> BlockMask {
    ids.withUnsafeBufferPointer { ids in
      BlockMask(
        time: time, keyTime: keyTime, queryBlock: queryBlock, keyBlock: keyBlock, sliceBatches: batch,
        sliceHeads: heads
      ) { slice, t, ranges in
        let end = limit?(t) ?? keyTime
        let base = (slice * time + t) * width
        for i in 0..<width where ids[base + i] >= 0 {
          let r = keys(Int(ids[base + i]))
          ranges.append(r.lowerBound..<max(r.lowerBound, min(r.upperBound, end)))
        }
      }
    }
  }

  /// The dense 0/1 mask of single-key ids, `[B, HQ, T, S]` for `queryHeads` query heads reading
  /// head `hq / (HQ / heads)`.
  func denseMask(keyTime: Int, queryHeads: Int? = nil, keys: (_ id: Int) -> Range<Int> = { $0..<($0 + 1) })
    -> Tensor
  {
    let hq = queryHeads ?? heads
    var allowed = [Float](repeating: 0, count: batch * hq * time * keyTime)
    for b in 0..<batch {
      for head in 0..<hq {
        for t in 0..<time {
          let row = ((b * hq + head) * time + t) * keyTime
          for id in chosen(b, head / (hq / heads), t) {
            for s in keys(id).clamped(to: 0..<keyTime) { allowed[row + s] = 1 }
          }
        }
      }
    }
    return Tensor(allowed, shape: [batch, hq, time, keyTime])
  }
}

/// The top-k keys of every query from the materialised scores `[B, HQ, T, S]`, by sorting each
/// row (score descending, then key ascending) — the specification.
func referenceTopKSelection(_ q: Tensor, _ k: Tensor, topK: Int, scale: Float) -> KeySelection {
  let (b, t, hq, _) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (s, h) = (k.shape[1], k.shape[2])
  let keys = k.permuted(0, 2, 1, 3).expandingDimensions(at: 2)  // [B, H, 1, S, D]
  let queries = q.permuted(0, 2, 1, 3).reshaped(b, h, hq / h, t, q.shape[3])
  let scores = (matmul(queries, keys.transposed()) * scale).scalars  // [B, H, G, T, S] = [B, HQ, T, S]
  var selection = KeySelection(batch: b, heads: hq, time: t, width: topK)
  for batch in 0..<b {
    for head in 0..<hq {
      for query in 0..<t {
        let row = ((batch * hq + head) * t + query) * s
        let visible = 0...(query + s - t)
        let ranked = rankedDescending(visible) { scores[row + $0] }
        selection.set(batch, head, query, Array(ranked.prefix(topK)))
      }
    }
  }
  return selection
}

/// The top-k keys of every query, computed tile by tile: for each block of `queryBlock` queries,
/// one product against the keys they may see; per row, the k-th largest score `v` by selection
/// (linear time), then the keys above `v` and, in key order, as many keys equal to `v` as fill `k`
/// (so ties go to the lower index, as a stable sort would choose).
func tiledTopKSelection(_ q: Tensor, _ k: Tensor, topK: Int, scale: Float, queryBlock: Int) -> KeySelection {
  let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (s, h) = (k.shape[1], k.shape[2])
  let offset = s - t
  var ids = [Int32](repeating: -1, count: b * hq * t * topK)
  let (qc, kc) = (q.contiguous(), k.contiguous())
  let gemm = GEMMKernel.current
  Tensor.withScalars(of: [qc, kc]) { inputs in
    ids.withUnsafeMutableBufferPointer { out in
      let (qp, kp, idp) = (inputs[0], inputs[1], out.baseAddress!)
      Runtime.parallelFor(b * hq, grain: 1) { range in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * s)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: s)
        defer {
          scores.deallocate()
          scratch.deallocate()
        }
        for pair in range {
          let (batch, head) = (pair / hq, pair % hq)
          let qHead = qp + batch * t * hq * d + head * d
          let kHead = kp + batch * s * h * d + (head / (hq / h)) * d
          var r0 = 0
          while r0 < t {
            let rows = min(queryBlock, t - r0)
            let cols = min(s, r0 + rows + offset)
            gemm.sgemm(
              transA: false, transB: true, m: rows, n: cols, k: d, alpha: scale, a: qHead + r0 * hq * d, lda: hq * d,
              b: kHead, ldb: h * d, beta: 0, c: scores, ldc: cols)
            for i in 0..<rows {
              let row = scores + i * cols
              let visible = r0 + i + offset + 1
              let base = (pair * t + r0 + i) * topK
              if visible <= topK {
                for key in 0..<visible { idp[base + key] = Int32(key) }
                continue
              }
              scratch.update(from: row, count: visible)
              let threshold = kthLargest(scratch, visible, topK)
              var above = 0
              for key in 0..<visible where row[key] > threshold { above += 1 }
              var ties = topK - above, written = 0
              for key in 0..<visible {
                let value = row[key]
                if value > threshold || (value == threshold && ties > 0) {
                  if value == threshold { ties -= 1 }
                  idp[base + written] = Int32(key)
                  written += 1
                }
              }
            }
            r0 += rows
          }
        }
      }
    }
  }
  return KeySelection(batch: b, heads: hq, time: t, width: topK, ids: ids)
}

/// The `k`-th largest of `count` values (1-based), by quickselect with a median-of-three pivot;
/// reorders `values`.
func kthLargest(_ values: UnsafeMutablePointer<Float>, _ count: Int, _ k: Int) -> Float {
  var (low, high, target) = (0, count - 1, k - 1)  // the target index in descending order
  while low < high {
    let middle = low + (high - low) / 2
    let (a, b, c) = (values[low], values[middle], values[high])
    let pivot = max(min(a, b), min(max(a, b), c))
    var (i, j) = (low, high)
    while i <= j {
      while values[i] > pivot { i += 1 }
      while values[j] < pivot { j -= 1 }
      if i <= j {
        (values[i], values[j]) = (values[j], values[i])
        i += 1
        j -= 1
      }
    }
    if target <= j {
      high = j
    } else if target >= i {
      low = i
    } else {
      return values[target]
    }
  }
  return values[target]
}

/// `candidates` ordered by `value`, largest first, ties to the lower index — the order every
/// selection here (top-k keys, MoBA's blocks, NSA's blocks) takes its best from.
func rankedDescending<S: Sequence<Int>>(_ candidates: S, by value: (Int) -> Float) -> [Int] {
  let scored: [(index: Int, value: Float)] = candidates.map { ($0, value($0)) }
  let ordered = scored.sorted { a, b in a.value > b.value || (a.value == b.value && a.index < b.index) }
  return ordered.map(\.index)
}

/// The first `count` of ``rankedDescending(_:by:)``'s order over `candidates` (ascending), written
/// to `best[0..<n]`; returns `n = min(count, candidates.count)`. One pass keeping the best so far
/// (insertion): a later candidate displaces a kept one only when strictly larger, so ties go to
/// the lower index. `best` must hold `count` ids. (Values are compared as `>`: a NaN is never
/// preferred to a kept value.)
@inline(__always)
func bestDescending<S: Sequence<Int>>(_ candidates: S, count: Int, into best: inout [Int], by value: (Int) -> Float)
  -> Int
{
  var kept = 0
  best.withUnsafeMutableBufferPointer { best in
    var values = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
    withUnsafeMutableBytes(of: &values) { raw in
      let small = count <= 8
      let heap = small ? nil : UnsafeMutablePointer<Float>.allocate(capacity: count)
      defer { heap?.deallocate() }
      let kv = small ? raw.baseAddress!.assumingMemoryBound(to: Float.self) : heap!
      for candidate in candidates {
        let v = value(candidate)
        if kept == count {
          if count == 0 || !(v > kv[count - 1]) { continue }
        }
        var j = Swift.min(kept, count - 1)
        while j > 0 && v > kv[j - 1] {
          kv[j] = kv[j - 1]
          best[j] = best[j - 1]
          j -= 1
        }
        kv[j] = v
        best[j] = candidate
        if kept < count { kept += 1 }
      }
    }
  }
  return kept
}
