import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraTasks
import TesseraZoo

@Suite("Synthetic tasks")
struct TaskTests {
  @Test("MQAR follows Zoology's layout: pairs up front, every key queried once, only answers scored")
  func mqarLayout() {
    let task = MultiQueryAssociativeRecall(vocabularySize: 256, sequenceLength: 64, pairs: 4, seed: 3)
    let batch = task.batch(0, size: 16)
    for n in 0..<16 {
      let x = Array(batch.inputs.values[(n * 64)..<((n + 1) * 64)])
      let y = Array(batch.targets.values[(n * 64)..<((n + 1) * 64)])
      var pairs: [Int: Int] = [:]
      for i in 0..<4 {
        #expect((1..<128).contains(x[2 * i]), "key \(x[2 * i])")
        #expect((128..<256).contains(x[2 * i + 1]), "value \(x[2 * i + 1])")
        pairs[x[2 * i]] = x[2 * i + 1]
      }
      #expect(pairs.count == 4, "keys are distinct")
      let scored = y.indices.filter { y[$0] != TokenBatch.ignored }
      #expect(scored.count == 4)
      for p in scored {
        #expect(p >= 8 && (p - 8) % 2 == 0, "queries sit at even offsets after the context")
        #expect(pairs[x[p]] == y[p], "the answer to key \(x[p]) is its value")
      }
      #expect(Set(scored.map { x[$0] }) == Set(pairs.keys), "every key is queried once")
    }
    // Batches are a function of (seed, index) alone; training and evaluation streams differ.
    #expect(task.batch(5, size: 4).inputs == task.batch(5, size: 4).inputs)
    #expect(task.batch(5, size: 4).inputs != task.evaluationBatch(5, size: 4).inputs)
  }

  @Test("MQAR queries come early more often than late (power-law gaps)")
  func mqarGaps() {
    let task = MultiQueryAssociativeRecall(vocabularySize: 512, sequenceLength: 256, pairs: 8, seed: 1)
    let batch = task.batch(0, size: 64)
    var early = 0, late = 0
    for (i, t) in batch.targets.values.enumerated() where t != TokenBatch.ignored {
      if i % 256 < 16 + 60 { early += 1 } else if i % 256 >= 256 - 60 { late += 1 }
    }
    #expect(early > 2 * late, "early \(early), late \(late)")
  }
}
