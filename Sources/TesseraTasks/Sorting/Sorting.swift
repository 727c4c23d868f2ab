import TesseraCore

/// Sorting: `count` data tokens drawn with repetition, a separator, then the same tokens in
/// ascending order, the rest padding. Token 0 is padding, 1 the separator, data tokens are
/// `2..<vocabularySize`. Only the sorted half is scored (the separator predicts the smallest, each
/// sorted token the next). Unlike copying, the output order is not the input order: the model must
/// compare, not only look up.
public struct Sorting: ExampleTask, Codable, Sendable {
  public var vocabularySize: Int
  public var sequenceLength: Int
  public var count: Int
  public var seed: UInt64

  public static let padding = 0
  public static let separator = 1

  public init(vocabularySize: Int = 16, sequenceLength: Int = 64, count: Int = 8, seed: UInt64 = 0) {
    check(vocabularySize > 2, "Sorting: need data tokens beyond padding (0) and separator (1)")
    check(
      2 * count + 1 <= sequenceLength, "Sorting: \(count) tokens and their sorted copy do not fit in \(sequenceLength)")
    self.vocabularySize = vocabularySize
    self.sequenceLength = sequenceLength
    self.count = count
    self.seed = seed
  }

  public func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    let data = rng.integers([count], in: 2..<vocabularySize).values
    let sorted = data.sorted()
    var x = [Int](repeating: Self.padding, count: sequenceLength)
    var y = [Int](repeating: TokenBatch.ignored, count: sequenceLength)
    for (i, token) in data.enumerated() { x[i] = token }
    x[count] = Self.separator
    for (i, token) in sorted.enumerated() {
      x[count + 1 + i] = token
      y[count + i] = token
    }
    return (x, y)
  }

  public var streamName: String { "sorting" }
}
