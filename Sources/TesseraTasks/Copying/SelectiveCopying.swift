import TesseraCore

/// Selective copying (Gu & Dao, "Mamba", 2023, after Arjovsky et al.'s copying task): `count` data
/// tokens are scattered at random positions among noise tokens in the first `length − count`
/// positions; then `count` copy markers follow, and at each the model must emit the data tokens
/// in their order of appearance. Token 0 is the noise token, 1 the copy marker, data tokens are
/// `2..<vocabularySize`. Only the copy positions are scored (each predicts the next data token).
public struct SelectiveCopying: ExampleTask, Codable, Sendable {
  public var vocabularySize: Int
  public var sequenceLength: Int
  public var count: Int
  public var seed: UInt64

  public static let noise = 0
  public static let marker = 1

  public init(vocabularySize: Int = 16, sequenceLength: Int = 64, count: Int = 8, seed: UInt64 = 0) {
    check(vocabularySize > 2, "SelectiveCopying: need data tokens beyond noise (0) and marker (1)")
    check(2 * count < sequenceLength, "SelectiveCopying: \(count) tokens do not fit in \(sequenceLength)")
    self.vocabularySize = vocabularySize
    self.sequenceLength = sequenceLength
    self.count = count
    self.seed = seed
  }

  public func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    let region = sequenceLength - count
    let positions = rng.permutation(region).prefix(count).sorted()
    let data = rng.integers([count], in: 2..<vocabularySize).values
    var x = [Int](repeating: Self.noise, count: sequenceLength)
    var y = [Int](repeating: TokenBatch.ignored, count: sequenceLength)
    for (p, token) in zip(positions, data) { x[p] = token }
    // The last data position predicts the first copy; each marker predicts the next one.
    for i in 0..<count {
      x[region + i] = Self.marker
      y[region + i - 1] = data[i]
    }
    return (x, y)
  }

  public var streamName: String { "selective-copying" }
}
