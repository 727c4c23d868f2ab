import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

/// Intra-layer hybrids (``ParallelMixer``): the combination as its definition writes it, decoding
/// token by token equal to the parallel form, gradients reaching every branch.
@Suite("Hybrids")
struct HybridTests {
  static func model(_ pattern: String, combine: MixerSpec.Combine, seed: UInt64 = 3) throws -> LanguageModel {
    let spec = try ModelSpec(pattern: pattern, vocabulary: 16, width: 16, options: ["heads": 2])
      .combiningParallelBranches(combine)
    var rng = RandomGenerator(seed: seed)
    return try LanguageModel(spec, generator: &rng)
  }

  @Test(
    "a parallel mixer decodes token by token as its parallel form computes (KV cache + recurrent state)",
    arguments: MixerSpec.Combine.allCases)
  func decodingMatchesParallel(combine: MixerSpec.Combine) throws {
    for pattern in ["(attn+mamba2),attn", "(attn+gla+retnet)", "(swa:4+deltanet),(attn+s4d)"] {
      let model = try Self.model(pattern, combine: combine)
      var rng = RandomGenerator(seed: 7)
      try expectDecodingMatchesParallel(model, &rng, "\(pattern) \(combine)")
    }
  }

  /// y = Σᵢ βᵢ ⊙ rms(branchᵢ(x)) (learned), the mean of the normalised branches, or W · concat: the
  /// layer's output against the branches run alone and combined by hand.
  @Test("the combination is the one its definition writes", arguments: MixerSpec.Combine.allCases)
  func combination(combine: MixerSpec.Combine) throws {
    let model = try Self.model("(attn+gla)", combine: combine)
    let mixer = try #require(model.layers[0].mixer as? ParallelMixer)
    var rng = RandomGenerator(seed: 11)
    // Non-default gains and weights, so that each term is visible.
    try mixer.update(
      Dictionary(
        uniqueKeysWithValues: mixer.namedParameters().filter { !$0.name.hasPrefix("branches.") }.map {
          ($0.name, rng.normal($0.value.shape))
        }))
    let x = rng.normal([2, 7, 16])
    let outputs = mixer.branches.map { $0(x) }
    let normalised = zip(mixer.norms, outputs).map { norm, y -> Tensor in
      let scalars = y.scalars, gain = norm.weight.scalars
      var out = [Float](repeating: 0, count: scalars.count)
      for row in 0..<(scalars.count / 16) {
        let values = scalars[(row * 16)..<(row * 16 + 16)]
        let rms = (values.reduce(Float(0)) { $0 + $1 * $1 } / 16 + norm.epsilon).squareRoot()
        for j in 0..<16 { out[row * 16 + j] = scalars[row * 16 + j] / rms * gain[j] }
      }
      return Tensor(out, shape: y.shape)
    }
    let expected: Tensor
    switch combine {
    case .mean: expected = (normalised[0] + normalised[1]) * 0.5
    case .learned:
      let beta = mixer.branchWeights!
      expected = normalised[0] * beta.select(axis: 0, index: 0) + normalised[1] * beta.select(axis: 0, index: 1)
    case .concat:
      expected = matmul(concatenate(normalised, axis: 2), mixer.combineWeight!.transposed())
    }
    let error = mixer(x).relativeError(to: expected)
    #expect(error < 1e-5, "\(combine): \(error)")
  }

  @Test("every branch, norm and combination weight gets a gradient; parameters are named by branch")
  func gradientsReachEveryBranch() throws {
    let model = try Self.model("(attn+mamba2)", combine: .learned)
    let names = model.namedParameters().map(\.name)
    #expect(names.contains { $0.hasPrefix("layers.0.mixer.branches.0.") })
    #expect(names.contains { $0.hasPrefix("layers.0.mixer.branches.1.") })
    #expect(names.contains("layers.0.mixer.branch_weights"))
    #expect(names.contains("layers.0.mixer.norms.1.weight"))
    var rng = RandomGenerator(seed: 2)
    let tokens = rng.integers([2, 9], in: 0..<16)
    let gradients = valueAndGradient(of: model) { $0.loss(tokens, targets: tokens) }.1
    for name in names where name.hasPrefix("layers.0.mixer.") {
      let g = try #require(gradients[name], "no gradient for \(name)")
      #expect(g.scalars.contains { $0 != 0 }, "\(name): zero gradient")
    }
  }

  @Test("decoding a parallel mixer with a branch that cannot decode is refused, naming the branch")
  func nonRecurrentBranchRefused() throws {
    let registry = try Zoo.families.adding([ProjectionOnlyMixer.self])
    var rng = RandomGenerator(seed: 0)
    let spec = try ModelSpec(
      pattern: "(attn+test-projection)", vocabulary: 16, width: 8, options: ["heads": 2], registry: registry)
    let model = try LanguageModel(spec, generator: &rng, registry: registry)
    do {
      _ = try model.decodingState(batch: 1)
      Issue.record("decoding was not refused")
    } catch let error as ModelSpecError {
      #expect(error.path == "stages[0].blocks[0].mixer.parallel[1]", "\(error)")
      #expect(error.message.contains("test-projection"), "\(error)")
    }
  }

  @Test(
    "presets: Jamba's 1 : 7 with MoE every other block, GLA + FoX + TTT, Hymba — built, and decoding as in parallel")
  func presets() throws {
    let jamba = try ModelSpec.jamba(vocabulary: 16, width: 16, blocks: 8, experts: 4, heads: 2)
    let kinds = jamba.blocks.map { block -> String in
      if case .layer(let kind, _) = block.block.mixer { return kind }
      return "?"
    }
    let channels = jamba.blocks.map { block -> String in
      if case .layer(let kind, _)? = block.block.channel { return kind }
      return "?"
    }
    #expect(kinds == ["mamba", "mamba", "mamba", "mamba", "attn", "mamba", "mamba", "mamba"], "\(kinds)")
    #expect(channels.enumerated().allSatisfy { ($0.offset % 2 == 1) == ($0.element == "moe-topk") }, "\(channels)")
    let genesis = try ModelSpec.glaFoxTTT(vocabulary: 16, width: 16, blocks: 6, heads: 2)
    #expect(genesis.pattern() == "gla|swiglu,fox|swiglu,ttt-linear|swiglu,gla|swiglu,fox|swiglu,ttt-linear|swiglu")
    // Global attention in the first, middle and last blocks; sliding windows elsewhere.
    let hymba = try ModelSpec.hymba(vocabulary: 16, width: 16, blocks: 6, heads: 2, window: 8)
    #expect(
      hymba.pattern()
        == "(attn+mamba2)|swiglu,(swa:8+mamba2)|swiglu,(swa:8+mamba2)|swiglu,(attn+mamba2)|swiglu,(swa:8+mamba2)|swiglu,(attn+mamba2)|swiglu",
      "\(hymba.pattern() ?? "")")
    for (label, spec) in [
      ("jamba", try ModelSpec.jamba(vocabulary: 16, width: 16, blocks: 4, attentionEvery: 2, experts: 4, heads: 2)),
      ("gla+fox+ttt", try ModelSpec.glaFoxTTT(vocabulary: 16, width: 16, blocks: 3, heads: 2)),
      ("hymba", try ModelSpec.hymba(vocabulary: 16, width: 16, blocks: 2, heads: 2)),
      ("hymba, windows of 3", try ModelSpec.hymba(vocabulary: 16, width: 16, blocks: 5, heads: 2, window: 3)),
    ] {
      var rng = RandomGenerator(seed: 5)
      let model = try LanguageModel(spec, generator: &rng)
      try expectDecodingMatchesParallel(model, &rng, label)
    }
  }
}
