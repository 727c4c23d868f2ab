import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo

/// A whole model quantized for inference: every linear layer of its blocks, the report's bytes,
/// outputs near the float model's, and the float model back after dequantizing.
@Suite("Quantized models")
struct QuantizedModelTests {
  @Test(
    "quantizeLinearLayers: every projection quantized, bytes counted, logits near the float model's, undone exactly")
  func quantizeModel() throws {
    var rng = RandomGenerator(seed: 2)
    let model = try LanguageModel(
      pattern: "attn|swiglu*3", vocabulary: 40, width: 64, channel: nil, options: ["heads": 4, "hidden": 256],
      generator: &rng)
    let tokens = rng.integers([2, 12], in: 0..<40)
    let float = withoutGradients { model(tokens) }
    for (scheme, bound, ratio) in [
      (QuantizedMatrix.Scheme.int8PerChannel, Float(0.02), 3.6), (.int4Grouped(group: 32), Float(0.25), 5.3),
    ] {
      let report = model.quantizeLinearLayers(scheme)
      #expect(report.layers.count == 3 * (4 + 3) + 1, "\(report.layers)")  // and the embedding
      #expect(
        report.layers.contains("layers.0.mixer.attention.q_proj") || report.layers.contains { $0.hasSuffix("q_proj") })
      #expect(report.ratio > ratio, "\(report)")
      let quantized = withoutGradients { model(tokens) }
      #expect(quantized.relativeError(to: float) < bound, "\(scheme): \(quantized.relativeError(to: float))")
      model.dequantizeLinearLayers()
      #expect(withoutGradients { model(tokens) }.relativeError(to: float) == 0)
    }
  }
}
