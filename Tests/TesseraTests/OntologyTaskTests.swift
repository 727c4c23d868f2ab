import Foundation
import Testing
import Tessera

/// The symptom ontology and its diagnosis task, and distillation from its exact posterior.
@Suite("Symptom ontology and distillation")
struct OntologyTaskTests {
  static let ontology = SymptomOntology(seed: 3)

  @Test(
    "the ontology is seeded; the posterior is the normalised product written out; simple cases are the distinctive ones"
  )
  func ontologyFacts() {
    #expect(SymptomOntology(seed: 3) == Self.ontology)
    #expect(SymptomOntology(seed: 4) != Self.ontology)
    let o = Self.ontology
    #expect(o.causes == 24 && abs(o.prior.reduce(0, +) - 1) < 1e-12)
    var rng = RandomGenerator(seed: 1)
    let c = o.sample(&rng)
    let posterior = o.posterior(present: c.present)
    var joint = (0..<o.causes).map { cause -> Double in
      (0..<o.symptoms).reduce(o.prior[cause]) { p, s in
        p * (c.present.contains(s) ? o.probability[cause][s] : 1 - o.probability[cause][s])
      }
    }
    let total = joint.reduce(0, +)
    joint = joint.map { $0 / total }
    #expect(zip(posterior, joint).allSatisfy { abs($0 - $1) < 1e-12 })
    // Over many cases: about 60% simple; the Bayes decision is near-perfect on simple cases and
    // worse on complex ones (the depth the task is built to have).
    var simple = 0, simpleRight = 0, complexRight = 0
    for _ in 0..<3000 {
      let d = o.sample(&rng)
      let best = o.posterior(present: d.present).enumerated().max { $0.element < $1.element }!.offset
      if d.simple {
        simple += 1
        if best == d.cause { simpleRight += 1 }
      } else if best == d.cause {
        complexRight += 1
      }
      #expect(d.simple == d.present.contains(o.distinctive[d.cause]))
    }
    #expect(abs(Double(simple) / 3000 - 0.6) < 0.04, "\(simple)")
    let simpleAccuracy = Double(simpleRight) / Double(simple)
    let complexAccuracy = Double(complexRight) / Double(3000 - simple)
    #expect(simpleAccuracy > 0.97 && complexAccuracy < simpleAccuracy - 0.1, "\(simpleAccuracy) \(complexAccuracy)")
  }

  @Test("diagnosis examples: symptoms, padding, the query; only the cause scored; decode inverts encode")
  func diagnosisTask() {
    let task = DiagnosisTask(ontology: Self.ontology, sequenceLength: 12, seed: 5)
    let batch = task.batch(0, size: 16)
    #expect(batch.inputs.shape == [16, 12] && batch.scoredCount == 16)
    #expect(task.batch(0, size: 16).inputs.values == batch.inputs.values)
    for row in 0..<16 {
      let x = Array(batch.inputs.values[(row * 12)..<((row + 1) * 12)])
      let y = Array(batch.targets.values[(row * 12)..<((row + 1) * 12)])
      #expect(x.last == task.query && y.dropLast().allSatisfy { $0 == TokenBatch.ignored })
      let decoded = task.decode(inputs: x, target: y.last!)
      #expect(task.encode(decoded).inputs == x)
    }
  }

  /// The exact posterior as logits at the query position (and 0 elsewhere).
  static func posteriorTeacher(_ task: DiagnosisTask) -> Teacher {
    Teacher(name: "posterior") { tokens in
      let (b, t) = (tokens.shape[0], tokens.shape[1])
      var logits = [Float](repeating: 0, count: b * t * task.vocabularySize)
      for row in 0..<b {
        let present = tokens.values[(row * t)..<((row + 1) * t)].filter { $0 < task.ontology.symptoms }
        let base = (row * t + t - 1) * task.vocabularySize
        for v in 0..<task.vocabularySize { logits[base + v] = -30 }
        for (c, p) in task.ontology.posterior(present: Array(present)).enumerated() {
          logits[base + task.causeToken(c)] = Float(Foundation.log(max(p, 1e-13)))
        }
      }
      return Tensor(logits, shape: [b, t, task.vocabularySize])
    }
  }

  /// `blocks` blocks of attention + SwiGLU at width 32 for `task`, an exit head after the first.
  static func exitingModel(_ task: DiagnosisTask, blocks: Int, direction: Direction, seed: UInt64) throws
    -> LanguageModel
  {
    var rng = RandomGenerator(seed: seed)
    let block = BlockSpec(mixer: .layer("attn", ["heads": 2]), channel: .layer("swiglu"))
    var exiting = block
    exiting.exit = ExitSpec()
    let spec = ModelSpec(
      vocabulary: task.vocabularySize, width: 32, direction: direction,
      stages: [StageSpec(blocks: [exiting] + Array(repeating: block, count: blocks - 1))])
    return try LanguageModel(spec, generator: &rng)
  }

  @Test(
    "Objective.distill: α = 1 is the hard-label loss; with exit heads every head is distilled; the posterior teacher trains"
  )
  func distillation() throws {
    let task = DiagnosisTask(ontology: Self.ontology, sequenceLength: 12, seed: 6)
    let model = try Self.exitingModel(task, blocks: 2, direction: .bidirectional, seed: 7)
    let batch = task.batch(0, size: 8)
    let teacher = Self.posteriorTeacher(task)
    let hardOnly = Objective.distill(DistillationObjective(teacher: teacher, temperature: 2, alpha: 1))
      .loss(model, inputs: batch.inputs, targets: batch.targets)
    let nextToken = Objective.nextToken.loss(model, inputs: batch.inputs, targets: batch.targets)
    #expect(abs(hardOnly.objective.scalar - nextToken.objective.scalar) < 1e-6)
    let heads = Objective.distill(
      DistillationObjective(teacher: teacher, temperature: 2, alpha: 0.3, headWeights: [0.5, 1])
    ).loss(model, inputs: batch.inputs, targets: batch.targets)
    #expect(heads.output.exitLogits.count == 1)
    let finalOnly = Objective.distill(DistillationObjective(teacher: teacher, temperature: 2, alpha: 0.3))
      .loss(model, inputs: batch.inputs, targets: batch.targets)
    #expect(heads.objective.scalar > finalOnly.objective.scalar)
    let result = train(
      model, on: task,
      objective: .distill(DistillationObjective(teacher: teacher, temperature: 2, alpha: 0.2, headWeights: [0.5, 1])),
      settings: TrainingSettings(steps: 60, batchSize: 32, learningRate: 3e-3, evaluateEvery: 60))
    #expect(result.losses.suffix(5).reduce(0, +) < result.losses.prefix(5).reduce(0, +))
  }

  @Test(
    "ExitCalibration: threshold 0 leaves at the first exit, above 1 runs every block; the lowest within tolerance is chosen"
  )
  func calibration() throws {
    let task = DiagnosisTask(ontology: Self.ontology, sequenceLength: 12, seed: 8)
    let model = try Self.exitingModel(task, blocks: 3, direction: .causal, seed: 9)
    let batches = (0..<2).map { task.evaluationBatch($0, size: 16) }
    let c = ExitCalibration(model, batches: batches, thresholds: [2, 0], tolerance: 0.01)
    #expect(c.points.map(\.threshold) == [0, 2])
    #expect(c.points[0].meanExitLayer == 1 && c.points[1].meanExitLayer == 3)
    #expect(c.points[1].accuracy == c.fullAccuracy)
    let expected = c.points.first { $0.accuracy >= c.fullAccuracy - 0.01 }
    #expect(c.chosen?.threshold == expected?.threshold)
  }
}
