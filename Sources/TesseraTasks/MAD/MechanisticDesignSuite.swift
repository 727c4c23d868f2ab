import TesseraCore

/// The synthetic suite of MAD (Poli et al., "Mechanistic Design and Scaling of Hybrid
/// Architectures", 2024), as next-token tasks. Each task scores only the positions that test its
/// skill:
///
/// - **in-context recall**: a sequence of key–value pairs drawn from a per-sequence random map
///   (keys from the first half of the vocabulary, values from the second); a value is scored when
///   its key appeared earlier in the sequence.
/// - **fuzzy in-context recall**: the same with keys and values that are spans of 1…`spanLength`
///   tokens; every token of a value span is scored once its key span appeared before.
/// - **noisy in-context recall**: in-context recall with tokens of a separate noise vocabulary
///   inserted with probability `noise` between pairs (never scored).
/// - **selective copying**: ``SelectiveCopying``.
/// - **compression**: `count` random tokens, a compression token, then `count` position tokens
///   `p₁ … p_n`; at position token `pᵢ` the model must emit the i-th token. (MAD decodes the
///   compression token's output with a separate MLP; this is the language-model form of the same
///   reconstruction.)
/// - **memorization**: a key–value map fixed by the task's seed (not per sequence): sequences of
///   `k v` pairs whose values must be recalled from the weights; every value is scored.
public struct MechanisticDesignTask: ExampleTask, Codable, Sendable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    case inContextRecall, fuzzyInContextRecall, noisyInContextRecall, selectiveCopying, compression, memorization
  }

  public var kind: Kind
  public var vocabularySize: Int
  public var sequenceLength: Int
  /// Pairs in the per-sequence map (recall tasks) or tokens to copy / compress.
  public var count: Int
  public var spanLength: Int
  public var noise: Double
  public var seed: UInt64

  public init(
    _ kind: Kind, vocabularySize: Int = 32, sequenceLength: Int = 128, count: Int = 8, spanLength: Int = 3,
    noise: Double = 0.2, seed: UInt64 = 0
  ) {
    self.kind = kind
    self.vocabularySize = vocabularySize
    self.sequenceLength = sequenceLength
    self.count = count
    self.spanLength = spanLength
    self.noise = noise
    self.seed = seed
    check(vocabularySize >= 8, "MAD \(kind): the vocabulary needs at least 8 tokens")
  }

  public var streamName: String { "mad-\(kind.rawValue)" }

  public func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    switch kind {
    case .inContextRecall: return recall(&rng, noiseTokens: 0, span: 1)
    case .noisyInContextRecall: return recall(&rng, noiseTokens: max(2, vocabularySize / 8), span: 1)
    case .fuzzyInContextRecall: return recall(&rng, noiseTokens: 0, span: spanLength)
    case .selectiveCopying:
      return SelectiveCopying(vocabularySize: vocabularySize, sequenceLength: sequenceLength, count: count).example(
        &rng)
    case .compression: return compression(&rng)
    case .memorization: return memorization(&rng)
    }
  }

  /// Key and value vocabularies: the last `noiseTokens` tokens are noise; the rest is split in half.
  func recall(_ rng: inout RandomGenerator, noiseTokens: Int, span: Int) -> (inputs: [Int], targets: [Int]) {
    let usable = vocabularySize - noiseTokens
    let half = usable / 2
    check(count <= half, "MAD \(kind): \(count) distinct keys need a vocabulary of at least \(2 * count + noiseTokens)")
    // Keys start with distinct tokens, so no key is another's prefix.
    let firsts = rng.permutation(half).prefix(count)
    func spanOf(_ first: Int, _ base: Int, _ rng: inout RandomGenerator) -> [Int] {
      let n = span == 1 ? 1 : rng.integer(in: 1..<(span + 1))
      return [first + base] + rng.integers([n - 1], in: 0..<half).values.map { $0 + base }
    }
    let keys = firsts.map { spanOf($0, 0, &rng) }
    let values = (0..<count).map { _ in spanOf(rng.integer(in: 0..<half), half, &rng) }
    var x: [Int] = [], y: [Int] = []
    var seen = Set<Int>()
    while x.count < sequenceLength {
      if noiseTokens > 0 && Double(rng.nextUniform()) < noise {
        x.append(usable + rng.integer(in: 0..<noiseTokens))
        y.append(TokenBatch.ignored)
        continue
      }
      let i = rng.integer(in: 0..<count)
      for (j, token) in keys[i].enumerated() {
        x.append(token)
        // The last key token predicts the first value token, when the pair was seen before.
        y.append(j == keys[i].count - 1 && seen.contains(i) ? values[i][0] : TokenBatch.ignored)
      }
      for (j, token) in values[i].enumerated() {
        x.append(token)
        y.append(j + 1 < values[i].count && seen.contains(i) ? values[i][j + 1] : TokenBatch.ignored)
      }
      seen.insert(i)
    }
    // Cut to length; a target pointing past the end is dropped.
    x = Array(x.prefix(sequenceLength))
    y = Array(y.prefix(sequenceLength))
    return (x, y)
  }

  func compression(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    // Tokens: data 0..<V−n−1, the compression token V−n−1, position tokens V−n..<V.
    let n = min(count, (sequenceLength - 1) / 2)
    let compress = vocabularySize - n - 1
    check(compress > 1, "MAD compression: vocabulary \(vocabularySize) is too small for \(n) position tokens")
    let data = rng.integers([n], in: 0..<compress).values
    var x = rng.integers([sequenceLength], in: 0..<compress).values
    var y = [Int](repeating: TokenBatch.ignored, count: sequenceLength)
    let start = sequenceLength - 2 * n - 1
    for i in 0..<n { x[start + i] = data[i] }
    x[start + n] = compress
    for i in 0..<n {
      x[start + n + 1 + i] = compress + 1 + i
      y[start + n + 1 + i] = data[i]
    }
    return (x, y)
  }

  func memorization(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    let half = vocabularySize / 2
    // The map is a function of the task's seed only.
    var mapRNG = RandomGenerator(seed: seed).fork("mad-memorization-map")
    let values = mapRNG.integers([half], in: half..<vocabularySize).values
    var x: [Int] = [], y: [Int] = []
    while x.count < sequenceLength {
      let k = rng.integer(in: 0..<half)
      x += [k, values[k]]
      y += [values[k], TokenBatch.ignored]
    }
    return (Array(x.prefix(sequenceLength)), Array(y.prefix(sequenceLength)))
  }
}
