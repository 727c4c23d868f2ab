import TesseraCore

/// The induction-head task (Olsson et al., 2022; the synthetic form of Fu et al., "Hungry Hungry
/// Hippos", 2023): a random sequence in which a trigger token appears twice; after its second
/// occurrence (the last position) the model must emit the token that followed the first one.
/// Token 0 is the trigger; the rest are drawn from `1..<vocabularySize`. Only the last position
/// is scored.
public struct InductionHeads: ExampleTask, Codable, Sendable {
  public var vocabularySize: Int
  public var sequenceLength: Int
  public var seed: UInt64

  public static let trigger = 0

  public init(vocabularySize: Int = 32, sequenceLength: Int = 64, seed: UInt64 = 0) {
    check(sequenceLength >= 4, "InductionHeads: the sequence needs at least 4 tokens")
    self.vocabularySize = vocabularySize
    self.sequenceLength = sequenceLength
    self.seed = seed
  }

  public func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    var x = rng.integers([sequenceLength], in: 1..<vocabularySize).values
    let first = rng.integer(in: 0..<(sequenceLength - 2))
    x[first] = Self.trigger
    x[sequenceLength - 1] = Self.trigger
    var y = [Int](repeating: TokenBatch.ignored, count: sequenceLength)
    y[sequenceLength - 1] = x[first + 1]
    return (x, y)
  }

  public var streamName: String { "induction" }
}
