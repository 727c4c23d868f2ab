import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

/// Token-to-concept stages (``ChunkingLayer``, ``DynamicChunking``): a model whose middle stage runs
/// on concepts — causal, decoding as its parallel form, its inner blocks at the concept length,
/// its ratio loss and statistics reported, its spec errors named by JSON path.
@Suite("Token-to-concept chunking")
struct ConceptChunkingTests {
  /// attn | chunk(inner blocks) | attn, width 16.
  static func spec(
    rule: DynamicChunking.Rule, inner: [String] = ["attn", "gla"], ratio: Double = 2, direction: Direction = .causal
  ) -> ModelSpec {
    let block = { (kind: String) in
      BlockSpec(mixer: .layer(kind, ["heads": 2]), channel: .layer("swiglu", ["hidden": 24]))
    }
    return ModelSpec(
      vocabulary: 13, width: 16, direction: direction,
      stages: [
        StageSpec(blocks: [block("attn")]),
        StageSpec(
          resample: ResampleSpec(kind: "chunk", options: ["rule": .string(rule.rawValue), "ratio": .number(ratio)]),
          blocks: inner.map(block)),
        StageSpec(blocks: [block("attn")]),
      ])
  }

  static func model(_ spec: ModelSpec, seed: UInt64 = 3) throws -> LanguageModel {
    var rng = RandomGenerator(seed: seed)
    let model = try LanguageModel(spec, generator: &rng)
    // Random routing projections (the identity start puts every boundary where tokens differ).
    try model.update(
      Dictionary(
        uniqueKeysWithValues: model.namedParameters().filter { $0.name.hasPrefix("resamplers.") }.map {
          ($0.name, rng.normal($0.value.shape, standardDeviation: 0.5))
        }))
    return model
  }

  @Test(
    "decoding token by token forms each concept when its boundary arrives and equals the parallel form",
    arguments: DynamicChunking.Rule.allCases)
  func decoding(rule: DynamicChunking.Rule) throws {
    for inner in [["attn", "gla"], ["mamba2"]] {
      let model = try Self.model(Self.spec(rule: rule, inner: inner))
      var rng = RandomGenerator(seed: 7)
      try expectDecodingMatchesParallel(model, &rng, "\(rule) \(inner)")
    }
  }

  @Test("causal: changing later tokens leaves every earlier logit unchanged", arguments: DynamicChunking.Rule.allCases)
  func causal(rule: DynamicChunking.Rule) throws {
    let model = try Self.model(Self.spec(rule: rule))
    var rng = RandomGenerator(seed: 9)
    let tokens = rng.integers([2, 23], in: 0..<13)
    let logits = model(tokens)
    for cut in [1, 8, 17] {
      var changed = tokens.values
      for row in 0..<2 { for t in cut..<23 { changed[row * 23 + t] = (changed[row * 23 + t] + 5) % 13 } }
      let other = model(IndexTensor(changed, shape: [2, 23]))
      let before = logits.slice(axis: 1, 0..<cut), after = other.slice(axis: 1, 0..<cut)
      #expect(before.contiguous().scalars == after.contiguous().scalars, "\(rule): logits before \(cut) changed")
    }
  }

  @Test("the inner blocks run on the concepts; the ratio loss, concept counts and realised ratio are reported")
  func innerStageAndReports() throws {
    let model = try Self.model(Self.spec(rule: .conceptMoE, inner: ["attn"]))
    var rng = RandomGenerator(seed: 4)
    let tokens = rng.integers([3, 40], in: 0..<13)
    let output = model.forward(tokens)
    let concepts = try #require(output.statistics.first { $0.name == "concepts" }).values.map { Int($0) }
    let ratio = try #require(output.statistics.first { $0.name == "realised_ratio" }).values[0]
    #expect(concepts.count == 3 && concepts.allSatisfy { $0 >= 1 && $0 <= 40 })
    #expect(abs(ratio - 120 / Double(concepts.reduce(0, +))) < 1e-12)
    let loss = try #require(output.auxiliaryLosses.first { $0.name == "chunk_ratio" })
    #expect(loss.layer == "resamplers.0" && loss.weight == Float(0.03))
    // The inner block's counted cost is taken at the padded concept length of this forward pass.
    let m = concepts.max()!
    let inner = model.layers[1].cost(batch: 3, time: m, context: CostContext())
    let outer = model.layers[0].cost(batch: 3, time: 40, context: CostContext())
    let chunker = model.resamplers[0].cost(batch: 3, time: 40)
    #expect(model.cost(batch: 3, time: 40).flops == 2 * outer.flops + inner.flops + chunker.flops)
    #expect(model.resamplers[0].conceptLength(batch: 3, time: 40) == m)
  }

  @Test("gradients reach the routing projections through the straight-through scores and the EMA, and the ratio loss")
  func gradients() throws {
    let model = try Self.model(Self.spec(rule: .hNet))
    var rng = RandomGenerator(seed: 2)
    let tokens = rng.integers([2, 19], in: 0..<13)
    for objective in ["output", "ratio loss"] {
      let gradients = valueAndGradient(of: model) { m in
        let out = m.forward(tokens)
        return objective == "output" ? (out.logits * out.logits).mean() : out.weightedAuxiliaryLoss!
      }.1
      for name in ["resamplers.0.q_proj.weight", "resamplers.0.k_proj.weight"] {
        let g = try #require(gradients[name], "\(objective): no gradient for \(name)")
        #expect(g.abs().max().scalar > 0, "\(objective): zero gradient for \(name)")
      }
    }
  }

  @Test("spec errors name the JSON path: a bidirectional model, an unknown resampler, a ratio of 1")
  func specErrors() throws {
    func error(_ spec: ModelSpec) -> String {
      var rng = RandomGenerator(seed: 1)
      do {
        _ = try LanguageModel(spec, generator: &rng)
        return "built"
      } catch { return "\(error)" }
    }
    let bidirectional = error(Self.spec(rule: .conceptMoE, direction: .bidirectional))
    #expect(bidirectional.hasPrefix("stages[1].resample.kind: \"chunk\" has no bidirectional form"), "\(bidirectional)")
    var unknown = Self.spec(rule: .conceptMoE)
    unknown.stages[1].resample = ResampleSpec(kind: "pool")
    let unknownError = error(unknown)
    #expect(
      unknownError.hasPrefix("stages[1].resample.kind: no layer family is registered as \"pool\""), "\(unknownError)")
    #expect(unknownError.contains("\"chunk\""), "\(unknownError)")
    let ratioError = error(Self.spec(rule: .conceptMoE, ratio: 1))
    #expect(
      ratioError.contains("stages[1].resample.options.ratio") && ratioError.contains("must exceed 1"), "\(ratioError)")
  }
}
