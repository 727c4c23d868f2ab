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

  func run() {
    for attention in [AttentionImplementation.tiled(queryBlock: 128, keyBlock: 128), .naive] {
      let implName: String
      if case .naive = attention { implName = "naive" } else { implName = "tiled" }
      if let filter, !implName.contains(filter) && !"train_step".contains(filter) { continue }
      var rng = RandomGenerator(seed: 0)
      let config = LanguageModelConfig(
        vocabularySize: 256, modelDimension: 256, layerPattern: "attn,attn,attn,attn", heads: 4, attention: attention)
      let model = LanguageModel(config, generator: &rng)
      let optimizer = AdamW(learningRate: 3e-4, weightDecay: 0.1)
      let (batch, time) = (8, 256)
      let tokens = rng.integers([batch, time], in: 0..<256), targets = rng.integers([batch, time], in: 0..<256)
      let step = {
        let (_, g) = valueAndGradient(of: model) { $0.loss(tokens, targets: targets) }
        optimizer.update(model, gradients: clipByGlobalNorm(g, maxNorm: 1).gradients)
      }
      let seconds = BenchReport.time(budget: quick ? 1 : 5, minimumRepeats: quick ? 3 : 5, step)
      let name = "gpt d256 L4 H4 T256 B8 V256 adamw"
      let extra = ["impl": "\"tessera\"", "attention": "\"\(implName)\""]
      BenchReport.emit("train_step", name, metric: "ms", value: seconds * 1e3, extra: extra)
      BenchReport.emit("train_step", name, metric: "tokens_per_s", value: Double(batch * time) / seconds, extra: extra)
    }
  }
}
