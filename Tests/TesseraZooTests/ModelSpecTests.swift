import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo

/// A causal mixer with no recurrent form: `x ↦ x W`, for the tests that decoding refuses it.
final class ProjectionOnlyMixer: LayerFamily {
  struct Options: LayerOptions { init() {} }
  static let kind = "test-projection"
  static let slot = LayerSlot.sequence
  static let capabilities: LayerCapabilities = [.causal]
  static let summary = "a projection (tests only)"
  let options = Options()
  let projection: Linear
  init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    projection = Linear(width, width, bias: false, generator: &generator)
  }
  func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { projection(x) }
  func cost(batch: Int, time: Int, context: CostContext) -> LayerCost { .zero }
}

/// The error building `json` raises (from decoding or from building), or nil when it builds.
func specError(_ json: String, registry: FamilyRegistry = Zoo.families) -> ModelSpecError? {
  do {
    var rng = RandomGenerator(seed: 0)
    _ = try LanguageModel(ModelSpec.decode(json: json), generator: &rng, registry: registry)
    return nil
  } catch let error as ModelSpecError {
    return error
  } catch {
    Issue.record("not a ModelSpecError: \(error)")
    return nil
  }
}

/// A one-block spec with `block` (JSON) as its block.
func oneBlock(_ block: String, direction: String = "causal") -> String {
  #"{"vocabulary": 16, "width": 8, "direction": "\#(direction)", "stages": [{"blocks": [\#(block)]}]}"#
}

@Suite("Model specs")
struct ModelSpecTests {
  /// Each malformed spec, the JSON path its error must name and a phrase the message must hold.
  static let malformed: [(label: String, json: String, path: String, phrase: String)] = [
    ("unknown mixer kind", oneBlock(#"{"mixer": {"kind": "glaa"}}"#), "stages[0].blocks[0].mixer.kind", "\"gla\""),
    (
      "unknown option key", oneBlock(#"{"mixer": {"kind": "gla", "options": {"gateRnk": 4}}}"#),
      "stages[0].blocks[0].mixer.options.gateRnk", "\"gateRank\""
    ),
    (
      "option of the wrong type", oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": "four"}}}"#),
      "stages[0].blocks[0].mixer.options.heads", "an integer"
    ),
    (
      "a channel layer in a mixer slot", oneBlock(#"{"mixer": {"kind": "swiglu"}}"#),
      "stages[0].blocks[0].mixer.kind", "channel layer"
    ),
    (
      "a mixer in a channel slot",
      oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "channel": {"kind": "gla"}}"#),
      "stages[0].blocks[0].channel.kind", "sequence layer"
    ),
    (
      "heads that do not divide the width", oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 3}}}"#),
      "stages[0].blocks[0].mixer.options.heads", "not a multiple of 3"
    ),
    (
      "a norm spelled another way",
      oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "norm": "RMSNorm"}"#),
      "stages[0].blocks[0].norm", "\"rmsNorm\""
    ),
    (
      "an unknown block key",
      oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "chanel": {"kind": "mlp"}}"#),
      "stages[0].blocks[0].chanel", "\"channel\""
    ),
    (
      "no repeats", oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "repeats": 0}"#),
      "stages[0].blocks[0].repeats", "at least 1"
    ),
    (
      "a causal-only mixer in a bidirectional model",
      oneBlock(#"{"mixer": {"kind": "gla", "options": {"heads": 2}}}"#, direction: "bidirectional"),
      "stages[0].blocks[0].mixer.kind", "no bidirectional form"
    ),
    (
      "a form the layer does not have",
      oneBlock(#"{"mixer": {"kind": "gla", "options": {"heads": 2, "form": {"fused": {}}}}}"#),
      "stages[0].blocks[0].mixer.options.form", "not one of this layer's forms"
    ),
    (
      "a parallel branch with a bad option",
      oneBlock(
        #"{"mixer": {"parallel": [{"kind": "attn", "options": {"heads": 2}}, {"kind": "gla", "options": {"heads": 3}}], "combine": "mean"}}"#
      ),
      "stages[0].blocks[0].mixer.parallel[1].options.heads", "not a multiple of 3"
    ),
    (
      "parallel branches in a channel slot",
      oneBlock(
        #"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "channel": {"parallel": [{"kind": "mlp"}, {"kind": "swiglu"}]}}"#
      ),
      "stages[0].blocks[0].channel", "sequence slot"
    ),
    (
      "a mixer as a resampler",
      #"{"vocabulary": 16, "width": 8, "stages": [{"resample": {"kind": "attn"}, "blocks": [{"mixer": {"kind": "attn", "options": {"heads": 2}}}]}]}"#,
      "stages[0].resample.kind", "a resample slot takes \"chunk\""
    ),
    (
      "a chunking option of the wrong type",
      #"{"vocabulary": 16, "width": 8, "stages": [{"resample": {"kind": "chunk", "options": {"rule": "hnet"}}, "blocks": [{"mixer": {"kind": "attn", "options": {"heads": 2}}}]}]}"#,
      "stages[0].resample.options.rule", "conceptMoE"
    ),
    ("a missing width", #"{"vocabulary": 16, "stages": []}"#, "width", "required"),
    (
      "an unknown direction", oneBlock(#"{"mixer": {"kind": "attn"}}"#, direction: "backward"), "direction",
      "\"causal\""
    ),
  ]

  @Test("a malformed spec is refused with its JSON path", arguments: Self.malformed.indices)
  func malformedSpecs(_ index: Int) throws {
    let (label, json, path, phrase) = Self.malformed[index]
    let error = try #require(specError(json), "\(label): built")
    #expect(error.path == path, "\(label): \(error)")
    #expect(error.message.contains(phrase), "\(label): \(error)")
  }

  @Test("the well-formed twin of each malformed spec builds")
  func wellFormedBuilds() {
    #expect(specError(oneBlock(#"{"mixer": {"kind": "gla", "options": {"gateRank": 4, "heads": 2}}}"#)) == nil)
    #expect(specError(oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "norm": "rmsNorm"}"#)) == nil)
    #expect(
      specError(oneBlock(#"{"mixer": {"kind": "attn", "options": {"heads": 2}}}"#, direction: "bidirectional")) == nil)
    #expect(
      specError(
        oneBlock(
          #"{"mixer": {"parallel": [{"kind": "attn", "options": {"heads": 2}}, {"kind": "gla", "options": {"heads": 2}}], "combine": "mean"}}"#
        )) == nil)
  }

  @Test("decoding a model whose mixer has no recurrent form is refused, naming the block")
  func decodingWithoutRecurrentForm() throws {
    let registry = try Zoo.families.adding([ProjectionOnlyMixer.self])
    var rng = RandomGenerator(seed: 0)
    let spec = try ModelSpec(
      pattern: "attn,test-projection", vocabulary: 16, width: 8, options: ["heads": 2], registry: registry)
    let model = try LanguageModel(spec, generator: &rng, registry: registry)
    #expect(model(IndexTensor([1, 2, 3], shape: [1, 3])).shape == [1, 3, 16])
    do {
      _ = try model.decodingState(batch: 1)
      Issue.record("decoding state built")
    } catch let error as ModelSpecError {
      #expect(error.path == "stages[0].blocks[1].mixer")
      #expect(error.message.contains("no recurrent form"))
    }
  }

  @Test("a kind registered twice is refused")
  func duplicateKinds() {
    #expect(throws: ModelSpecError.self) { try Zoo.families.adding([MambaBlock.self]) }
    #expect(Set(Zoo.families.kinds).count == Zoo.families.kinds.count)
  }

  @Test(
    "pattern sugar parses to a spec and prints back",
    arguments: [
      "gla,attn", "mamba2*3,attn", "attn|swiglu", "swa:64,attn|mlp*2", "(attn+mamba2)", "gated-deltanet,ttt-mlp|swiglu",
    ])
  func patterns(_ pattern: String) throws {
    let spec = try ModelSpec(pattern: pattern, vocabulary: 16, width: 8, channel: nil)
    #expect(spec.pattern() == pattern)
    let again = try ModelSpec(pattern: spec.pattern()!, vocabulary: 16, width: 8, channel: nil)
    #expect(again == spec)
  }

  @Test("pattern sugar: blocks, repeats, channels and pattern arguments")
  func patternStructure() throws {
    let spec = try ModelSpec(pattern: "mamba2*3,swa:5|swiglu", vocabulary: 16, width: 8, channel: "mlp")
    #expect(spec.stages[0].blocks.count == 2)
    #expect(spec.stages[0].blocks[0].repeats == 3)
    #expect(spec.stages[0].blocks[0].channel == .layer("mlp"))
    #expect(spec.stages[0].blocks[1].mixer == .layer("swa", ["window": 5]))
    #expect(spec.stages[0].blocks[1].channel == .layer("swiglu"))
    #expect(spec.blocks.count == 4)
  }

  @Test(
    "bad pattern text is refused", arguments: ["", "gla,,attn", "gla*0", "attn|mlp|mlp", "(attn+", "gla:4", "swa:x"])
  func badPatterns(_ pattern: String) {
    #expect(throws: ModelSpecError.self) { try ModelSpec(pattern: pattern, vocabulary: 16, width: 8) }
  }

  @Test("a shared option that no registered family has is refused")
  func sharedOptionTypo() {
    do {
      _ = try ModelSpec(pattern: "gla,attn", vocabulary: 16, width: 8, options: ["haeds": 2])
      Issue.record("accepted")
    } catch let error as ModelSpecError {
      #expect(error.path == "options.haeds")
    } catch { Issue.record("\(error)") }
  }

  @Test("a shared option goes to the layers that have it, and a layer's own value wins")
  func sharedOptions() throws {
    let spec = try ModelSpec(
      pattern: "gla,s4d", vocabulary: 16, width: 8, channel: "swiglu", options: ["heads": 2, "hidden": 12])
    #expect(spec.stages[0].blocks[0].mixer == .layer("gla", ["heads": 2]))
    #expect(spec.stages[0].blocks[1].mixer == .layer("s4d"))
    #expect(spec.stages[0].blocks[1].channel == .layer("swiglu", ["hidden": 12]))
  }
}
