import Foundation
import TesseraCore
import TesseraNN
import TesseraZoo

/// `tessera bench mixers`: forward + backward time per token of each sequence mixer of
/// `Zoo.families` (d_model 256, batch 1, 4 heads where the family has heads) at growing sequence
/// lengths — the gradient taken with respect to the input and every parameter, as in training —
/// next to tiled softmax attention: the curves whose slopes say which mixers are linear in T and
/// where they overtake attention.
struct MixerBench {
  let quick: Bool
  let filter: String?

  func run() {
    let d = 256
    let lengths = quick ? [256, 1024] : [1024, 4096, 16384]
    for entry in Zoo.families.entries where entry.slot == .sequence {
      let name = entry.kind
      guard filter.map({ name.contains($0) || "mixers".contains($0) }) ?? true else { continue }
      var rng = RandomGenerator(seed: 0)
      let options: [String: JSONValue] = entry.optionKeys.contains("heads") ? ["heads": 4] : [:]
      let mixer = try! entry.make(options, width: d, path: name, generator: &rng)
      for t in lengths {
        let x = rng.normal([1, t, d], standardDeviation: 0.5)
        let g = rng.normal([1, t, d])
        let once = { _ = Self.inputAndParameterGradients(mixer, x, cotangent: g) }
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

  /// The gradient of `Σ layer(x) ⊙ g` with respect to `x` and to every parameter of `layer`: what
  /// one training step's backward pass computes for this layer.
  static func inputAndParameterGradients(_ layer: any LayerFamily, _ x: Tensor, cotangent g: Tensor) -> [String: Tensor]
  {
    let (_, gradient, inputGradient) = valueAndGradient(of: layer, at: x) { layer, x in (layer(x) * g).sum() }
    return gradient.merging(["input (not a parameter)": inputGradient]) { a, _ in a }
  }
}
