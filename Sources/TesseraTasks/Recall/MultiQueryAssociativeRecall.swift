import Foundation
import TesseraCore

/// Multi-query associative recall (MQAR), with the semantics of Zoology (Arora et al., "Zoology:
/// Measuring and Improving Recall in Efficient Language Models", 2023):
///
/// - the sequence opens with `pairs` key–value pairs `k₁ v₁ … k_P v_P`: keys drawn without
///   replacement from `1..<V/2`, values from `V/2..<V`;
/// - the rest of the sequence holds every key once more, as a query, at even offsets whose gaps
///   follow a power law (`p(g) ∝ g^(a−1)`, `a = powerA`, so most queries come soon after the
///   context); every other position is a random token (`randomNonQueries`, Zoology's default) or
///   token 0 (the setting of the paper's Figure 2);
/// - the target at a query's position is its value; all other targets are ignored, so the loss
///   and the accuracy count answers only.
///
/// With `spread`, the pairs are spread over the whole sequence instead (for sparse attention,
/// whose patterns must then find a pair anywhere in the context): the sequence is cut into
/// two-token slots, each pair takes two distinct slots drawn uniformly, the earlier holding
/// `k v` and the later the query `k` — so the distance from a query back to its pair is spread
/// over the whole length.
public struct MultiQueryAssociativeRecall: SequenceTask, Codable, Sendable {
  public var vocabularySize: Int
  public var sequenceLength: Int
  public var pairs: Int
  public var powerA: Double
  /// Fill the positions that are neither context nor query with random tokens (else with 0).
  public var randomNonQueries: Bool
  /// Pairs anywhere in the sequence, each query after its pair (else the pairs open the sequence).
  public var spread: Bool
  public var seed: UInt64

  public init(
    vocabularySize: Int = 256, sequenceLength: Int = 64, pairs: Int = 4, powerA: Double = 0.01,
    randomNonQueries: Bool = true, spread: Bool = false, seed: UInt64 = 0
  ) {
    check(sequenceLength % 2 == 0, "MQAR: the sequence length must be even, got \(sequenceLength)")
    // Zoology also asserts vocabulary > length; nothing in the task needs it (keys and values only need
    // `pairs` distinct tokens each), and the CPU settings pair T 256 with a vocabulary of 256.
    check(pairs * 4 <= sequenceLength, "MQAR: \(pairs) pairs need a length of at least \(pairs * 4)")
    check(pairs < vocabularySize / 2, "MQAR: \(pairs) distinct keys do not fit in \(vocabularySize / 2 - 1)")
    self.vocabularySize = vocabularySize
    self.sequenceLength = sequenceLength
    self.pairs = pairs
    self.powerA = powerA
    self.randomNonQueries = randomNonQueries
    self.spread = spread
    self.seed = seed
  }

  public func batch(_ index: Int, size: Int) -> TokenBatch {
    make(RandomGenerator(seed: seed).fork("mqar-train").fork(index), size: size)
  }

  public func evaluationBatch(_ index: Int, size: Int) -> TokenBatch {
    make(RandomGenerator(seed: seed).fork("mqar-eval").fork(index), size: size)
  }

  /// One example: inputs and targets of length `sequenceLength`.
  func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    let half = vocabularySize / 2
    let keys = Array(rng.permutation(half - 1).prefix(pairs)).map { $0 + 1 }
    let values = Array(rng.permutation(vocabularySize - half).prefix(pairs)).map { $0 + half }
    let context = 2 * pairs
    let space = (sequenceLength - context) / 2
    let gaps = Self.sampleWithoutReplacement(
      weights: (1...space).map { powerA * Foundation.pow(Double($0), powerA - 1) }, count: pairs, rng: &rng)
    var inputs =
      randomNonQueries
      ? rng.integers([sequenceLength], in: 0..<vocabularySize).values : [Int](repeating: 0, count: sequenceLength)
    var targets = [Int](repeating: TokenBatch.ignored, count: sequenceLength)
    if spread {
      let slots = rng.permutation(sequenceLength / 2)
      for i in 0..<pairs {
        let (a, b) = (min(slots[2 * i], slots[2 * i + 1]), max(slots[2 * i], slots[2 * i + 1]))
        inputs[2 * a] = keys[i]
        inputs[2 * a + 1] = values[i]
        inputs[2 * b] = keys[i]
        targets[2 * b] = values[i]
      }
      return (inputs, targets)
    }
    for i in 0..<pairs {
      inputs[2 * i] = keys[i]
      inputs[2 * i + 1] = values[i]
      let position = context + 2 * gaps[i]
      inputs[position] = keys[i]
      targets[position] = values[i]
    }
    return (inputs, targets)
  }

  func make(_ generator: RandomGenerator, size: Int) -> TokenBatch {
    var inputs: [Int] = [], targets: [Int] = []
    for n in 0..<size {
      var rng = generator.fork(n)
      let (i, t) = example(&rng)
      inputs += i
      targets += t
    }
    return TokenBatch(
      inputs: IndexTensor(inputs, shape: [size, sequenceLength]),
      targets: IndexTensor(targets, shape: [size, sequenceLength]))
  }

  /// `count` distinct indices drawn with probabilities proportional to `weights` (successive draws
  /// renormalised over what is left, as `numpy.random.choice(replace=False, p=…)`).
  static func sampleWithoutReplacement(weights: [Double], count: Int, rng: inout RandomGenerator) -> [Int] {
    var w = weights
    var chosen: [Int] = []
    for _ in 0..<count {
      let total = w.reduce(0, +)
      var u = Double(rng.nextUniform()) * total
      var pick = w.lastIndex { $0 > 0 } ?? 0
      for (i, x) in w.enumerated() where x > 0 {
        if u < x {
          pick = i
          break
        }
        u -= x
      }
      chosen.append(pick)
      w[pick] = 0
    }
    return chosen
  }
}
