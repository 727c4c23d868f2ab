import Foundation
import TesseraCore
import TesseraNN
import TesseraZoo

/// `tessera bench train`: one training step (forward, backward, gradient clipping, AdamW) of a
/// GPT-style language model — d_model 256, 4 layers, 4 heads, T 256, batch 8, vocabulary 256 —
/// the case `Scripts/compare-pytorch.py` times for PyTorch.
struct TrainBench {
  let quick: Bool
  let filter: String?

  /// One training step of the benchmark's model (built from seed 0) with attention in `form`.
  static func makeStep(form: Form) -> () -> Void {
    var rng = RandomGenerator(seed: 0)
    let model = try! LanguageModel(
      pattern: "attn*4", vocabulary: 256, width: 256,
      options: ["heads": 4, "rotary": false, "form": try! JSONValue(encoding: form)], generator: &rng)
    let optimizer = AdamW(learningRate: 3e-4, weightDecay: 0.1)
    let (batch, time) = (8, 256)
    let tokens = rng.integers([batch, time], in: 0..<256), targets = rng.integers([batch, time], in: 0..<256)
    return {
      let (_, g) = valueAndGradient(of: model) { $0.loss(tokens, targets: targets) }
      optimizer.update(model, gradients: clipByGlobalNorm(g, maxNorm: 1).gradients)
    }
  }

  /// The tiled step on the portable GEMM and on OpenBLAS, alternating within one process (each
  /// round times both; the ratio is the median of the rounds' ratios): what the default costs.
  func compareGEMMKernels() {
    let step = Self.makeStep(form: .tiled(queryBlock: 128, keyBlock: 128))
    let rounds = quick ? 5 : 11
    let budget = quick ? 0.5 : 1.5
    let times = BenchReport.paired(
      rounds: rounds, { Runtime.withGEMMKernel(.portable()) { BenchReport.time(budget: budget, step) } },
      { Runtime.withGEMMKernel(.fast) { BenchReport.time(budget: budget, step) } })
    let name = "gpt d256 L4 H4 T256 B8 V256 adamw"
    BenchReport.emit(
      "train_gemm", name, metric: "ms", value: times.first * 1e3,
      extra: ["impl": "\"portable/\(GEMMKernel.portable().instructionSet)\""])
    BenchReport.emit("train_gemm", name, metric: "ms", value: times.second * 1e3, extra: ["impl": "\"openblas\""])
    BenchReport.emit(
      "train_gemm", name, metric: "portable_over_fast", value: times.ratio, extra: times.spread(rounds: rounds))
  }

  func run() {
    for (implName, form) in [("tiled", Form.tiled(queryBlock: 128, keyBlock: 128)), ("naive", .reference)] {
      if let filter, !implName.contains(filter) && !"train_step".contains(filter) { continue }
      let (batch, time) = (8, 256)
      let step = Self.makeStep(form: form)
      let seconds = BenchReport.time(budget: quick ? 1 : 5, minimumRepeats: quick ? 3 : 5, step)
      let name = "gpt d256 L4 H4 T256 B8 V256 adamw"
      let extra = ["impl": "\"tessera\"", "attention": "\"\(implName)\""]
      BenchReport.emit("train_step", name, metric: "ms", value: seconds * 1e3, extra: extra)
      BenchReport.emit("train_step", name, metric: "tokens_per_s", value: Double(batch * time) / seconds, extra: extra)
    }
    if filter == nil || "parts".contains(filter!) { parts() }
  }

  /// Where a tiled step's time goes: each part of one layer timed alone on the step's shapes
  /// (forward + backward), then the model's forward, its backward, clipping and AdamW.
  func parts() {
    var rng = RandomGenerator(seed: 0)
    let (batch, time, d, heads) = (8, 256, 256, 4)
    let budget = quick ? 0.5 : 2.0
    func emit(_ part: String, _ seconds: Double) {
      BenchReport.emit("train_parts", part, metric: "ms", value: seconds * 1e3, extra: ["impl": "\"tessera\""])
    }
    let x = rng.normal([batch, time, d])
    let q = rng.normal([batch, time, heads, d / heads]), k = rng.normal(q.shape), v = rng.normal(q.shape)
    emit(
      "attention kernel fwd+bwd [8,256,4,64]",
      BenchReport.time(budget: budget) {
        _ = gradient(at: [q, k, v]) {
          attention($0[0], $0[1], $0[2], form: .tiled(queryBlock: 128, keyBlock: 128)).square().sum()
        }
      })
    let rope = RotaryEmbedding(dimension: d / heads)
    emit(
      "rotary fwd+bwd [8,256,4,64]",
      BenchReport.time(budget: budget) { _ = gradient(at: q) { rope($0).square().sum() } })
    emit(
      "rotary fwd+bwd [8,256,4,64], composed form",
      BenchReport.time(budget: budget) { _ = gradient(at: q) { rope.composed($0).square().sum() } })
    let mlp = MLP(d, hidden: 4 * d, generator: &rng)
    emit("mlp fwd+bwd", BenchReport.time(budget: budget) { _ = valueAndGradient(of: mlp) { $0(x).square().sum() } })
    let norm = Norm(.layerNorm, d)
    emit(
      "layernorm fwd+bwd", BenchReport.time(budget: budget) { _ = valueAndGradient(of: norm) { $0(x).square().sum() } })
    let linear = Linear(d, d, bias: false, generator: &rng)
    emit(
      "linear d→d fwd+bwd",
      BenchReport.time(budget: budget) { _ = valueAndGradient(of: linear) { $0(x).square().sum() } })
    let model = try! LanguageModel(
      pattern: "attn*4", vocabulary: 256, width: d, options: ["heads": .number(Double(heads)), "rotary": false],
      generator: &rng)
    let tokens = rng.integers([batch, time], in: 0..<256), targets = rng.integers([batch, time], in: 0..<256)
    emit(
      "model forward",
      BenchReport.time(budget: budget) { withoutGradients { _ = model.loss(tokens, targets: targets) } })
    emit(
      "model forward+backward",
      BenchReport.time(budget: budget) { _ = valueAndGradient(of: model) { $0.loss(tokens, targets: targets) } })
    let (_, g) = valueAndGradient(of: model) { $0.loss(tokens, targets: targets) }
    emit("clip", BenchReport.time(budget: budget) { _ = clipByGlobalNorm(g, maxNorm: 1) })
    let optimizer = AdamW(learningRate: 3e-4, weightDecay: 0.1)
    emit("adamw", BenchReport.time(budget: budget) { optimizer.update(model, gradients: g) })
  }
}
