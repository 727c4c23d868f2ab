import TesseraCore

/// A mask compiled for the tiled attention kernel, as FlexAttention's `BlockMask` (Dong et al.,
/// "Flex Attention: A Programming Model for Generating Optimized Attention Kernels", 2024): the
/// `T × S` score matrix is cut into tiles of `queryBlock × keyBlock`, and for every query tile
/// the mask lists its *live* key tiles — those where some query sees some key — each either
/// **full** (computed with no mask) or **partial** (computed, then masked element by element from
/// a 0/1 tile stored here). Empty tiles are not listed, so the kernel never computes them, and no
/// `T × S` mask exists anywhere.
///
/// Queries are indexed `0..<time` and keys `0..<keyTime`. A mask may vary over batches and heads:
/// it holds `sliceBatches × sliceHeads` slices (1 × 1 for a static pattern; per batch and per
/// key/value head for NSA's selections; per query head for top-k and MoBA). Query head `hq` of
/// `HQ` reads slice head `hq / (HQ / sliceHeads)`.
public struct BlockMask: Sendable {
  public let time: Int
  public let keyTime: Int
  public let queryBlock: Int
  public let keyBlock: Int
  public let sliceBatches: Int
  public let sliceHeads: Int
  /// Live tiles of slice `s`, query tile `i`: `tileStart[s · queryTiles + i] ..< tileStart[… + 1]`.
  var tileStart: [Int]
  /// The key tile of each live tile.
  var tileKey: [Int32]
  /// Offset of each live tile's 0/1 mask in `masks` (rows × cols, row-major); −1 when each of its
  /// computed rows (below) sees all of its keys.
  var tileMask: [Int]
  var masks: [UInt8]
  /// The rows of a partial tile that see some key of it, as offsets in the query tile:
  /// `activeRows[tileRowStart[i] ..< tileRowStart[i] + tileRowCount[i]]`; `tileRowStart[i]` is −1
  /// when every row does. The kernel computes only these rows of the tile.
  var tileRowStart: [Int]
  var tileRowCount: [Int32]
  var activeRows: [Int32]
  /// Keys each query sees, `[slices, time]`.
  var visible: [Int32]
  /// The order the kernel visits the live tiles in (the same bits either way).
  public var tileOrder: TileOrder = .automatic

  public var queryTiles: Int { (time + queryBlock - 1) / queryBlock }
  public var keyTiles: Int { (keyTime + keyBlock - 1) / keyBlock }
  public var slices: Int { sliceBatches * sliceHeads }

  init(time: Int, keyTime: Int, queryBlock: Int, keyBlock: Int, sliceBatches: Int, sliceHeads: Int) {
    check(queryBlock >= 1 && keyBlock >= 1, "BlockMask: block sizes must be positive, got \(queryBlock) × \(keyBlock)")
    check(sliceBatches >= 1 && sliceHeads >= 1, "BlockMask: at least one slice")
    (self.time, self.keyTime, self.queryBlock, self.keyBlock) = (time, keyTime, queryBlock, keyBlock)
    (self.sliceBatches, self.sliceHeads) = (sliceBatches, sliceHeads)
    tileStart = [0]
    tileKey = []
    tileMask = []
    masks = [0]  // never empty: the kernel takes its base address
    tileRowStart = []
    tileRowCount = []
    activeRows = [0]
    visible = []
  }

  /// Compiles a static mask: queries `0..<time` sit at the end of the key axis (positions
  /// `keyTime − time …`, as when decoding with a cache). Each tile is classified by
  /// ``AttentionMask/classify(queries:keys:)``; only tiles it calls partial are checked element
  /// by element (and dropped if in fact empty, stored as full if in fact full).
  public init(_ mask: AttentionMask, time: Int, keyTime: Int? = nil, queryBlock: Int, keyBlock: Int) {
    let keyTime = keyTime ?? time
    check(keyTime >= time, "BlockMask: \(keyTime) keys for \(time) queries (queries sit at the end of the keys)")
    self.init(
      time: time, keyTime: keyTime, queryBlock: queryBlock, keyBlock: keyBlock, sliceBatches: 1, sliceHeads: 1)
    let offset = keyTime - time
    var rowVisible = [Int32](repeating: 0, count: time)
    var tile = [UInt8]()
    var rowCounts = [Int32]()
    for qt in 0..<queryTiles {
      let r0 = qt * queryBlock, rows = min(queryBlock, time - r0)
      let queries = (r0 + offset)..<(r0 + offset + rows)
      for kt in 0..<keyTiles {
        let c0 = kt * keyBlock, cols = min(keyBlock, keyTime - c0)
        switch mask.classify(queries: queries, keys: c0..<(c0 + cols)) {
        case .empty: continue
        case .full:
          appendFullTile(kt, rows: rows)
          for i in 0..<rows { rowVisible[r0 + i] += Int32(cols) }
        case .partial:
          tile.removeAll(keepingCapacity: true)
          rowCounts.removeAll(keepingCapacity: true)
          for i in 0..<rows {
            var count: Int32 = 0
            for j in 0..<cols {
              let seen = mask.allows(query: queries.lowerBound + i, key: c0 + j)
              tile.append(seen ? 1 : 0)
              if seen { count += 1 }
            }
            rowVisible[r0 + i] += count
            rowCounts.append(count)
          }
          if rowCounts.allSatisfy({ $0 == 0 }) { continue }
          appendTile(kt, mask: tile, rowCounts: rowCounts, cols: cols)
        }
      }
      tileStart.append(tileKey.count)
    }
    visible = rowVisible
  }

  /// Builds a mask from the keys each query sees, given as ranges of key indices: `keyRanges(s,
  /// t)` for slice `s` and query `t` (ranges may overlap and need not be sorted; they are clipped
  /// to `0..<keyTime`). A tile is live when some range touches it, full when its queries see all
  /// of its keys. Used by the dynamic patterns (top-k, MoBA, NSA's selection).
  public init(
    time: Int, keyTime: Int, queryBlock: Int, keyBlock: Int, sliceBatches: Int, sliceHeads: Int,
    keyRanges: (_ slice: Int, _ query: Int) -> [Range<Int>]
  ) {
    self.init(
      time: time, keyTime: keyTime, queryBlock: queryBlock, keyBlock: keyBlock, sliceBatches: sliceBatches,
      sliceHeads: sliceHeads
    ) { slice, query, ranges in ranges.append(contentsOf: keyRanges(slice, query)) }
  }

  /// As ``init(time:keyTime:queryBlock:keyBlock:sliceBatches:sliceHeads:keyRanges:)``, with the
  /// ranges appended to an array the compiler reuses (no array per query).
  init(
    time: Int, keyTime: Int, queryBlock: Int, keyBlock: Int, sliceBatches: Int, sliceHeads: Int,
    appendingKeyRanges keyRanges: (_ slice: Int, _ query: Int, _ ranges: inout [Range<Int>]) -> Void
  ) {
    self.init(
      time: time, keyTime: keyTime, queryBlock: queryBlock, keyBlock: keyBlock, sliceBatches: sliceBatches,
      sliceHeads: sliceHeads)
    guard slices > 1 else {
      compile(slices: 0..<slices, keyRanges: keyRanges)
      return
    }
    // Each slice compiled on its own (in parallel), then the slices' tiles joined in order.
    var parts = [BlockMask?](repeating: nil, count: slices)
    parts.withUnsafeMutableBufferPointer { parts in
      Runtime.parallelFor(slices, grain: 1) { range in
        for slice in range {
          var part = BlockMask(
            time: time, keyTime: keyTime, queryBlock: queryBlock, keyBlock: keyBlock, sliceBatches: 1, sliceHeads: 1)
          part.compile(slices: 0..<1) { _, t, ranges in keyRanges(slice, t, &ranges) }
          parts[slice] = part
        }
      }
    }
    for part in parts.map({ $0! }) {
      let (tiles, maskBase, rowBase) = (tileKey.count, masks.count, activeRows.count)
      tileStart.append(contentsOf: part.tileStart.dropFirst().map { $0 + tiles })
      tileKey.append(contentsOf: part.tileKey)
      tileMask.append(contentsOf: part.tileMask.map { $0 < 0 ? $0 : $0 + maskBase })
      masks.append(contentsOf: part.masks)
      tileRowStart.append(contentsOf: part.tileRowStart.map { $0 < 0 ? $0 : $0 + rowBase })
      tileRowCount.append(contentsOf: part.tileRowCount)
      activeRows.append(contentsOf: part.activeRows)
      visible.append(contentsOf: part.visible)
    }
  }

  /// Compiles `slices` (all of this mask's, in order) from the keys each query sees. Per query
  /// tile, each row's ranges are merged, the keys each row sees in each key tile counted from
  /// them, and a 0/1 tile built only for a tile some row sees part of (a block-granular selection
  /// builds none).
  private mutating func compile(
    slices: Range<Int>, keyRanges: (_ slice: Int, _ query: Int, _ ranges: inout [Range<Int>]) -> Void
  ) {
    visible = [Int32](repeating: 0, count: slices.count * time)
    var touched = [Bool](repeating: false, count: keyTiles)
    var counts = [Int32](repeating: 0, count: keyTiles * queryBlock)
    var tile = [UInt8]()
    // The query tile's rows' merged ranges: row i's are all[first[i] ..< first[i + 1]].
    var all: [Range<Int>] = [], first = [Int](repeating: 0, count: queryBlock + 1), scratch: [Range<Int>] = []
    var live: [Int] = []
    // Per key tile, the rows of the current query tile that see some key of it.
    var rowsOf = [[Int32]](repeating: [], count: keyTiles)
    for slice in slices {
      for qt in 0..<queryTiles {
        let r0 = qt * queryBlock, rows = min(queryBlock, time - r0)
        all.removeAll(keepingCapacity: true)
        for i in 0..<rows {
          scratch.removeAll(keepingCapacity: true)
          keyRanges(slice, r0 + i, &scratch)
          Self.merge(&scratch, within: 0..<keyTime)
          first[i] = all.count
          all.append(contentsOf: scratch)
        }
        first[rows] = all.count
        let ranges = (0..<rows).lazy.map { all[first[$0]..<first[$0 + 1]] }
        live.removeAll(keepingCapacity: true)
        for (i, row) in ranges.enumerated() {
          for range in row {
            for kt in (range.lowerBound / keyBlock)...((range.upperBound - 1) / keyBlock) {
              if !touched[kt] {
                touched[kt] = true
                live.append(kt)
              }
              let c0 = kt * keyBlock
              if counts[kt * queryBlock + i] == 0 { rowsOf[kt].append(Int32(i)) }
              counts[kt * queryBlock + i] += Int32(min(range.upperBound, c0 + keyBlock) - max(range.lowerBound, c0))
            }
          }
        }
        live.sort()
        for kt in live {
          touched[kt] = false
          let c0 = kt * keyBlock, cols = min(keyBlock, keyTime - c0)
          // The rows that see some key of the tile (ascending), and whether each sees all of it.
          var whole = true
          for i in rowsOf[kt] {
            let count = counts[kt * queryBlock + Int(i)]
            visible[slice * time + r0 + Int(i)] += count
            if count != Int32(cols) { whole = false }
          }
          defer {
            for i in rowsOf[kt] { counts[kt * queryBlock + Int(i)] = 0 }
            rowsOf[kt].removeAll(keepingCapacity: true)
          }
          if whole {
            appendWholeRowsTile(kt, rows: rowsOf[kt], of: rows)
            continue
          }
          let rowCounts = (0..<rows).map { counts[kt * queryBlock + $0] }
          tile.removeAll(keepingCapacity: true)
          tile.append(contentsOf: repeatElement(0, count: rows * cols))
          for (i, row) in ranges.enumerated() {
            for range in row {
              let lo = max(range.lowerBound, c0), hi = min(range.upperBound, c0 + cols)
              if lo < hi { for j in lo..<hi { tile[i * cols + j - c0] = 1 } }
            }
          }
          appendTile(kt, mask: tile, rowCounts: rowCounts, cols: cols)
        }
        tileStart.append(tileKey.count)
      }
    }
  }

  /// `ranges` clipped to `bounds`, sorted and merged in place into disjoint ranges (touching ones
  /// joined).
  static func merge(_ ranges: inout [Range<Int>], within bounds: Range<Int>) {
    var n = 0
    var sorted = true
    for range in ranges {
      let clipped = range.clamped(to: bounds)
      if clipped.isEmpty { continue }
      if n > 0 && clipped.lowerBound < ranges[n - 1].lowerBound { sorted = false }
      ranges[n] = clipped
      n += 1
    }
    ranges.removeLast(ranges.count - n)
    if !sorted { ranges.sort { $0.lowerBound < $1.lowerBound } }
    var out = 0
    for i in 0..<n {
      let range = ranges[i]
      if out > 0 && range.lowerBound <= ranges[out - 1].upperBound {
        ranges[out - 1] = ranges[out - 1].lowerBound..<max(ranges[out - 1].upperBound, range.upperBound)
      } else {
        ranges[out] = range
        out += 1
      }
    }
    ranges.removeLast(n - out)
  }

  /// A tile whose `active` rows (ascending offsets, of `rows`) each see all of its keys and whose
  /// other rows see none.
  private mutating func appendWholeRowsTile(_ keyTile: Int, rows active: [Int32], of rows: Int) {
    tileKey.append(Int32(keyTile))
    tileMask.append(-1)
    if active.count == rows {
      tileRowStart.append(-1)
    } else {
      tileRowStart.append(activeRows.count)
      activeRows.append(contentsOf: active)
    }
    tileRowCount.append(Int32(active.count))
  }

  /// A tile every row of which sees every key.
  private mutating func appendFullTile(_ keyTile: Int, rows: Int) {
    tileKey.append(Int32(keyTile))
    tileMask.append(-1)
    tileRowStart.append(-1)
    tileRowCount.append(Int32(rows))
  }

  /// A tile from its 0/1 `mask` (rows × `cols`) and the keys each row sees in it (`rowCounts`):
  /// the kernel computes only the rows that see some key.
  private mutating func appendTile(_ keyTile: Int, mask: [UInt8], rowCounts: [Int32], cols: Int) {
    let active = rowCounts.indices.filter { rowCounts[$0] > 0 }
    tileKey.append(Int32(keyTile))
    // A block-granular selection (MoBA's, NSA's, a top-k over blocks) leaves each row seeing all of
    // a tile or none of it: then the rows alone say what to compute, and no element mask is kept
    // (at T 16k, blocks of 128, the masks would take gigabytes).
    if active.allSatisfy({ rowCounts[$0] == cols }) {
      tileMask.append(-1)
    } else {
      tileMask.append(masks.count)
      masks.append(contentsOf: mask)
    }
    if active.count == rowCounts.count {
      tileRowStart.append(-1)
    } else {
      tileRowStart.append(activeRows.count)
      activeRows.append(contentsOf: active.map(Int32.init))
    }
    tileRowCount.append(Int32(active.count))
  }

  /// The slice query head `hq` of `queryHeads` in batch `b` reads.
  @inline(__always)
  public func slice(batch b: Int, head hq: Int, queryHeads: Int) -> Int {
    (sliceBatches == 1 ? 0 : b) * sliceHeads + hq / (queryHeads / sliceHeads)
  }

  /// Indices of the live tiles of `slice`'s query tile `queryTile`.
  @inline(__always)
  func tiles(slice: Int, queryTile: Int) -> Range<Int> {
    let i = slice * queryTiles + queryTile
    return tileStart[i]..<tileStart[i + 1]
  }

  /// Keys query `query` of `slice` sees.
  @inline(__always)
  public func visibleKeys(slice: Int, query: Int) -> Int { Int(visible[slice * time + query]) }

  /// Whether query `t` of `slice` sees key `s` (from the compiled tiles).
  public func allows(slice: Int, query t: Int, key s: Int) -> Bool {
    let (qt, kt) = (t / queryBlock, s / keyBlock)
    for index in tiles(slice: slice, queryTile: qt) where Int(tileKey[index]) == kt {
      let offset = tileMask[index]
      if offset < 0 {
        // Every row of the tile, or (rows seeing all of it or nothing) the active ones.
        let start = tileRowStart[index]
        if start < 0 { return true }
        let r = Int32(t - qt * queryBlock)
        return activeRows[start..<(start + Int(tileRowCount[index]))].contains(r)
      }
      let cols = min(keyBlock, keyTime - kt * keyBlock)
      return masks[offset + (t - qt * queryBlock) * cols + (s - kt * keyBlock)] != 0
    }
    return false
  }

  /// The dense 0/1 mask of `slice`, `[time, keyTime]` (for tests and figures).
  public func dense(slice: Int = 0) -> [Float] {
    var out = [Float](repeating: 0, count: time * keyTime)
    for t in 0..<time {
      for s in 0..<keyTime where allows(slice: slice, query: t, key: s) { out[t * keyTime + s] = 1 }
    }
    return out
  }

  /// What the tiles cost, summed over the slices.
  public struct Visits: Sendable, Equatable {
    /// Live tiles, and those among them that are masked element by element (a tile whose rows each
    /// see all of it or none is computed for its active rows, unmasked, and not counted here).
    public var tiles = 0, partialTiles = 0
    /// Scores the kernel computes: per live tile, its columns times the rows that see some key
    /// of it (rows that see none are not computed).
    public var scores = 0
    /// (query row, live key tile) pairs computed: the online softmax's corrections.
    public var rowTiles = 0
    /// (query, key) pairs the mask allows.
    public var attended = 0
  }

  /// The fraction of the causally visible (query, key) pairs the mask allows, over all slices
  /// (queries at the end of the keys).
  public var attendedFraction: Double {
    let causal = causalPairs(time: time, keyTime: keyTime)
    return causal == 0 ? 0 : Double(visits.attended) / Double(causal * slices)
  }

  /// How many (batch, query head) pairs each slice stands for: `HQ / sliceHeads` query heads, and
  /// every batch when the slice is shared across batches.
  func headCopies(batch: Int, queryHeads: Int) -> Int {
    queryHeads / sliceHeads * (sliceBatches == 1 ? batch : 1)
  }

  /// The live tiles' cost over all slices.
  public var visits: Visits {
    var v = Visits()
    for slice in 0..<slices {
      for qt in 0..<queryTiles {
        for index in tiles(slice: slice, queryTile: qt) {
          let rows = Int(tileRowCount[index])
          let cols = min(keyBlock, keyTime - Int(tileKey[index]) * keyBlock)
          v.tiles += 1
          if tileMask[index] >= 0 { v.partialTiles += 1 }
          v.scores += rows * cols
          v.rowTiles += rows
        }
      }
    }
    v.attended = visible.reduce(0) { $0 + Int($1) }
    return v
  }

  /// Per query tile and key tile of `slice`: 0 empty, 1 partial, 2 full (`[queryTiles, keyTiles]`,
  /// row-major) — the block map a figure draws.
  public func tileKinds(slice: Int = 0) -> [TileKind] {
    var kinds = [TileKind](repeating: .empty, count: queryTiles * keyTiles)
    for qt in 0..<queryTiles {
      for index in tiles(slice: slice, queryTile: qt) {
        kinds[qt * keyTiles + Int(tileKey[index])] = tileMask[index] < 0 && tileRowStart[index] < 0 ? .full : .partial
      }
    }
    return kinds
  }
}

/// The (query, key) pairs a causal mask allows for `time` queries at the end of `keyTime` keys.
func causalPairs(time: Int, keyTime: Int) -> Int { time * (keyTime - time) + time * (time + 1) / 2 }
