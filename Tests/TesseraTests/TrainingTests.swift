import Foundation
import Testing
import Tessera

@Suite("Training loop")
struct TrainingTests {
  static func run(threads: Int) -> TrainingResult {
    let saved = Runtime.threadCount
    Runtime.threadCount = threads
    defer { Runtime.threadCount = saved }
    var rng = RandomGenerator(seed: 11)
    let model = LanguageModel(
      LanguageModelConfig(vocabularySize: 64, modelDimension: 32, layerPattern: "attn,swa:8", heads: 2), generator: &rng
    )
    let task = MultiQueryAssociativeRecall(vocabularySize: 64, sequenceLength: 32, pairs: 2, seed: 11)
    return train(
      model, on: task, settings: TrainingSettings(steps: 30, batchSize: 8, learningRate: 3e-3, evaluateEvery: 10))
  }

  @Test("same seed ⇒ the same losses bit for bit, with 1 or 2 threads; the loss falls")
  func reproducible() {
    let a = Self.run(threads: 2), b = Self.run(threads: 2), c = Self.run(threads: 1)
    #expect(a.losses == b.losses)
    #expect(a.losses == c.losses)
    #expect(a.evaluations.map(\.step) == [10, 20, 30])
    #expect(a.evaluations.map(\.loss) == c.evaluations.map(\.loss))
    #expect(a.losses.suffix(5).reduce(0, +) < a.losses.prefix(5).reduce(0, +))
    #expect(a.tokensPerSecond > 0 && a.parameterCount > 0)
  }
}
