import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraTasks
import TesseraZoo
import _TestSupport

// The generic suite: every family of Zoo.families, with nothing named by hand.

/// Options for a small test layer of `entry` at width 16: two heads where the family has heads.
func smallOptions(_ entry: FamilyEntry, form: Form? = nil) -> [String: JSONValue] {
  var options: [String: JSONValue] = entry.optionKeys.contains("heads") ? ["heads": 2] : [:]
  if let form { options["form"] = try! JSONValue(encoding: form) }
  return options
}

/// The output of `layer` at `x`, then the gradient of `Σ layer(x) ⊙ g` with respect to `x` and to
/// every parameter (by name).
func outputAndGradients(_ layer: any LayerFamily, _ x: Tensor, cotangent g: Tensor) -> (Tensor, [String: Tensor]) {
  let original = layer.parameters()
  defer { try! layer.update(original) }
  let input = "·input"
  var output: Tensor?
  let gradients = valueAndGradient(at: original.merging([input: x]) { a, _ in a }) { traced in
    try! layer.update(traced.filter { $0.key != input })
    let y = layer(traced[input]!)
    output = y
    return (y * g).sum()
  }.gradient
  return (withoutGradients { output! + 0 }, gradients)
}

/// Decodes `x` `[B, T, D]` one token at a time from a fresh state.
func decodeTokenByToken<Layer: RecurrentLayer>(_ layer: Layer, _ x: Tensor) -> [Tensor] {
  var state = layer.initialState(batch: x.shape[0])
  return (0..<x.shape[1]).map { layer.step(x.select(axis: 1, index: $0), &state) }
}

func decodeOpened(_ layer: any RecurrentLayer, _ x: Tensor) -> [Tensor] { decodeTokenByToken(layer, x) }

/// Decodes 2 random sequences of 9 tokens one token at a time and expects every step's logits
/// within 1e-5 relative RMS of the parallel form's.
func expectDecodingMatchesParallel(_ model: LanguageModel, _ rng: inout RandomGenerator, _ label: String) throws {
  let vocabulary = model.spec.vocabulary
  let tokens = rng.integers([2, 9], in: 0..<vocabulary)
  let parallel = model(tokens)
  var state = try model.decodingState(batch: 2)
  for t in 0..<9 {
    let logits = model.step(IndexTensor([tokens.values[t], tokens.values[9 + t]], shape: [2]), &state)
    let error = logits.relativeError(to: parallel.slice(axis: 1, t..<(t + 1)).reshaped(2, vocabulary))
    #expect(error < 1e-5, "\(label) token \(t): \(error)")
  }
}

@Suite("Every registered family")
struct ZooFamilyTests {
  static let sequenceKinds = Zoo.families.kinds(in: .sequence)
  static let multiFormKinds = Zoo.families.entries.filter { $0.slot == .sequence && $0.forms.count > 1 }
    .map(\.kind)
  static let lengths = [1, 7, 63, 64, 65, 130]

  @Test("the registry: unique kinds, capabilities that match the conformances, default forms among the forms")
  func registry() throws {
    #expect(Set(Zoo.families.kinds).count == Zoo.families.kinds.count)
    #expect(Zoo.families.kinds(in: .sequence).count >= 13)
    for entry in Zoo.families.entries {
      #expect(entry.capabilities.contains(.recurrentDecoding) == entry.decodesRecurrently, "\(entry.kind)")
      #expect(!entry.summary.isEmpty && entry.optionKeys.count == Set(entry.optionKeys).count, "\(entry.kind)")
      if case .object(let defaults) = entry.defaultOptions, let form = defaults["form"] {
        let decoded = try form.decode(Form.self)
        #expect(entry.forms.contains(decoded), "\(entry.kind): default form \(decoded) not in \(entry.forms)")
      }
    }
  }

  @Test("spec → JSON → spec builds a model with identical parameters", arguments: Zoo.families.kinds)
  func specRoundTrip(_ kind: String) throws {
    let entry = Zoo.families[kind]!
    let block =
      entry.slot == .sequence
      ? BlockSpec(mixer: .layer(kind, smallOptions(entry)), channel: .layer("swiglu", ["hidden": 24]), norm: .rmsNorm)
      : entry.slot == .channel
        ? BlockSpec(mixer: .layer("attn", ["heads": 2]), channel: .layer(kind, smallOptions(entry)))
        : BlockSpec(mixer: .layer("attn", ["heads": 2]))
    let resample = entry.slot == .resample ? ResampleSpec(kind: kind, options: ["ratio": 3]) : nil
    let spec = ModelSpec(
      vocabulary: 20, width: 16, direction: entry.capabilities.contains(.causal) ? .causal : .bidirectional,
      stages: [StageSpec(resample: resample, blocks: [block])], heads: [HeadSpec(tied: false)])
    let decoded = try ModelSpec.decode(json: spec.json)
    #expect(decoded == spec)
    var a = RandomGenerator(seed: 4), b = RandomGenerator(seed: 4)
    let first = try LanguageModel(spec, generator: &a), second = try LanguageModel(decoded, generator: &b)
    let (p, q) = (first.namedParameters(), second.namedParameters())
    #expect(p.map(\.name) == q.map(\.name))
    for (x, y) in zip(p, q) { #expect(x.value.scalars == y.value.scalars, "\(kind): \(x.name)") }
    let prefix = ["sequence": "layers.0.mixer.", "channel": "layers.0.channel.", "resample": "resamplers.0."]
    #expect(p.contains { $0.name.hasPrefix(prefix[entry.slot.rawValue] ?? "?") }, "\(kind)")
  }

  /// Every form of every layer against its reference form: the output, the input gradient and
  /// every parameter gradient, over lengths around the chunk and block sizes (1, 7, 63, 64, 65,
  /// 130). Relative RMS error ≤ 2e-5 for outputs and ≤ 1e-4 for gradients (summed over batch and
  /// time in float32), or an RMS difference ≤ 1e-6 where a tensor is zero up to rounding.
  @Test("every form agrees with the reference form: outputs and every gradient", arguments: Self.multiFormKinds)
  func formsAgree(_ kind: String) throws {
    let entry = Zoo.families[kind]!
    for time in Self.lengths {
      var data = RandomGenerator(seed: UInt64(time))
      let x = data.normal([2, time, 16], standardDeviation: 0.5), g = data.normal([2, time, 16])
      var rng = RandomGenerator(seed: 1)
      let reference = try entry.make(smallOptions(entry, form: .reference), width: 16, generator: &rng)
      let (o0, g0) = outputAndGradients(reference, x, cotangent: g)
      for form in entry.forms where form != .reference {
        var same = RandomGenerator(seed: 1)
        let layer = try entry.make(smallOptions(entry, form: form), width: 16, generator: &same)
        let (o1, g1) = outputAndGradients(layer, x, cotangent: g)
        expectAgree([o1], [o0], tolerance: 2e-5, absolute: 1e-6, "\(kind) \(form) T \(time): output")
        #expect(Set(g1.keys) == Set(g0.keys))
        for name in g0.keys.sorted() {
          expectAgree([g1[name]!], [g0[name]!], tolerance: 1e-4, absolute: 1e-6, "\(kind) \(form) T \(time): ∂\(name)")
        }
      }
    }
  }

  /// Decoding one token at a time reproduces the parallel form (1e-5 relative RMS per token) —
  /// the default (fast) form, over 21 tokens (past a TTT mini-batch of 16).
  @Test("recurrent decoding reproduces the parallel form token by token", arguments: Self.sequenceKinds)
  func decoding(_ kind: String) throws {
    let entry = Zoo.families[kind]!
    var rng = RandomGenerator(seed: 2)
    let layer = try entry.make(smallOptions(entry), width: 16, generator: &rng)
    let x = rng.normal([2, 21, 16], standardDeviation: 0.5)
    let parallel = layer(x)
    let recurrent = try #require(layer as? any RecurrentLayer, "\(kind) has no recurrent form")
    for (t, y) in decodeOpened(recurrent, x).enumerated() {
      let error = y.relativeError(to: parallel.select(axis: 1, index: t))
      #expect(error < 1e-5, "\(kind) token \(t): \(error)")
    }
  }

  /// Windows shorter than the sequence, so that the cache drops keys: each step's output against the
  /// parallel form, and the cache never holding more than window − 1 tokens.
  @Test("a sliding window's decoding cache stops at window − 1 tokens and still equals the parallel form")
  func slidingWindowCache() throws {
    for (window, kvHeads) in [(1, 2), (2, 2), (5, 1), (5, 2)] {
      var rng = RandomGenerator(seed: 4)
      let layer = try Zoo.families["swa"]!.make(
        ["window": .number(Double(window)), "heads": 2, "keyValueHeads": .number(Double(kvHeads))], width: 16,
        generator: &rng)
      let x = rng.normal([2, 13, 16], standardDeviation: 0.5)
      let parallel = layer(x)
      let attention = try #require(layer as? SlidingWindowAttentionLayer)
      var cache = attention.initialState(batch: 2)
      for t in 0..<13 {
        let y = attention.step(x.select(axis: 1, index: t), &cache)
        let error = y.relativeError(to: parallel.select(axis: 1, index: t))
        #expect(error < 1e-5, "window \(window), \(kvHeads) kv heads, token \(t): \(error)")
        #expect(cache.length == min(t + 1, window - 1), "window \(window) after token \(t): \(cache.length) held")
        #expect(cache.position == t + 1)
      }
    }
  }

  @Test("a language model decodes token by token as its parallel logits", arguments: Self.sequenceKinds)
  func modelDecoding(_ kind: String) throws {
    var rng = RandomGenerator(seed: 2)
    let model = try LanguageModel(
      pattern: "\(kind),attn", vocabulary: 40, width: 32, options: ["heads": 2], generator: &rng)
    try expectDecodingMatchesParallel(model, &rng, kind)
  }

  /// Two blocks of the mixer against the same model with the mixer replaced by the identity (the
  /// residual alone: what a mixer that outputs zero would give), trained on the same MQAR batches:
  /// the mixer must reach a held-out loss below the identity model's — recall needs mixing.
  @Test("every mixer trains: it beats the same model without a mixer on MQAR", arguments: Self.sequenceKinds)
  func trains(_ kind: String) throws {
    let registry = try Zoo.families.adding([IdentityMixer.self])
    let task = MultiQueryAssociativeRecall(vocabularySize: 64, sequenceLength: 32, pairs: 2, seed: 3)
    func heldOutLoss(_ pattern: String) throws -> Float {
      var rng = RandomGenerator(seed: 3)
      let entry = registry[String(pattern.prefix { $0 != "," })]!
      let spec = try ModelSpec(
        pattern: pattern, vocabulary: 64, width: 32, options: entry.optionKeys.contains("heads") ? ["heads": 2] : [:],
        registry: registry)
      let model = try LanguageModel(spec, generator: &rng, registry: registry)
      let optimizer = AdamW(learningRate: 3e-3, weightDecay: 0)
      for step in 0..<ZooFamilyTests.trainingSteps {
        let batch = task.batch(step, size: 16)
        let (_, grads) = valueAndGradient(of: model) { $0.loss(batch.inputs, targets: batch.targets) }
        optimizer.update(model, gradients: grads)
      }
      return withoutGradients {
        (0..<4).map { i -> Float in
          let batch = task.evaluationBatch(i, size: 32)
          return model.loss(batch.inputs, targets: batch.targets).scalar
        }.reduce(0, +) / 4
      }
    }
    let baseline = try heldOutLoss("identity,identity")
    let mixed = try heldOutLoss("\(kind),\(kind)")
    print("trains: \(kind) held-out loss \(mixed), identity \(baseline)")
    #expect(mixed < baseline - ZooFamilyTests.margin, "\(kind): held-out loss \(mixed), without a mixer \(baseline)")
  }

  static let trainingSteps = 250
  static let margin: Float = 0.1
}

/// The identity as a mixer (the block keeps only its residual): the baseline a mixer must beat.
final class IdentityMixer: LayerFamily {
  struct Options: LayerOptions { init() {} }
  static let kind = "identity"
  static let slot = LayerSlot.sequence
  static let capabilities: LayerCapabilities = [.causal, .bidirectional]
  static let summary = "the identity (tests only)"
  let options = Options()
  init(_ options: Options, width: Int, generator: inout RandomGenerator) {}
  func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { x * 0 }
  func cost(batch: Int, time: Int, context: CostContext) -> LayerCost { .zero }
}

@Suite("The README's table of families")
struct ZooReadmeTests {
  @Test("README.md shows the registry's table (regenerate with `tessera zoo`)")
  func readmeTable() throws {
    let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("README.md")
    let text = try String(contentsOf: readme, encoding: .utf8)
    let begin = try #require(text.range(of: "<!-- zoo:begin -->\n")),
      end = try #require(text.range(of: "\n<!-- zoo:end -->"))
    #expect(String(text[begin.upperBound..<end.lowerBound]) == Zoo.families.markdownTable)
  }
}
