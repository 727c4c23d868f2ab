import Foundation
import TesseraCore
import TesseraNN
import TesseraZoo

/// `tessera bench conditional`: inference time of skipped work, next to its counted FLOPs, in
/// paired rounds against the same model with nothing skipped.
///
/// - `module_pruning`: 8 gated blocks (attention + SwiGLU, width 256), 16 sequences of 256 tokens
///   (quick: 8 × 128); the gate predictor's logits are set so that a fixed fraction of the 16
///   modules (0, 25, 50, 75%: every fourth module, then more) is skipped for every sequence.
/// - `concept_chunking`: a chunk stage of 4 attention + SwiGLU blocks, then one token-level block,
///   width 256, 4 sequences of 1,024 tokens (quick: 2 × 512). Token embeddings ±e and identity
///   routing projections make the boundaries exact: a run of equal tokens is one concept, so runs
///   of 1, 1–2, 2 and 4 tokens give a realised ratio R of 1, 1.5, 2 and 4. Each is paired with the
///   same blocks without chunking (`time_ratio` = chunked ÷ unchunked; the prefill speed-up is its
///   inverse).
struct ConditionalComputeBench {
  let quick: Bool
  let filter: String?

  static let width = 256

  func run() {
    let rounds = quick ? 3 : 7
    for skipped in [0, 4, 8, 12] { modulePruning(skippedOf16: skipped, rounds: rounds) }
    for ratio in [1.0, 1.5, 2, 4] { conceptChunking(ratio: ratio, rounds: rounds) }
  }

  func wanted(_ name: String) -> Bool { filter.map { name.contains($0) } ?? true }

  // MARK: Module pruning

  func modulePruning(skippedOf16 skipped: Int, rounds: Int) {
    let (batch, time) = quick ? (8, 128) : (16, 256)
    let name = "B\(batch) T\(time) D\(Self.width) 8 blocks, \(skipped * 100 / 16)% of modules skipped"
    guard wanted(name) else { return }
    let block = BlockSpec(
      mixer: .layer("attn", ["heads": 4]), channel: .layer("swiglu"), norm: .rmsNorm, repeats: 8, gate: GateSpec())
    let spec = ModelSpec(
      vocabulary: 256, width: Self.width, stages: [StageSpec(blocks: [block])], norm: .rmsNorm,
      gating: GatingSpec(inputs: .context, contexts: 1, hidden: 8))
    var rng = RandomGenerator(seed: 0)
    let model = try! LanguageModel(spec, generator: &rng)
    // Module m is skipped when its rank in the order 0, 4, 8, 12, 1, 5, … is below `skipped`.
    let order = (0..<4).flatMap { offset in stride(from: offset, to: 16, by: 4).map { $0 } }
    let skip = Set(order.prefix(skipped))
    func setBias(_ skipSet: Set<Int>) {
      let bias = (0..<32).map { i -> Float in (i % 2 == 1) == !skipSet.contains(i / 2) ? 1 : 0 }
      try! model.update([
        "gate_predictor.output.weight": Tensor.zeros([32, 8]),
        "gate_predictor.output.bias": Tensor(bias, shape: [32]),
      ])
    }
    let tokens = rng.integers([batch, time], in: 0..<256)
    let options = ForwardOptions(contexts: Array(repeating: 0, count: batch))
    func forward() { _ = withoutGradients { model.forward(tokens, options: options) } }
    let paired = BenchReport.paired(
      rounds: rounds,
      {
        setBias(skip)
        return BenchReport.time(budget: 0, minimumRepeats: 1, forward)
      },
      {
        setBias([])
        return BenchReport.time(budget: 0, minimumRepeats: 1, forward)
      })
    setBias([])
    forward()
    let full = model.cost(batch: batch, time: time).flops
    setBias(skip)
    let output = withoutGradients { model.forward(tokens, options: options) }
    let counted = model.cost(batch: batch, time: time).flops
    let sparsity = output.statistics.first { $0.name == "sparsity" }?.values.first ?? .nan
    let extra = paired.spread(rounds: rounds).merging([
      "sparsity": String(format: "%.3f", sparsity), "full_ms": String(format: "%.2f", paired.second * 1e3),
      "gflop": String(format: "%.3f", Double(counted) / 1e9), "full_gflop": String(format: "%.3f", Double(full) / 1e9),
      "flop_ratio": String(format: "%.3f", Double(counted) / Double(full)),
    ]) { a, _ in a }
    BenchReport.emit("module_pruning", name, metric: "ms", value: paired.first * 1e3, extra: extra)
    BenchReport.emit("module_pruning", name, metric: "time_ratio", value: paired.ratio, extra: extra)
  }

  // MARK: Concept chunking

  /// Runs of equal tokens whose lengths average `ratio`: 1, alternating 1 and 2, 2, 4.
  static func runLengths(_ ratio: Double) -> [Int] {
    switch ratio {
    case 1: return [1]
    case 1.5: return [1, 2]
    default: return [Int(ratio)]
    }
  }

  func conceptChunking(ratio: Double, rounds: Int) {
    let (batch, time) = quick ? (2, 512) : (4, 1024)
    let name = "B\(batch) T\(time) D\(Self.width) 4 inner blocks, R \(ratio)"
    guard wanted(name) else { return }
    let block = BlockSpec(mixer: .layer("attn", ["heads": 4]), channel: .layer("swiglu"), norm: .rmsNorm)
    let inner = BlockSpec(
      mixer: .layer("attn", ["heads": 4]), channel: .layer("swiglu"), norm: .rmsNorm, repeats: 4)
    let chunked = ModelSpec(
      vocabulary: 2, width: Self.width,
      stages: [
        StageSpec(
          resample: ResampleSpec(kind: "chunk", options: ["ratio": .number(max(ratio, 1.01))]), blocks: [inner]),
        StageSpec(blocks: [block]),
      ], norm: .rmsNorm)
    let plain = ModelSpec(
      vocabulary: 2, width: Self.width, stages: [StageSpec(blocks: [inner, block])], norm: .rmsNorm)
    var rng = RandomGenerator(seed: 0)
    let model = try! LanguageModel(chunked, generator: &rng)
    var rngPlain = RandomGenerator(seed: 0)
    let baseline = try! LanguageModel(plain, generator: &rngPlain)
    // Token 1 is token 0 reversed: equal neighbours have cos 1 (p 0), different ones cos −1 (p 1).
    let e = rng.normal([1, Self.width])
    let table = concatenate([e, -e], axis: 0)
    try! model.update(["embedding.weight": table])
    try! baseline.update(["embedding.weight": table])
    var values: [Int] = []
    for _ in 0..<batch {
      var row: [Int] = [], token = 0, run = 0
      let lengths = Self.runLengths(ratio)
      while row.count < time {
        row += Array(repeating: token, count: min(lengths[run % lengths.count], time - row.count))
        token = 1 - token
        run += 1
      }
      values += row
    }
    let tokens = IndexTensor(values, shape: [batch, time])
    let paired = BenchReport.paired(
      rounds: rounds,
      { BenchReport.time(budget: 0, minimumRepeats: 1) { _ = withoutGradients { model.forward(tokens) } } },
      { BenchReport.time(budget: 0, minimumRepeats: 1) { _ = withoutGradients { baseline.forward(tokens) } } })
    let output = withoutGradients { model.forward(tokens) }
    let realised = output.statistics.first { $0.name == "realised_ratio" }?.values.first ?? .nan
    let counted = model.cost(batch: batch, time: time).flops
    let plainFlops = baseline.cost(batch: batch, time: time).flops
    // The inner stage's attention cores alone (scores, softmax, values): the part that falls as (L ÷ M)².
    let m = model.resamplers[0].conceptLength(batch: batch, time: time)
    let form = Form.tiled(queryBlock: 128, keyBlock: 128)
    let innerAttention = attentionCoreFlops(time: m, dimension: 64, mask: .causal, form: form, positionBias: false)
    let plainAttention = attentionCoreFlops(time: time, dimension: 64, mask: .causal, form: form, positionBias: false)
    let extra = paired.spread(rounds: rounds).merging([
      "realised_ratio": String(format: "%.3f", realised), "unchunked_ms": String(format: "%.2f", paired.second * 1e3),
      "gflop": String(format: "%.3f", Double(counted) / 1e9),
      "unchunked_gflop": String(format: "%.3f", Double(plainFlops) / 1e9),
      "flop_ratio": String(format: "%.3f", Double(counted) / Double(plainFlops)),
      "attention_core_flop_ratio": String(format: "%.3f", Double(plainAttention) / Double(innerAttention)),
      "length_ratio_squared": String(format: "%.3f", pow(Double(time) / Double(m), 2)),
      "kv_cache_ratio": String(
        format: "%.3f",
        Double(baseline.layers[0].mixer.cost(batch: batch, time: time).stateBytes)
          / Double(model.layers[0].mixer.cost(batch: batch, time: m).stateBytes)),
    ]) { a, _ in a }
    BenchReport.emit("concept_chunking", name, metric: "ms", value: paired.first * 1e3, extra: extra)
    BenchReport.emit("concept_chunking", name, metric: "time_ratio", value: paired.ratio, extra: extra)
  }
}
