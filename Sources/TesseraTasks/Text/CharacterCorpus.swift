import Foundation
import TesseraCore

/// A character-level text corpus for language modelling: the vocabulary is the sorted set of
/// characters (Unicode scalars) in the text; a batch is `size` windows of `sequenceLength + 1`
/// characters at seeded random offsets, inputs the first `sequenceLength`, targets shifted by one.
/// The last tenth of the text is held out for evaluation.
public struct CharacterCorpus: SequenceTask, Sendable {
  public let alphabet: [Character]
  public let tokens: [Int]
  public var sequenceLength: Int
  public var seed: UInt64
  public var vocabularySize: Int { alphabet.count }

  public init(text: String, sequenceLength: Int = 128, seed: UInt64 = 0) {
    let characters = Array(text)
    alphabet = Array(Set(characters)).sorted {
      String($0).unicodeScalars.first!.value < String($1).unicodeScalars.first!.value
    }
    let index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, $0) })
    tokens = characters.map { index[$0]! }
    self.sequenceLength = sequenceLength
    self.seed = seed
    check(
      tokens.count / 10 > sequenceLength + 1,
      "CharacterCorpus: \(tokens.count) characters are too few for windows of \(sequenceLength + 1)")
  }

  /// Reads a UTF-8 text file.
  public init(path: String, sequenceLength: Int = 128, seed: UInt64 = 0) throws {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    self.init(text: text, sequenceLength: sequenceLength, seed: seed)
  }

  var split: Int { tokens.count - tokens.count / 10 }

  func windows(_ range: Range<Int>, stream: String, index: Int, size: Int) -> TokenBatch {
    var rng = RandomGenerator(seed: seed).fork(stream).fork(index)
    let starts = rng.integers([size], in: range.lowerBound..<(range.upperBound - sequenceLength - 1)).values
    var x: [Int] = [], y: [Int] = []
    for s in starts {
      x += tokens[s..<(s + sequenceLength)]
      y += tokens[(s + 1)..<(s + sequenceLength + 1)]
    }
    return TokenBatch(
      inputs: IndexTensor(x, shape: [size, sequenceLength]), targets: IndexTensor(y, shape: [size, sequenceLength]))
  }

  public func batch(_ index: Int, size: Int) -> TokenBatch {
    windows(0..<split, stream: "train", index: index, size: size)
  }

  public func evaluationBatch(_ index: Int, size: Int) -> TokenBatch {
    windows(split..<tokens.count, stream: "eval", index: index, size: size)
  }

  /// Text for token ids.
  public func decode(_ ids: [Int]) -> String { String(ids.map { alphabet[$0] }) }

  /// A small generated corpus (for tests and examples): sentences from a tiny grammar, seeded.
  public static func generatedText(sentences: Int = 2000, seed: UInt64 = 0) -> String {
    let subjects = ["the model", "a layer", "the state", "each head", "the router", "a token"]
    let verbs = ["reads", "writes", "gates", "mixes", "routes", "forgets", "recalls"]
    let objects = ["the key", "a value", "its memory", "the next token", "every expert", "the context"]
    let endings = [".", " again.", " at once.", " in order."]
    var rng = RandomGenerator(seed: seed).fork("generated-text")
    var out = ""
    for _ in 0..<sentences {
      out +=
        subjects[rng.integer(in: 0..<subjects.count)] + " " + verbs[rng.integer(in: 0..<verbs.count)] + " "
        + objects[rng.integer(in: 0..<objects.count)] + endings[rng.integer(in: 0..<endings.count)] + "\n"
    }
    return out
  }
}
