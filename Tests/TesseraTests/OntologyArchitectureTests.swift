import Foundation
import Testing
import Tessera
import _TestSupport

/// The architectures of small specialised models beyond early exit: a multi-head encoder, a
/// language model reading prefix vectors from a graph model, graph pair classification, and a
/// mixture of tiny expert models.
@Suite("Multi-head classification, GNN + tiny LM, tiny experts")
struct OntologyArchitectureTests {
  static let ontology = ProductOntology(seed: 2)

  static func block(_ heads: Int = 2) -> BlockSpec {
    BlockSpec(mixer: .layer("attn", ["heads": .number(Double(heads))]), channel: .layer("swiglu"))
  }

  static func encoderSpec(vocabulary: Int, width: Int = 32, blocks: Int = 2) -> ModelSpec {
    ModelSpec(
      vocabulary: vocabulary, width: width, direction: .bidirectional,
      stages: [StageSpec(blocks: Array(repeating: block(), count: blocks))],
      heads: ProductQueryTask.headClasses.keys.sorted().map { name in
        HeadSpec.classifier(name, name == "tags" ? .token : .sequence, classes: ProductQueryTask.headClasses[name]!)
      })
  }

  @Test("classification heads: spec errors by JSON path; the JSON round trip; the shapes of each head")
  func headSpecs() throws {
    let v = ProductVocabulary(ontology: Self.ontology)
    let spec = Self.encoderSpec(vocabulary: v.size)
    #expect(try ModelSpec.decode(json: spec.json) == spec)
    func problem(_ edit: (inout ModelSpec) -> Void) -> String {
      var broken = spec
      edit(&broken)
      var rng = RandomGenerator(seed: 0)
      do {
        _ = try LanguageModel(broken, generator: &rng)
        return ""
      } catch { return "\(error)" }
    }
    #expect(problem { $0.heads[1].classes = nil }.hasPrefix("heads[1].classes"))
    #expect(problem { $0.heads[2].name = "intent" }.hasPrefix("heads[2].name"))
    #expect(problem { $0.heads.append(HeadSpec()) }.hasPrefix("heads[3].kind"))
    #expect(problem { $0.direction = .causal }.hasPrefix("heads[0].pooling"))
    #expect(problem { $0.heads[0].tied = true }.hasPrefix("heads[0].tied"))
    #expect(problem { $0.stages[0].blocks[0].exit = ExitSpec() }.hasPrefix("stages[0].blocks[0].exit"))
    #expect(
      (try? ModelSpec.decode(
        json:
          #"{"vocabulary": 8, "width": 8, "stages": [], "heads": [{"kind": "sequence", "classes": 2, "pooling": "max"}]}"#
      ))
        == nil)
    var rng = RandomGenerator(seed: 1)
    let model = try LanguageModel(spec, generator: &rng)
    #expect(!model.hasLanguageModelHead && model.classifiers.map(\.name) == ["intent", "sentiment", "tags"])
    #expect(throws: ModelSpecError.self) { try model.decodingState(batch: 1) }
    let batch = ProductQueryTask(ontology: Self.ontology, seed: 1).batch(0, size: 3)
    let output = model.forward(batch.inputs)
    #expect(output.heads["intent"]?.shape == [3, 6] && output.heads["sentiment"]?.shape == [3, 3])
    #expect(output.heads["tags"]?.shape == [3, 14, 6])
    #expect(output.logits.shape == [3, 6])  // the first head's
  }

  @Test("Objective.classification is Σ weight × cross-entropy per head; pooled heads pass finite differences")
  func classificationObjective() throws {
    let task = ProductQueryTask(ontology: Self.ontology, seed: 1)
    var rng = RandomGenerator(seed: 3)
    let model = try LanguageModel(Self.encoderSpec(vocabulary: task.vocabularySize), generator: &rng)
    let batch = task.batch(0, size: 5)
    let weights = ["intent": 1.0, "tags": 0.5, "sentiment": 2.0]
    let pass = Objective.classification(heads: weights).loss(
      model, inputs: batch.inputs, targets: batch.targets, labels: batch.labels)
    let heads = model.forward(batch.inputs).heads
    var expected: Float = 0
    for (name, weight) in weights {
      expected += Float(weight) * crossEntropy(heads[name]!, targets: batch.labels[name]!, ignoreIndex: -100).scalar
    }
    #expect(abs(pass.total.scalar - expected) <= 1e-5 * abs(expected))
    // A head with weight 0 contributes nothing, and an unnamed head is not trained.
    let intentOnly = Objective.classification(heads: ["intent": 1]).loss(
      model, inputs: batch.inputs, targets: batch.targets, labels: batch.labels)
    #expect(intentOnly.total.scalar == crossEntropy(heads["intent"]!, targets: batch.labels["intent"]!).scalar)
    // Each pooling's gradient against finite differences (hidden states in, logits out).
    for pooling in HeadSpec.Pooling.allCases {
      var generator = RandomGenerator(seed: 5)
      let spec = ModelSpec(
        vocabulary: 8, width: 8, direction: .bidirectional, stages: [StageSpec(blocks: [Self.block()])],
        heads: [HeadSpec.classifier("h", .sequence, classes: 3, pooling: pooling)])
      let head = try LanguageModel(spec, generator: &generator).classifiers[0]
      let hidden = generator.normal([2, 5, 8])
      let check = GradientCheck.check([hidden, head.linear.weight]) { xs in
        linear(Self.pooled(xs[0], pooling), weight: xs[1], bias: head.linear.bias)
      }.worst
      #expect(check < 2e-2, "\(pooling): \(check)")
      #expect(
        head(hidden).scalars
          == linear(Self.pooled(hidden, pooling), weight: head.linear.weight, bias: head.linear.bias).scalars)
    }
  }

  static func pooled(_ x: Tensor, _ pooling: HeadSpec.Pooling) -> Tensor {
    switch pooling {
    case .mean: return x.mean(axis: 1)
    case .first: return x.select(axis: 1, index: 0)
    case .last: return x.select(axis: 1, index: x.shape[1] - 1)
    }
  }

  @Test("a prefix is read like tokens: prefix vectors that are token embeddings give that sequence's logits")
  func prefixVectors() throws {
    for direction in Direction.allCases {
      var rng = RandomGenerator(seed: 7)
      let spec = ModelSpec(
        vocabulary: 20, width: 16, direction: direction, stages: [StageSpec(blocks: [Self.block(), Self.block()])])
      let model = try LanguageModel(spec, generator: &rng)
      // Sequences [3 9 | 1 4 4] and [7 2 | 8 0 5]: the prefix is the embedding of the first two.
      let tails = IndexTensor([1, 4, 4, 8, 0, 5], shape: [2, 3])
      let heads = IndexTensor([3, 9, 7, 2], shape: [2, 2])
      let reference = model(IndexTensor([3, 9, 1, 4, 4, 7, 2, 8, 0, 5], shape: [2, 5])).slice(axis: 1, 2..<5)
      let prefixed = model.forward(tails, prefix: model.embedding(heads)).logits
      #expect(prefixed.shape == [2, 3, 20])
      let gap = zip(prefixed.scalars, reference.contiguous().scalars).map { abs($0 - $1) }.max()!
      #expect(gap < 1e-5, "\(direction): \(gap)")
    }
  }

  @Test("graph models: pair logits are symmetric; GNN + LM reads its entity's vector; both train through train()")
  func graphModels() throws {
    let o = Self.ontology
    let edges = o.edges
    let graph = EdgeList(nodes: o.entities, sources: edges.sources, targets: edges.targets)
    let nodeOfToken = (0..<ProductVocabulary(ontology: o).size).map { $0 < o.entities ? $0 : -1 }
    var rng = RandomGenerator(seed: 9)
    let pairs = GraphPairClassifier(
      GraphEncoderSpec(nodes: o.entities, width: 16, layers: 2), edges: graph, classes: 2, head: "compatible",
      nodeOfToken: nodeOfToken, generator: &rng)
    let ab = IndexTensor([3, 40, 0], shape: [1, 3]), ba = IndexTensor([40, 3, 0], shape: [1, 3])
    #expect(pairs(ab).scalars == pairs(ba).scalars)
    let vectors = pairs.nodeVectors()
    #expect(pairs(ab, nodeVectors: vectors).scalars == pairs(ab).scalars)
    let compatibility = CompatibilityTask(ontology: o, seed: 3)
    let result = train(
      pairs, on: compatibility, objective: .classification(heads: ["compatible": 1]),
      settings: TrainingSettings(steps: 30, batchSize: 32, learningRate: 1e-2, evaluationBatches: 2))
    #expect(result.losses.last! < result.losses.first!)
    #expect(result.finalAccuracy > 0.5)
    // GNN + tiny LM.
    let relations = RelationQueryTask(ontology: o, heldOutFraction: 0.2, seed: 3)
    let lm = ModelSpec(
      vocabulary: relations.vocabularySize, width: 16, stages: [StageSpec(blocks: [Self.block()])])
    let model = try GraphPrefixLanguageModel(
      graph: GraphEncoderSpec(nodes: o.entities, width: 16, layers: 2, layer: .gat), edges: graph, language: lm,
      nodeOfToken: nodeOfToken, generator: &rng)
    let batch = relations.batch(0, size: 4)
    let output = model.forward(batch.inputs)
    #expect(output.logits.shape == [4, 3, relations.vocabularySize])
    let direct = model.language.forward(batch.inputs, prefix: model.prefix(batch.inputs)).logits
    #expect(output.logits.scalars == direct.scalars)
    let lmResult = train(
      model, on: relations,
      settings: TrainingSettings(steps: 20, batchSize: 32, learningRate: 5e-3, evaluationBatches: 1))
    #expect(lmResult.losses.last! < lmResult.losses.first!)
  }

  static func mixture(seed: UInt64, coverage: Double = 0.9) throws -> TinyExpertMixture {
    let v = ProductVocabulary(ontology: Self.ontology)
    let experts = [16, 24, 16, 8].enumerated().map { i, width in
      ModelSpec(
        vocabulary: v.size, width: width, stages: [StageSpec(blocks: Array(repeating: Self.block(), count: 1 + i % 2))])
    }
    var rng = RandomGenerator(seed: seed)
    return try TinyExpertMixture(
      TinyExpertMixtureSpec(experts: experts, routerWidth: 8, coverage: coverage, maxExperts: 2), generator: &rng)
  }

  @Test("tiny experts: a query's output is its experts' mixture, computed on its rows only; lanes change no bit")
  func tinyExperts() throws {
    let model = try Self.mixture(seed: 11, coverage: 0.5)
    try model.update(["router.weight": model.router.weight * 300])  // a decided router: some queries need one expert
    let task = RelationQueryTask(ontology: Self.ontology, seed: 2)
    let batch = task.batch(0, size: 16)
    let pass = withoutGradients { model.forward(batch.inputs) }
    let lanes = withoutGradients { model.forward(batch.inputs, lanes: 2) }
    #expect(pass.logProbabilities.scalars == lanes.logProbabilities.scalars)
    let probabilities = pass.routerLogits.softmax(axis: -1).scalars
    var mixed = 0
    for row in 0..<16 {
      let query = IndexTensor(Array(batch.inputs.values[(3 * row)..<(3 * row + 3)]), shape: [1, 3])
      let chosen = pass.experts[row]
      // The chosen experts: most probable first, until their probabilities reach the coverage.
      let order = (0..<4).sorted { probabilities[row * 4 + $0] > probabilities[row * 4 + $1] }
      #expect(chosen == Array(order.prefix(chosen.count)))
      let p = chosen.map { Double(probabilities[row * 4 + $0]) }
      #expect(chosen.count == 2 || p[0] >= 0.5)
      var expected = [Double](repeating: 0, count: 3 * task.vocabularySize)
      for (k, e) in chosen.enumerated() {
        let own = model.experts[e](query).softmax(axis: -1).scalars
        for i in expected.indices { expected[i] += p[k] / p.reduce(0, +) * Double(own[i]) }
      }
      if chosen.count > 1 { mixed += 1 }
      let got = pass.logProbabilities.select(axis: 0, index: row).contiguous().scalars
      let gap = zip(got, expected).map { abs(Double($0) - log($1)) }.max()!
      #expect(gap < 1e-4, "query \(row): \(gap)")
    }
    #expect(mixed > 0 && mixed < 16)
    // Counted work: each expert over the queries that chose it.
    let dense = model.experts.enumerated().reduce(0) { total, pair in
      total + pair.element.cost(batch: 16, time: 3).flops
    }
    #expect(model.lastPassFlops < dense)
  }

  @Test("tiny experts: retraining one expert leaves the router and the other experts bit-identical")
  func retrainOneExpert() throws {
    let model = try Self.mixture(seed: 12)
    let task = RelationQueryTask(ontology: Self.ontology, seed: 2)
    let before = model.parameters()
    let result = train(
      model, on: task,
      settings: TrainingSettings(
        steps: 5, batchSize: 16, learningRate: 1e-2, evaluationBatches: 1,
        frozenParameters: ["router", "experts.0.", "experts.2.", "experts.3."]))
    #expect(result.losses.count == 5)
    let after = model.parameters()
    for (name, value) in before {
      if name.hasPrefix("experts.1.") {
        continue
      }
      #expect(after[name]!.scalars == value.scalars, "\(name) moved")
    }
    #expect(before.filter { $0.key.hasPrefix("experts.1.") }.contains { after[$0.key]!.scalars != $0.value.scalars })
  }
}
