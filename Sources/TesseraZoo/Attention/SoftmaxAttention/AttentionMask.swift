import TesseraCore

/// Which keys each query may attend to — a predicate over (query position, key position), as
/// FlexAttention's `mask_mod` (Dong et al., 2024) — for queries and keys on the same time axis.
/// Masks compose: `a && b` (both allow), `a || b` (either allows). The tiled kernel never
/// evaluates the predicate over the whole `T × S` grid: ``BlockMask`` compiles it tile by tile
/// from ``classify(queries:keys:)`` and checks element by element only the tiles that may be
/// partly visible.
///
/// The static patterns of sparse attention are instances: a sliding window and a dilated one
/// (Longformer: Beltagy et al., 2020), global tokens, BigBird's window + global + random blocks
/// (Zaheer et al., 2020), and an explicit block layout. Combine them with `.causal` for a decoder.
public indirect enum AttentionMask: Codable, Sendable, Equatable {
  /// Every key.
  case none
  /// Keys at or before the query (`s ≤ t`).
  case causal
  /// The last `window` keys up to the query, itself included (`t − window < s ≤ t`).
  case slidingWindow(Int)
  /// Every `dilation`-th key back from the query, `window` of them, itself included:
  /// `s = t − i·dilation`, `0 ≤ i < window` (Longformer's dilated window). Causal.
  case dilatedWindow(window: Int, dilation: Int)
  /// Global tokens (Longformer): a query among `tokens` sees every key and a key among `tokens` is
  /// seen by every query. Intersect with `.causal` for a decoder.
  case global([Int])
  /// An explicit layout over blocks of `layout.block` tokens: query `t` sees key `s` when
  /// `layout[t / block, s / block]` is set. Blocks past the layout's rows or columns are not seen.
  case blockLayout(BlockLayout)
  /// BigBird's pattern over blocks (Zaheer et al., 2020): see ``BigBirdPattern``.
  case bigBird(BigBirdPattern)
  /// Keys every mask allows.
  case intersection([AttentionMask])
  /// Keys some mask allows.
  case union([AttentionMask])

  public static func && (a: AttentionMask, b: AttentionMask) -> AttentionMask { .intersection([a, b]) }
  public static func || (a: AttentionMask, b: AttentionMask) -> AttentionMask { .union([a, b]) }

  /// Whether query `t` sees key `s`.
  public func allows(query t: Int, key s: Int) -> Bool {
    switch self {
    case .none: return true
    case .causal: return s <= t
    case .slidingWindow(let w): return s <= t && s > t - w
    case .dilatedWindow(let w, let d): return s <= t && (t - s) % d == 0 && (t - s) / d < w
    case .global(let tokens): return tokens.contains(t) || tokens.contains(s)
    case .blockLayout(let layout): return layout.allows(t / layout.block, s / layout.block)
    case .bigBird(let pattern): return pattern.allows(t / pattern.block, s / pattern.block)
    case .intersection(let masks): return masks.allSatisfy { $0.allows(query: t, key: s) }
    case .union(let masks): return masks.contains { $0.allows(query: t, key: s) }
    }
  }

  /// Where the tile of queries `queries` × keys `keys` stands under the mask: `.empty` and
  /// `.full` only when certain, `.partial` when it may be either (``BlockMask`` then checks the
  /// tile element by element).
  public func classify(queries: Range<Int>, keys: Range<Int>) -> TileKind {
    let (q0, q1, k0, k1) = (queries.lowerBound, queries.upperBound - 1, keys.lowerBound, keys.upperBound - 1)
    switch self {
    case .none: return .full
    case .causal:
      if k1 <= q0 { return .full }
      return k0 > q1 ? .empty : .partial
    case .slidingWindow(let w):
      if k1 <= q0 && k0 > q1 - w { return .full }
      return k0 > q1 || k1 <= q0 - w ? .empty : .partial
    case .dilatedWindow(let w, let d):
      if d == 1 { return AttentionMask.slidingWindow(w).classify(queries: queries, keys: keys) }
      return k0 > q1 || k1 <= q0 - (w - 1) * d - 1 ? .empty : .partial
    case .global(let tokens):
      let queryGlobals = tokens.filter { queries.contains($0) }.count
      let keyGlobals = tokens.filter { keys.contains($0) }.count
      if queryGlobals == queries.count || keyGlobals == keys.count { return .full }
      return queryGlobals == 0 && keyGlobals == 0 ? .empty : .partial
    case .blockLayout(let layout):
      return classifyBlocks(block: layout.block, queries: queries, keys: keys, layout.allows)
    case .bigBird(let pattern):
      return classifyBlocks(block: pattern.block, queries: queries, keys: keys, pattern.allows)
    case .intersection(let masks):
      let kinds = masks.map { $0.classify(queries: queries, keys: keys) }
      if kinds.contains(.empty) { return .empty }
      return kinds.allSatisfy { $0 == .full } ? .full : .partial
    case .union(let masks):
      let kinds = masks.map { $0.classify(queries: queries, keys: keys) }
      if kinds.contains(.full) { return .full }
      return kinds.allSatisfy { $0 == .empty } ? .empty : .partial
    }
  }

  /// The dense 0/1 mask `[time, keyTime]` with the queries at the end of the key axis (decoding
  /// with a cache: `keyTime ≥ time`) — what the reference form multiplies in.
  public func dense(time: Int, keyTime: Int) -> [Float] {
    var allowed = [Float](repeating: 0, count: time * keyTime)
    let offset = keyTime - time
    for i in 0..<time {
      for j in 0..<keyTime where allows(query: i + offset, key: j) { allowed[i * keyTime + j] = 1 }
    }
    return allowed
  }
}

/// Classifies a tile over a predicate on (query block, key block) of `block` tokens.
private func classifyBlocks(
  block: Int, queries: Range<Int>, keys: Range<Int>, _ allows: (Int, Int) -> Bool
) -> TileKind {
  var seen = false, missed = false
  for i in (queries.lowerBound / block)...((queries.upperBound - 1) / block) {
    for j in (keys.lowerBound / block)...((keys.upperBound - 1) / block) {
      if allows(i, j) { seen = true } else { missed = true }
      if seen && missed { return .partial }
    }
  }
  return seen ? .full : .empty
}

/// Where a tile of the score matrix stands under a mask.
public enum TileKind: UInt8, Sendable {
  /// No query of the tile sees a key of it: the tile is never computed.
  case empty
  /// Some do: the tile is computed and masked element by element.
  case partial
  /// All do: the tile is computed without a mask.
  case full
}

/// An explicit block layout: `rows × columns` cells over blocks of `block` tokens; cell `(i, j)`
/// set means the queries of block `i` see the keys of block `j`.
public struct BlockLayout: Codable, Sendable, Equatable {
  public var block: Int
  public var rows: Int
  public var columns: Int
  /// Row-major cells.
  public var cells: [Bool]

  public init(block: Int, rows: Int, columns: Int, cells: [Bool]) {
    check(block >= 1, "BlockLayout: the block must be at least 1 token, got \(block)")
    check(
      cells.count == rows * columns, "BlockLayout: \(cells.count) cells for a \(rows) × \(columns) layout")
    self.block = block
    self.rows = rows
    self.columns = columns
    self.cells = cells
  }

  /// From a `[rows, columns]` tensor (non-zero = seen), e.g. a stored layout.
  public init(block: Int, _ layout: Tensor) {
    check(layout.rank == 2, "BlockLayout: the layout must be [rows, columns], got \(layout.shape)")
    self.init(block: block, rows: layout.shape[0], columns: layout.shape[1], cells: layout.scalars.map { $0 != 0 })
  }

  @inline(__always)
  public func allows(_ i: Int, _ j: Int) -> Bool { i < rows && j < columns && cells[i * columns + j] }
}

/// BigBird's sparse pattern over blocks of `block` tokens (Zaheer et al., "Big Bird: Transformers
/// for Longer Sequences", 2020). Query block `i` sees key block `j` when
/// - `j` is local: `|i − j| < windowBlocks` (with `.causal`: the block itself and the
///   `windowBlocks − 1` before it);
/// - `i` or `j` is global: one of the first `globalBlocks` blocks;
/// - `j` is one of `i`'s `randomBlocks` random blocks: distinct blocks drawn from those that are
///   neither global nor local and before `i` (`globalBlocks ≤ j ≤ i − windowBlocks`) by a
///   counter-based hash of `(seed, i, draw)` — so the pattern is defined for any length, and
///   decoding sees the blocks training saw.
public struct BigBirdPattern: Codable, Sendable, Equatable {
  public var block: Int
  public var windowBlocks: Int
  public var globalBlocks: Int
  public var randomBlocks: Int
  public var seed: UInt64

  public init(block: Int, windowBlocks: Int = 2, globalBlocks: Int = 1, randomBlocks: Int = 1, seed: UInt64 = 0) {
    check(block >= 1 && windowBlocks >= 1, "BigBirdPattern: block and window must be at least 1")
    check(globalBlocks >= 0 && randomBlocks >= 0, "BigBirdPattern: global and random blocks cannot be negative")
    self.block = block
    self.windowBlocks = windowBlocks
    self.globalBlocks = globalBlocks
    self.randomBlocks = randomBlocks
    self.seed = seed
  }

  /// Whether block `j` is one of query block `i`'s random blocks.
  public func isRandomBlock(_ j: Int, of i: Int) -> Bool {
    let candidates = i - windowBlocks - globalBlocks + 1
    guard randomBlocks > 0, candidates > 0, j >= globalBlocks, j <= i - windowBlocks else { return false }
    if randomBlocks >= candidates { return true }
    // Draw until `randomBlocks` distinct candidates are found; a small fixed buffer holds them.
    var drawn = 0, attempt: UInt64 = 0
    var found: (Int, Int, Int, Int) = (-1, -1, -1, -1)
    var extra: [Int] = []
    func seen(_ c: Int) -> Bool {
      c == found.0 || c == found.1 || c == found.2 || c == found.3 || extra.contains(c)
    }
    while drawn < randomBlocks {
      let c = globalBlocks + Int(mixBits(seed, UInt64(i), attempt) % UInt64(candidates))
      attempt += 1
      if seen(c) { continue }
      if c == j { return true }
      switch drawn {
      case 0: found.0 = c
      case 1: found.1 = c
      case 2: found.2 = c
      case 3: found.3 = c
      default: extra.append(c)
      }
      drawn += 1
    }
    return false
  }

  @inline(__always)
  public func allows(_ i: Int, _ j: Int) -> Bool {
    if abs(i - j) < windowBlocks || i < globalBlocks || j < globalBlocks { return true }
    return j < i && isRandomBlock(j, of: i)
  }
}

/// SplitMix64 finalisation of three words: a counter-based hash.
@inline(__always)
func mixBits(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
  var z = a &+ 0x9E37_79B9_7F4A_7C15 &* (b &+ 1) &+ 0xBF58_476D_1CE4_E5B9 &* (c &+ 1)
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}
