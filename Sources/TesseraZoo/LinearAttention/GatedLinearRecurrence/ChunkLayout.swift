import TesseraCore

/// How the chunked forms of the delta rule and of TTT-Linear lay a sequence out: `[B, T, H, …]`
/// becomes `[B, H, N, C, …]` (N chunks of C tokens), the last chunk padded with zero tokens, and
/// the per-chunk outputs go back to `[B, T, H, V]` without the padding.
struct ChunkLayout {
  let batch: Int, time: Int, heads: Int, size: Int
  /// Number of chunks, at least one.
  let count: Int

  init(batch: Int, time: Int, heads: Int, size: Int) {
    (self.batch, self.time, self.heads, self.size) = (batch, time, heads, size)
    count = Swift.max(1, (time + size - 1) / size)
  }

  var padding: Int { count * size - time }

  /// `[B, T, H]` → `[B, H, N, C]`, `[B, T, H, K]` → `[B, H, N, C, K]`.
  func split(_ x: Tensor) -> Tensor {
    let padded = padding > 0 ? x.padded(axis: 1, before: 0, after: padding) : x
    if x.rank == 3 { return padded.reshaped(batch, count, size, heads).permuted(0, 3, 1, 2) }
    return padded.reshaped(batch, count, size, heads, x.shape[3]).permuted(0, 3, 1, 2, 4)
  }

  /// One `[B, H, C, V]` output per chunk, in order → `[B, T, H, V]`.
  func merge(_ chunks: [Tensor]) -> Tensor {
    let values = chunks[0].shape[3]
    let output = stack(chunks, axis: 2).permuted(0, 2, 3, 1, 4).reshaped(batch, count * size, heads, values)
    return padding > 0 ? output.slice(axis: 1, 0..<time) : output
  }
}
