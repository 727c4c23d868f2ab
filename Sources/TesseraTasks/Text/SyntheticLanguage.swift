import Foundation
import TesseraCore

/// A seeded synthetic language whose character-level loss rewards memory, so that more
/// parameters (more experts at the same FLOPs per token) can lower it: a lexicon of `words`
/// pseudo-words (one to four syllables of a seeded syllable set) with Zipf frequencies
/// (exponent 1.1), and per word `successors` likely next words. Text is sentences of 4–11 words:
/// each next word is one of the current word's successors with probability `followProbability`,
/// else a fresh draw from the Zipf distribution. A model must learn the spellings (many words,
/// each rare) and the word-to-word transitions — facts, not rules.
public struct SyntheticLanguage: Sendable {
  public let lexicon: [String]
  public let successors: [[Int]]
  public let followProbability: Double
  let cumulative: [Double]

  public init(words: Int = 4000, successors count: Int = 3, followProbability: Double = 0.75, seed: UInt64 = 0) {
    var rng = RandomGenerator(seed: seed).fork("synthetic-language")
    let consonants = Array("bdfghklmnprstvz"), vowels = Array("aeiou")
    var seen = Set<String>(), lexicon: [String] = []
    while lexicon.count < words {
      let syllables = 1 + rng.integer(in: 0..<4)
      var word = ""
      for _ in 0..<syllables {
        word.append(consonants[rng.integer(in: 0..<consonants.count)])
        word.append(vowels[rng.integer(in: 0..<vowels.count)])
      }
      if seen.insert(word).inserted { lexicon.append(word) }
    }
    var total = 0.0
    let weights = (0..<words).map { rank in
      total += 1 / pow(Double(rank + 1), 1.1)
      return total
    }
    cumulative = weights
    self.lexicon = lexicon
    self.followProbability = followProbability
    var next: [[Int]] = []
    for _ in 0..<words { next.append((0..<count).map { _ in Self.zipf(&rng, weights) }) }
    successors = next
  }

  static func zipf(_ rng: inout RandomGenerator, _ cumulative: [Double]) -> Int {
    let u = Double(rng.nextUniform()) * cumulative[cumulative.count - 1]
    var (low, high) = (0, cumulative.count - 1)
    while low < high {
      let mid = (low + high) / 2
      if cumulative[mid] < u { low = mid + 1 } else { high = mid }
    }
    return low
  }

  /// `sentences` sentences of the language, one per line, from the stream of `seed`.
  public func text(sentences: Int, seed: UInt64 = 1) -> String {
    var rng = RandomGenerator(seed: seed).fork("synthetic-language-text")
    var out = ""
    out.reserveCapacity(sentences * 48)
    for _ in 0..<sentences {
      let length = 4 + rng.integer(in: 0..<8)
      var word = Self.zipf(&rng, cumulative)
      for i in 0..<length {
        if i > 0 {
          out.append(" ")
          word =
            Double(rng.nextUniform()) < followProbability
            ? successors[word][rng.integer(in: 0..<successors[word].count)] : Self.zipf(&rng, cumulative)
        }
        out += lexicon[word]
      }
      out += ".\n"
    }
    return out
  }
}
