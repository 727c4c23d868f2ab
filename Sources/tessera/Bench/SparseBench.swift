import Foundation
import TesseraCore
import TesseraZoo

/// `tessera bench sparse`: each sparse pattern's forward time against dense causal tiled
/// attention in the same run, next to its live-tile density — whether skipping tiles saves what
/// it should. Shapes `[B, T, H, D]` = `[1, T, 8, 32]` (width 256, 8 heads), tiles of 128 × 128,
/// T = 4k, 16k, 32k (quick: 2k, 4k).
///
/// Per pattern and T: `ms` (median over rounds), `time_ratio` (median over rounds of the
/// pattern's time ÷ the dense time of the same round), `density` (scores the kernel computes ÷
/// the dense causal kernel's), `efficiency` (density ÷ time ratio: 1 when time falls exactly
/// with the work skipped), and `attended` (kept (query, key) pairs ÷ causal pairs). A static
/// pattern's mask is compiled once per shape outside the timed region (`compile_ms`, as
/// FlexAttention's `create_block_mask`); a dynamic pattern's time includes its selection.
struct SparseBench {
  let quick: Bool
  let filter: String?

  /// A case runs when each word of the filter is part of "<shape> <pattern>" (`T16384`, `sliding`,
  /// `T4096 moba`).
  func wanted(_ shape: String, _ pattern: String) -> Bool {
    filter.map { $0.split(separator: " ").allSatisfy { "\(shape) \(pattern)".contains($0) } } ?? true
  }

  /// A pattern: its name, a preparation outside the timed region (compiling a static mask, as
  /// FlexAttention's `create_block_mask` is done once per shape), and a run that returns the
  /// computed scores and the attended fraction.
  struct Case {
    let name: String
    let maxTime: Int
    let prepare: (Int) -> BlockMask?
    let run: (Tensor, Tensor, Tensor, BlockMask?) -> (scores: Int, attended: Double)
  }

  static let tile = 128

  static func staticCase(_ name: String, _ mask: AttentionMask, maxTime: Int = .max) -> Case {
    Case(name: name, maxTime: maxTime, prepare: { BlockMask(mask, time: $0, queryBlock: tile, keyBlock: tile) }) {
      q, k, v, blockMask in
      let blockMask = blockMask!
      _ = blockSparseAttention(q, k, v, mask: blockMask)
      return (blockMask.visits.scores * q.shape[2], blockMask.attendedFraction)
    }
  }

  static var cases: [Case] {
    [
      staticCase("sliding window 1024", .slidingWindow(1024)),
      staticCase("dilated window 512 × 2", .dilatedWindow(window: 512, dilation: 2)),
      staticCase("longformer window 1024 + 128 global", .causal && (.slidingWindow(1024) || .global(Array(0..<128)))),
      staticCase(
        "bigbird blocks of 128 (2 local, 1 global, 3 random)",
        .causal && .bigBird(BigBirdPattern(block: 128, windowBlocks: 2, globalBlocks: 1, randomBlocks: 3))),
      Case(name: "moba blocks of 128, top 8", maxTime: .max, prepare: { _ in nil }) { q, k, v, _ in
        let r = mixtureOfBlockAttentionWithSelection(
          q, k, v, block: 128, topK: 8, form: .tiled(queryBlock: tile, keyBlock: tile))
        let mask = r.blockMask!
        return (mask.visits.scores * q.shape[2] / mask.slices, mask.attendedFraction)
      },
      Case(name: "nsa blocks of 64, 16 selected, window 512", maxTime: .max, prepare: { _ in nil }) { q, k, v, _ in
        let (b, t, h) = (q.shape[0], q.shape[1], q.shape[2])
        let gate = Tensor.ones([b, t, h]) * 0.5
        let r = nativeSparseAttention(
          q, k, v, compressedGate: gate, selectedGate: gate, windowGate: gate, block: 64, selectedBlocks: 16,
          window: 512,
          // Key tiles of NSA's block: each row then sees all of a selected tile or none of it.
          form: .tiled(queryBlock: tile, keyBlock: 64))
        let scores = r.blockMasks.reduce(0) { $0 + $1.visits.scores * h / $1.slices }
        let selected = r.blockMasks[1]
        return (scores, selected.attendedFraction)
      },
      Case(name: "top-k 1024", maxTime: 4096, prepare: { _ in nil }) { q, k, v, _ in
        let r = topKAttentionWithSelection(q, k, v, topK: 1024, form: .tiled(queryBlock: tile, keyBlock: tile))
        let mask = r.blockMask!
        return (mask.visits.scores * q.shape[2] / mask.slices, mask.attendedFraction)
      },
    ]
  }

  func run() {
    let (heads, dimension) = (8, 32)
    let lengths = quick ? [2048, 4096] : [4096, 16384, 32768]
    var rng = RandomGenerator(seed: 0)
    for t in lengths {
      let name = "B1 T\(t) H\(heads) D\(dimension)"
      guard wanted(name, "dense causal") || Self.cases.contains(where: { wanted(name, $0.name) && t <= $0.maxTime })
      else { continue }
      let q = rng.normal([1, t, heads, dimension]), k = rng.normal([1, t, heads, dimension])
      let v = rng.normal([1, t, heads, dimension])
      let denseScores = BlockMask(.causal, time: t, queryBlock: Self.tile, keyBlock: Self.tile).visits.scores * heads
      func timeDense() -> Double {
        BenchReport.time(budget: 0, minimumRepeats: 1) {
          _ = attention(q, k, v, mask: .causal, form: .tiled(queryBlock: Self.tile, keyBlock: Self.tile))
        }
      }
      let rounds = quick ? 3 : (t >= 32768 ? 3 : 5)
      if wanted(name, "dense causal") {
        let dense = (0..<rounds).map { _ in timeDense() }.sorted()[rounds / 2]
        BenchReport.emit(
          "sparse_forward", name, metric: "ms", value: dense * 1e3, extra: ["pattern": "\"dense causal\""])
      }
      for c in Self.cases where wanted(name, c.name) && t <= c.maxTime {
        let compileStart = DispatchTime.now().uptimeNanoseconds
        let prepared = c.prepare(t)
        let compile = Double(DispatchTime.now().uptimeNanoseconds - compileStart) * 1e-9
        var result = (scores: 0, attended: 0.0)
        let paired = BenchReport.paired(
          rounds: rounds,
          {
            let start = DispatchTime.now().uptimeNanoseconds
            result = c.run(q, k, v, prepared)
            return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
          }, timeDense)
        let density = Double(result.scores) / Double(denseScores)
        let extra = ["pattern": BenchReport.json(c.name)].merging(paired.spread(rounds: rounds)) { a, _ in a }
        BenchReport.emit("sparse_forward", name, metric: "ms", value: paired.first * 1e3, extra: extra)
        BenchReport.emit("sparse_forward", name, metric: "time_ratio", value: paired.ratio, extra: extra)
        BenchReport.emit("sparse_forward", name, metric: "density", value: density, extra: extra)
        BenchReport.emit("sparse_forward", name, metric: "efficiency", value: density / paired.ratio, extra: extra)
        BenchReport.emit("sparse_forward", name, metric: "attended", value: result.attended, extra: extra)
        if prepared != nil {
          BenchReport.emit("sparse_forward", name, metric: "compile_ms", value: compile * 1e3, extra: extra)
        }
      }
    }
  }
}
