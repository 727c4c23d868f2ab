import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

@Suite("Language model")
struct LanguageModelTests {
  static func model(_ form: Form, pattern: String = "attn,swa:3", kvHeads: Int = 2) -> LanguageModel {
    var rng = RandomGenerator(seed: 7)
    return try! LanguageModel(
      pattern: pattern, vocabulary: 50, width: 32,
      options: ["heads": 4, "keyValueHeads": .number(Double(kvHeads)), "form": try! JSONValue(encoding: form)],
      generator: &rng)
  }

  @Test("parameters have PyTorch-style dotted names")
  func names() {
    let names = Self.model(.reference).namedParameters().map(\.name)
    #expect(names.first == "embedding.weight")
    #expect(names.contains("layers.0.mixer.q_proj.weight"))
    #expect(names.contains("layers.1.mixer.k_proj.weight"))
    #expect(names.contains("layers.1.channel.up.bias"))
    #expect(names.contains("layers.0.norm1.weight") && names.contains("layers.0.norm2.bias"))
    #expect(names.last == "norm.bias")
    #expect(Set(names).count == names.count)
  }

  @Test("KV-cache decoding reproduces the parallel logits token by token (MHA, GQA, MQA, sliding window)")
  func decoding() {
    for kvHeads in [4, 2, 1] {
      let model = Self.model(.tiled(queryBlock: 4, keyBlock: 4), kvHeads: kvHeads)
      var rng = RandomGenerator(seed: 3)
      let tokens = rng.integers([2, 11], in: 0..<50)
      let parallel = model(tokens)  // [2, 11, 50]
      var state = try! model.decodingState(batch: 2)
      for t in 0..<11 {
        let column = IndexTensor((0..<2).map { tokens.values[$0 * 11 + t] }, shape: [2])
        let logits = model.step(column, &state)
        let expected = parallel.slice(axis: 1, t..<(t + 1)).reshaped(2, 50)
        let error = logits.relativeError(to: expected)
        #expect(error < 1e-5, "kv heads \(kvHeads), token \(t): relative error \(error)")
      }
    }
  }

  @Test("naive and tiled models give the same logits and gradients")
  func formsAgree() {
    let naive = Self.model(.reference), tiled = Self.model(.tiled(queryBlock: 8, keyBlock: 8))
    var rng = RandomGenerator(seed: 9)
    let tokens = rng.integers([2, 19], in: 0..<50), targets = rng.integers([2, 19], in: 0..<50)
    let (a, ga) = valueAndGradient(of: naive) { $0.loss(tokens, targets: targets) }
    let (b, gb) = valueAndGradient(of: tiled) { $0.loss(tokens, targets: targets) }
    #expect(abs(a.scalar - b.scalar) < 1e-5)
    for (name, g) in ga { #expect(g.relativeError(to: gb[name]!) < 1e-4, "\(name)") }
  }

  @Test("a checkpoint saved and loaded into a fresh model gives identical logits")
  func checkpoint() throws {
    let model = Self.model(.tiled(queryBlock: 128, keyBlock: 128))
    var rng = RandomGenerator(seed: 1)
    let tokens = rng.integers([1, 9], in: 0..<50)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "tessera-ckpt-\(UUID().uuidString).safetensors"
    ).path
    try Checkpoint.save(model, to: path, metadata: ["pattern": model.label, "spec": model.spec.json])
    var other = RandomGenerator(seed: 99)
    let fresh = try LanguageModel(model.spec, generator: &other)
    #expect(fresh(tokens).scalars != model(tokens).scalars)
    let metadata = try Checkpoint.load(fresh, from: path)
    #expect(metadata["pattern"] == "attn|mlp,swa:3|mlp")
    #expect(try ModelSpec.decode(json: metadata["spec"]!) == model.spec)
    #expect(fresh(tokens).scalars == model(tokens).scalars)
    // A model of another shape is refused with the names that do not fit.
    let smaller = Self.model(.tiled(queryBlock: 128, keyBlock: 128), pattern: "attn")
    #expect(throws: SafeTensors.Error.self) { try Checkpoint.load(smaller, from: path) }
    do {
      try Checkpoint.load(smaller, from: path)
    } catch {
      #expect("\(error)".contains("unexpected: layers.1."))
    }
  }
}

@Suite("Checkpoint format")
struct CheckpointFormatTests {
  @Test("a file written by Python's safetensors loads into a model")
  func independentWriter() throws {
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import safetensors.numpy, numpy"]
    probe.standardError = FileHandle.nullDevice
    try probe.run()
    probe.waitUntilExit()
    guard probe.terminationStatus == 0 else {
      Issue.record(
        "python3 cannot import safetensors.numpy and numpy (Scripts/install-python-packages.sh installs them)")
      return
    }
    var rng = RandomGenerator(seed: 5)
    let layer = Linear(3, 2, generator: &rng)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "tessera-py-\(UUID().uuidString).safetensors"
    ).path
    let script = """
      import numpy, safetensors.numpy, sys
      w = numpy.arange(6, dtype=numpy.float32).reshape(2, 3) / 4
      b = numpy.array([-1.5, 2.25], dtype=numpy.float32)
      safetensors.numpy.save_file({"weight": w, "bias": b}, sys.argv[1], metadata={"writer": "python"})
      """
    let writer = Process()
    writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    writer.arguments = ["python3", "-c", script, path]
    try writer.run()
    writer.waitUntilExit()
    try #require(writer.terminationStatus == 0)
    let metadata = try Checkpoint.load(layer, from: path)
    #expect(metadata["writer"] == "python")
    #expect(layer.weight.scalars == [0, 0.25, 0.5, 0.75, 1, 1.25])
    #expect(layer(Tensor([1, 1, 1], shape: [1, 3])).scalars == [0.75 - 1.5, 3 + 2.25])
  }
}
