import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

/// A named static pattern under test (causal decoder masks).
struct NamedPattern: CustomStringConvertible, Sendable {
  let name: String
  let mask: AttentionMask
  var description: String { name }
}

/// A random block layout over blocks of `block`: the diagonal, and each earlier block with
/// probability ½ (seeded), intersected with the causal mask.
func randomLayout(block: Int, blocks: Int, seed: UInt64) -> AttentionMask {
  var generator = RandomGenerator(seed: seed)
  let draws = generator.uniform([blocks * blocks]).scalars
  let cells = (0..<(blocks * blocks)).map { i in i / blocks == i % blocks || draws[i] < 0.5 }
  return .causal && .blockLayout(BlockLayout(block: block, rows: blocks, columns: blocks, cells: cells))
}

/// Output and q, k, v gradients of `run` for the cotangent `dO`.
func sparseOutputAndGradients(_ q: Tensor, _ k: Tensor, _ v: Tensor, dO: Tensor, _ run: ([Tensor]) -> Tensor)
  -> [Tensor]
{
  let (o, g) = valueAndPullback(at: [q, k, v], cotangent: dO) { x in run(x) }
  return [o] + g
}

@Suite("Sparse attention")
struct SparseAttentionTests {
  static let lengths = [1, 7, 63, 64, 65, 130, 1000]
  static let patterns: [NamedPattern] = [
    NamedPattern(name: "causal", mask: .causal),
    NamedPattern(name: "sliding window 9", mask: .slidingWindow(9)),
    NamedPattern(name: "dilated window 6 × 3", mask: .dilatedWindow(window: 6, dilation: 3)),
    NamedPattern(name: "global 0, 5, 40 + window 7", mask: .causal && (.slidingWindow(7) || .global([0, 5, 40]))),
    NamedPattern(
      name: "BigBird blocks of 8", mask: .causal && .bigBird(BigBirdPattern(block: 8, globalBlocks: 1, randomBlocks: 2))
    ),
    NamedPattern(name: "random layout, blocks of 16", mask: randomLayout(block: 16, blocks: 63, seed: 5)),
    NamedPattern(
      name: "window 20 ∧ ¬ first key", mask: .slidingWindow(20) && .dilatedWindow(window: 1000, dilation: 2)),
  ]

  /// The compiled block map against the pattern, element by element: every allowed pair is in a
  /// live tile (and is unmasked there), every hidden pair is masked or in no tile, full tiles
  /// hold no hidden pair, and no live tile is empty. Also with queries at the end of a longer key
  /// axis (decoding with a cache).
  @Test("a block mask holds exactly the pattern's pairs; empty tiles are not listed", arguments: Self.patterns)
  func compiledMask(_ pattern: NamedPattern) {
    for (time, keyTime, blocks) in [(130, 130, (16, 16)), (65, 65, (64, 32)), (7, 130, (4, 8)), (1, 64, (16, 16))] {
      let compiled = BlockMask(pattern.mask, time: time, keyTime: keyTime, queryBlock: blocks.0, keyBlock: blocks.1)
      let dense = pattern.mask.dense(time: time, keyTime: keyTime)
      #expect(compiled.dense() == dense, "\(pattern) T \(time) S \(keyTime): compiled pairs differ")
      let kinds = compiled.tileKinds()
      for qt in 0..<compiled.queryTiles {
        for kt in 0..<compiled.keyTiles {
          let rows = (qt * blocks.0)..<min(time, (qt + 1) * blocks.0)
          let cols = (kt * blocks.1)..<min(keyTime, (kt + 1) * blocks.1)
          let ones = rows.reduce(0) { total, t in total + cols.filter { dense[t * keyTime + $0] == 1 }.count }
          let expected: TileKind = ones == 0 ? .empty : ones == rows.count * cols.count ? .full : .partial
          #expect(kinds[qt * compiled.keyTiles + kt] == expected, "\(pattern) T \(time): tile (\(qt), \(kt))")
        }
      }
      for t in 0..<time {
        let visible = (0..<keyTime).filter { dense[t * keyTime + $0] == 1 }.count
        #expect(compiled.visibleKeys(slice: 0, query: t) == visible, "\(pattern) T \(time): query \(t)")
      }
    }
  }

  /// Block-sparse tiled attention against the reference with the same dense mask: relative RMS
  /// error ≤ 2e-6 for outputs and ≤ 1e-5 for the q, k, v gradients (or an RMS difference ≤ 1e-7
  /// where the reference is zero up to rounding), several tile shapes, grouped heads.
  @Test("block-sparse tiled = dense-mask reference: outputs and gradients, every pattern", arguments: Self.lengths)
  func tiledEqualsReference(_ time: Int) {
    let tiles = time >= 500 ? [(64, 64), (32, 128)] : [(16, 16), (8, 32), (64, 64)]
    for pattern in Self.patterns {
      let seed = UInt64(time * 10 + 1)
      let q = RandomTensors.make([2, time, 4, 8], seed: seed)
      let k = RandomTensors.make([2, time, 2, 8], seed: seed + 1)
      let v = RandomTensors.make([2, time, 2, 8], seed: seed + 2)
      let dO = RandomTensors.make([2, time, 4, 8], seed: seed + 3)
      let allowed = Tensor(pattern.mask.dense(time: time, keyTime: time), shape: [time, time])
      let reference = sparseOutputAndGradients(q, k, v, dO: dO) { x in
        maskedAttention(x[0], x[1], x[2], allowed: allowed)
      }
      for (qb, kb) in tiles {
        let tiled = sparseOutputAndGradients(q, k, v, dO: dO) { x in
          attention(x[0], x[1], x[2], mask: pattern.mask, form: .tiled(queryBlock: qb, keyBlock: kb))
        }
        expectAgree([tiled[0]], [reference[0]], tolerance: 2e-6, absolute: 1e-7, "\(pattern) T \(time) \(qb)×\(kb): o")
        expectAgree(
          Array(tiled.dropFirst()), Array(reference.dropFirst()), tolerance: 1e-5, absolute: 1e-7,
          "\(pattern) T \(time) \(qb)×\(kb): gradients")
      }
    }
  }

  /// Top-k, MoBA and NSA: the tiled form against the reference form (same selection, exactly),
  /// outputs and every gradient, over the awkward lengths and two tile shapes each.
  @Test("dynamic patterns: tiled = reference, selections identical", arguments: Self.lengths)
  func dynamicTiledEqualsReference(_ time: Int) {
    let tiles = time >= 500 ? [(64, 64), (32, 16)] : [(16, 16), (8, 4)]
    let seed = UInt64(time * 10 + 7)
    let q = RandomTensors.make([1, time, 4, 8], seed: seed)
    let k = RandomTensors.make([1, time, 2, 8], seed: seed + 1)
    let v = RandomTensors.make([1, time, 2, 8], seed: seed + 2)
    let dO = RandomTensors.make([1, time, 4, 8], seed: seed + 3)
    var gates = RandomGenerator(seed: seed + 4)
    let g = (0..<3).map { _ in gates.uniform([1, time, 4]) }
    let ops: [(String, (Form) -> ([Tensor]) -> (Tensor, KeySelection))] = [
      (
        "top-k 5",
        { form in
          { x in
            let r = topKAttentionWithSelection(x[0], x[1], x[2], topK: 5, form: form)
            return (r.output, r.selection)
          }
        }
      ),
      (
        "MoBA 8 × 3",
        { form in
          { x in
            let r = mixtureOfBlockAttentionWithSelection(x[0], x[1], x[2], block: 8, topK: 3, form: form)
            return (r.output, r.selection)
          }
        }
      ),
      (
        "NSA 8, 3, 16",
        { form in
          { x in
            let r = nativeSparseAttention(
              x[0], x[1], x[2], compressedGate: g[0], selectedGate: g[1], windowGate: g[2], block: 8, selectedBlocks: 3,
              window: 16, form: form)
            return (r.output, r.selection)
          }
        }
      ),
    ]
    for (name, op) in ops {
      let reference = sparseOutputAndGradients(q, k, v, dO: dO) { x in op(.reference)(x).0 }
      let referenceSelection = withoutGradients { op(.reference)([q, k, v]).1 }
      for (qb, kb) in tiles {
        let form = Form.tiled(queryBlock: qb, keyBlock: kb)
        let tiled = sparseOutputAndGradients(q, k, v, dO: dO) { x in op(form)(x).0 }
        #expect(
          withoutGradients { op(form)([q, k, v]).1 } == referenceSelection, "\(name) T \(time) \(form): selection")
        expectAgree([tiled[0]], [reference[0]], tolerance: 2e-6, absolute: 1e-7, "\(name) T \(time) \(form): o")
        expectAgree(
          Array(tiled.dropFirst()), Array(reference.dropFirst()), tolerance: 1e-5, absolute: 1e-7,
          "\(name) T \(time) \(form): gradients")
      }
    }
  }

  /// NSA with the learned compressor: the tiled layer against the reference layer (same
  /// parameters), output and every gradient, at lengths around the block size.
  @Test("NSA's learned compressor: tiled = reference, every gradient")
  func learnedCompressor() throws {
    let entry = try #require(Zoo.families["nsa"])
    for time in [1, 7, 16, 33] {
      var data = RandomGenerator(seed: UInt64(time))
      let x = data.normal([2, time, 16], standardDeviation: 0.5), g = data.normal([2, time, 16])
      var outputs: [(Tensor, [String: Tensor])] = []
      for form in [Form.reference, .tiled(queryBlock: 8, keyBlock: 4)] {
        var rng = RandomGenerator(seed: 1)
        let layer = try entry.make(
          [
            "heads": 2, "block": 4, "selectedBlocks": 2, "window": 3, "learnedCompressor": true,
            "form": try JSONValue(encoding: form),
          ],
          width: 16, generator: &rng)
        outputs.append(outputAndGradients(layer, x, cotangent: g))
      }
      let (reference, tiled) = (outputs[0], outputs[1])
      #expect(reference.1.keys.contains { $0.hasPrefix("key_compressor.") }, "the compressor's parameters are trained")
      expectAgree([tiled.0], [reference.0], tolerance: 2e-6, absolute: 1e-7, "T \(time): output")
      for name in reference.1.keys.sorted() {
        expectAgree([tiled.1[name]!], [reference.1[name]!], tolerance: 1e-5, absolute: 1e-7, "T \(time): ∂\(name)")
      }
    }
  }

  /// Ties: keys that repeat give equal scores; both forms keep the lower key indices, as a
  /// stable sort by descending score would.
  @Test("top-k ties go to the lower key, in both forms")
  func topKTies() {
    // Keys 0…3 equal, 4…7 equal (a smaller score), then random: query 9 must keep 0, 1, 2 of the
    // tied best four.
    let d = 4
    var keyScalars = [Float](repeating: 0, count: 12 * d)
    for s in 0..<12 {
      for j in 0..<d { keyScalars[s * d + j] = s < 4 ? 1 : s < 8 ? 0.5 : -Float(s) }
    }
    let k = Tensor(keyScalars, shape: [1, 12, 1, d]), q = Tensor.ones([1, 12, 1, d]),
      v = RandomTensors.make([1, 12, 1, d], seed: 3)
    for form in [Form.reference, .tiled(queryBlock: 4, keyBlock: 4)] {
      let selection = topKAttentionWithSelection(q, k, v, topK: 3, form: form).selection
      #expect(selection.chosen(0, 0, 9) == [0, 1, 2], "\(form): \(selection.chosen(0, 0, 9))")
      #expect(selection.chosen(0, 0, 1) == [0, 1], "\(form): \(selection.chosen(0, 0, 1))")
    }
  }

  /// The two tile walks of the kernel (query tile by query tile, key tile by key tile) give the
  /// same bits: outputs and every gradient, for static patterns with element-masked tiles,
  /// MoBA's and NSA's selections (per-head slices, a few rows per tile) and a mask from
  /// overlapping, unsorted key ranges; grouped heads, awkward lengths, several tile shapes.
  @Test("key-tile walk = query-tile walk, bit for bit: outputs and gradients", arguments: [1, 7, 65, 130, 300])
  func tileWalksAgree(_ time: Int) {
    let seed = UInt64(time * 10 + 3)
    let q = RandomTensors.make([2, time, 4, 8], seed: seed)
    let k = RandomTensors.make([2, time, 2, 8], seed: seed + 1)
    let v = RandomTensors.make([2, time, 2, 8], seed: seed + 2)
    let dO = RandomTensors.make([2, time, 4, 8], seed: seed + 3)
    var rng = RandomGenerator(seed: seed + 4)
    let draws = rng.uniform([time * 6]).scalars.map { Int($0 * Float(time)) }
    for (qb, kb) in [(16, 16), (8, 32), (64, 16)] {
      var masks: [(String, BlockMask)] = Self.patterns.map {
        ($0.name, BlockMask($0.mask, time: time, queryBlock: qb, keyBlock: kb))
      }
      let moba = mixtureOfBlockAttentionWithSelection(
        q, k, v, block: 8, topK: 3, form: .tiled(queryBlock: qb, keyBlock: kb))
      masks.append(("MoBA 8 × 3", moba.blockMask!))
      let gate = Tensor.ones([2, time, 4]) * 0.5
      let nsa = nativeSparseAttention(
        q, k, v, compressedGate: gate, selectedGate: gate, windowGate: gate, block: 8, selectedBlocks: 3, window: 5,
        form: .tiled(queryBlock: qb, keyBlock: kb))
      masks.append(("NSA selection", nsa.blockMasks[1]))
      // Per query: two ranges ending at or before it (overlapping, in either order) and its own key.
      let ranges = BlockMask(
        time: time, keyTime: time, queryBlock: qb, keyBlock: kb, sliceBatches: 1, sliceHeads: 2
      ) { slice, t in
        let a = draws[(slice * time + t) * 3 % draws.count] % (t + 1)
        let b = draws[(slice * time + t) * 3 % draws.count + 1] % (t + 1)
        return [b..<(b + 3 + slice), a..<min(t + 1, a + 5), t..<(t + 1)]
      }
      masks.append(("ranges", ranges))
      for (name, mask) in masks {
        var byQuery = mask, byKey = mask
        byQuery.tileOrder = .byQueryTile
        byKey.tileOrder = .byKeyTile
        let a = sparseOutputAndGradients(q, k, v, dO: dO) { x in blockSparseAttention(x[0], x[1], x[2], mask: byQuery) }
        let b = sparseOutputAndGradients(q, k, v, dO: dO) { x in blockSparseAttention(x[0], x[1], x[2], mask: byKey) }
        for (i, label) in ["o", "dq", "dk", "dv"].enumerated() {
          #expect(a[i].scalars == b[i].scalars, "\(name) T \(time) \(qb)×\(kb): \(label) differs between the walks")
        }
      }
    }
  }

  /// A mask compiled from key ranges that overlap, touch, repeat and come unsorted holds exactly
  /// their union.
  @Test("a block mask from overlapping, unsorted key ranges holds exactly their union")
  func compiledRanges() {
    let (time, keyTime) = (37, 50)
    let rangesOf = { (slice: Int, t: Int) -> [Range<Int>] in
      [(t + 7)..<(t + 13), (t % 5)..<(t % 5 + 4), (t + 9)..<(t + 10), (t + 13)..<(t + 15), 60..<70, 3..<3]
        .map { slice == 0 ? $0 : $0.lowerBound / 2..<$0.upperBound / 2 }
    }
    let mask = BlockMask(
      time: time, keyTime: keyTime, queryBlock: 8, keyBlock: 16, sliceBatches: 1, sliceHeads: 2, keyRanges: rangesOf)
    for slice in 0..<2 {
      var dense = [Float](repeating: 0, count: time * keyTime)
      for t in 0..<time {
        for range in rangesOf(slice, t) {
          for s in range where s < keyTime { dense[t * keyTime + s] = 1 }
        }
        let seen = (0..<keyTime).filter { dense[t * keyTime + $0] == 1 }.count
        #expect(mask.visibleKeys(slice: slice, query: t) == seen, "slice \(slice) query \(t)")
      }
      #expect(mask.dense(slice: slice) == dense, "slice \(slice): compiled pairs differ")
    }
  }

  /// MoBA's and NSA's gates with planted ties (identical key blocks give identical block means,
  /// so identical gates): both keep the lower blocks, as a stable sort by descending gate would.
  @Test("MoBA's and NSA's block selections break ties toward the lower block, in both forms")
  func blockSelectionTies() {
    let (block, blocks, d) = (4, 8, 4)
    let one = RandomTensors.make([1, block, 1, d], seed: 9)
    let k = concatenate(Array(repeating: one, count: blocks), axis: 1)
    let q = RandomTensors.make([1, block * blocks, 1, d], seed: 10),
      v = RandomTensors.make([1, block * blocks, 1, d], seed: 11)
    let gate = Tensor.ones([1, block * blocks, 1])
    for form in [Form.reference, .tiled(queryBlock: 8, keyBlock: 4)] {
      let moba = mixtureOfBlockAttentionWithSelection(q, k, v, block: block, topK: 3, form: form).selection
      let nsa = nativeSparseAttention(
        q, k, v, compressedGate: gate, selectedGate: gate, windowGate: gate, block: block, selectedBlocks: 5, window: 2,
        form: form
      ).selection
      for t in 0..<(block * blocks) {
        let own = t / block
        #expect(moba.chosen(0, 0, t) == Array(Set([0, 1].filter { $0 < own } + [own])).sorted(), "\(form) MoBA t \(t)")
        // NSA: 0, own, own − 1 forced, then the lowest other complete blocks.
        let complete = (t + 1) / block
        let forced = Set([0, own, own - 1].filter { $0 >= 0 })
        let rest = (0..<complete).filter { !forced.contains($0) }.prefix(5 - forced.count)
        #expect(nsa.chosen(0, 0, t) == (Array(forced) + rest).sorted(), "\(form) NSA t \(t)")
      }
    }
  }

  /// Small blocks, windows and budgets, so that the patterns are sparse over 40 tokens: every
  /// sparse layer decodes from its cache exactly what its parallel (tiled) form computes.
  @Test("decoding from a cache reproduces the parallel form, every sparse layer, sparse settings")
  func decoding() throws {
    let settings: [(String, [String: JSONValue])] = [
      (
        "longformer",
        [
          "heads": 2, "window": 5, "dilation": 2, "globalTokens": [0, 9],
          "form": .object(["tiled": .object(["queryBlock": 8, "keyBlock": 8])]),
        ]
      ),
      (
        "bigbird",
        [
          "heads": 2, "block": 4, "globalBlocks": 1, "randomBlocks": 2, "seed": 3,
          "form": .object(["tiled": .object(["queryBlock": 8, "keyBlock": 4])]),
        ]
      ),
      ("topk-attn", ["heads": 2, "topK": 3, "form": .object(["tiled": .object(["queryBlock": 8, "keyBlock": 8])])]),
      (
        "moba",
        ["heads": 2, "block": 4, "topK": 2, "form": .object(["tiled": .object(["queryBlock": 8, "keyBlock": 4])])]
      ),
      (
        "nsa",
        [
          "heads": 4, "keyValueHeads": 2, "block": 4, "selectedBlocks": 2, "window": 5,
          "form": .object(["tiled": .object(["queryBlock": 8, "keyBlock": 4])]),
        ]
      ),
    ]
    for (kind, options) in settings {
      let entry = try #require(Zoo.families[kind])
      var rng = RandomGenerator(seed: 11)
      let layer = try entry.make(options, width: 16, generator: &rng)
      let x = rng.normal([2, 40, 16], standardDeviation: 0.5)
      var context = ForwardContext()
      let parallel = layer(x, &context)
      let fraction = try #require(context.statistics.first { $0.name == "attended_key_fraction" }?.values.first)
      #expect(fraction > 0 && fraction < 0.75, "\(kind): attended-key fraction \(fraction) (should be sparse)")
      let recurrent = try #require(layer as? any RecurrentLayer)
      for (t, y) in decodeOpened(recurrent, x).enumerated() {
        let error = y.relativeError(to: parallel.select(axis: 1, index: t))
        #expect(error < 1e-5, "\(kind) token \(t): \(error)")
      }
    }
  }
}
