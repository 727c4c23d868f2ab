import Foundation
import TesseraCore
import TesseraNN
import TesseraZoo

/// `tessera bench mixers`: forward + backward time per token of each sequence mixer (d_model 256,
/// batch 1, 4 heads) at growing sequence lengths, next to tiled softmax attention — the curves
/// whose slopes say which mixers are linear in T and where they overtake attention.
struct MixerBench {
  let quick: Bool
  let filter: String?

  func run() {
    let d = 256
    let lengths = quick ? [256, 1024] : [1024, 4096, 16384]
    let names = [
      "attn", "fox", "linear", "retnet", "gla", "deltanet", "gated-deltanet", "ttt-linear", "ttt-mlp", "s4d", "mamba",
      "mamba2",
    ]
    for name in names where filter.map({ name.contains($0) || "mixers".contains($0) }) ?? true {
      var rng = RandomGenerator(seed: 0)
      let config = LanguageModelConfig(vocabularySize: 16, modelDimension: d, layerPattern: name, heads: 4)
      let model = LanguageModel(config, generator: &rng)
      let mixer = model.layers[0].mixer
      for t in lengths {
        let x = rng.normal([1, t, d], standardDeviation: 0.5)
        let g = rng.normal([1, t, d])
        let once = {
          _ = valueAndPullback(at: x, cotangent: g) { mixer($0) }
        }
        let seconds = BenchReport.time(budget: quick ? 0.2 : 1, minimumRepeats: 1, once)
        let cost = mixer.cost(batch: 1, time: t)
        let extra = ["mixer": "\"\(name)\"", "tokens": "\(t)"]
        let label = "\(name) d\(d) T\(t) B1 forward+backward"
        BenchReport.emit("mixers", label, metric: "us_per_token", value: seconds / Double(t) * 1e6, extra: extra)
        BenchReport.emit(
          "mixers", label, metric: "forward_gflop_counted", value: Double(cost.flops) / 1e9, extra: extra)
      }
    }
  }
}
