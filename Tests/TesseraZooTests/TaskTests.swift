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

@Suite("More synthetic tasks")
struct MoreTaskTests {
  /// Spread pairs: every key appears exactly twice, first followed by its value, then (later) as
  /// the scored query whose target is that value; pair-to-query distances reach past half the
  /// sequence.
  @Test("MQAR with spread pairs: each query after its pair, anywhere in the sequence")
  func spreadRecall() {
    let task = MultiQueryAssociativeRecall(
      vocabularySize: 256, sequenceLength: 512, pairs: 16, randomNonQueries: false, spread: true, seed: 2)
    let batch = task.batch(0, size: 8)
    var longest = 0
    for n in 0..<8 {
      let inputs = Array(batch.inputs.values[(n * 512)..<((n + 1) * 512)])
      let targets = Array(batch.targets.values[(n * 512)..<((n + 1) * 512)])
      let scored = targets.indices.filter { targets[$0] != TokenBatch.ignored }
      #expect(scored.count == 16)
      for position in scored {
        let key = inputs[position]
        let occurrences = inputs.indices.filter { inputs[$0] == key }
        #expect(occurrences.count == 2 && occurrences.last == position, "key \(key) at \(occurrences)")
        let first = occurrences[0]
        #expect(first % 2 == 0 && inputs[first + 1] == targets[position], "the value follows its key")
        longest = max(longest, position - first)
      }
    }
    #expect(longest > 256, "the longest pair-to-query distance is \(longest)")
  }

  @Test("selective copying: data tokens among noise, then one marker per token, answers in order")
  func selectiveCopying() {
    let task = SelectiveCopying(vocabularySize: 16, sequenceLength: 40, count: 6, seed: 2)
    let b = task.batch(0, size: 8)
    for n in 0..<8 {
      let x = Array(b.inputs.values[(n * 40)..<((n + 1) * 40)]), y = Array(b.targets.values[(n * 40)..<((n + 1) * 40)])
      let data = x.prefix(34).filter { $0 >= 2 }
      #expect(data.count == 6)
      #expect(Array(x.suffix(6)) == Array(repeating: SelectiveCopying.marker, count: 6))
      #expect(y.filter { $0 != TokenBatch.ignored } == data)
      #expect(y[33] == data[0] && y[38] == data[5] && y[39] == TokenBatch.ignored)
    }
  }

  @Test("induction heads: the answer follows the trigger's first occurrence")
  func induction() {
    let task = InductionHeads(vocabularySize: 20, sequenceLength: 30, seed: 1)
    let b = task.evaluationBatch(3, size: 16)
    for n in 0..<16 {
      let x = Array(b.inputs.values[(n * 30)..<((n + 1) * 30)]), y = Array(b.targets.values[(n * 30)..<((n + 1) * 30)])
      let first = x.firstIndex(of: InductionHeads.trigger)!
      #expect(x.filter { $0 == InductionHeads.trigger }.count == 2 && x[29] == InductionHeads.trigger)
      #expect(y[29] == x[first + 1] && y.filter { $0 != TokenBatch.ignored }.count == 1)
    }
  }

  @Test(
    "MAD tasks score only what they test, are reproducible, and fill the sequence",
    arguments: MechanisticDesignTask.Kind.allCases)
  func mad(_ kind: MechanisticDesignTask.Kind) {
    let task = MechanisticDesignTask(kind, vocabularySize: 32, sequenceLength: 64, count: 6, seed: 4)
    let b = task.batch(1, size: 8)
    #expect(b.inputs.shape == [8, 64] && b.targets.shape == [8, 64])
    #expect(b.inputs.values.allSatisfy { (0..<32).contains($0) })
    #expect(b.scoredCount > 0 && b.scoredCount < 8 * 64)
    #expect(task.batch(1, size: 8).inputs == b.inputs)
    if kind == .inContextRecall || kind == .memorization {
      // A scored position's answer is the value that this key had before (recall) or always has (memorization).
      var rule: [Int: Int] = [:]
      for n in 0..<8 {
        var seen: [Int: Int] = kind == .memorization ? rule : [:]
        for i in 0..<63 {
          let (k, v, t) = (b.inputs.values[n * 64 + i], b.inputs.values[n * 64 + i + 1], b.targets.values[n * 64 + i])
          guard k < 16 else { continue }
          if t != TokenBatch.ignored {
            #expect(t == v)
            if let known = seen[k] { #expect(known == v) }
          }
          seen[k] = v
        }
        if kind == .memorization { rule = seen }
      }
    }
  }

  @Test("a character corpus maps text to ids and back; windows shift targets by one")
  func corpus() {
    let corpus = CharacterCorpus(text: CharacterCorpus.generatedText(sentences: 300, seed: 1), sequenceLength: 32)
    let b = corpus.batch(0, size: 4)
    #expect(Array(b.inputs.values[1..<32]) == Array(b.targets.values[0..<31]))
    #expect(corpus.decode(corpus.tokens.prefix(4).map { $0 }).count == 4)
    #expect(corpus.vocabularySize < 40)
    #expect(corpus.batch(0, size: 4).inputs == b.inputs)
  }
}
