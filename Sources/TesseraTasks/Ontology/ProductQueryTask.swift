import TesseraCore

/// Shoppers' queries over a ``ProductOntology``, with three labels: the query's intent, a tag for
/// every token (attribute extraction: product, category, colour, material, connector or other)
/// and a sentiment. A query is a shuffled run of segments — intent cues, a product or category
/// mention, up to two attribute values (each optionally followed by its attribute's name), a
/// sentiment — padded to ``queryLength``, then the tokens ``ProductVocabulary/askIntent`` and
/// ``ProductVocabulary/askSentiment``.
///
/// Labels for a classification model: `"intent"` and `"sentiment"` (one per query), `"tags"` (one
/// per position; padding and the two question tokens unscored). The same questions for a plain
/// language model as targets: each query token's tag label token at its position, the intent
/// label token at `askIntent`, the sentiment label token at `askSentiment`.
///
/// *Complex* queries: the intent given only by two shared cue words (each names two intents), a
/// value word that is a colour or a material depending on the attribute name after it, or a
/// negated sentiment word. Every other query is *simple*.
public struct ProductQueryTask: LabelledExampleTask, Sendable {
  public let vocabulary: ProductVocabulary
  public let seed: UInt64
  /// The probability of each complex ingredient (shared cues, an ambiguous value, a negation).
  public let complexity: Double

  /// Query tokens before the two question tokens.
  public static let queryLength = 12
  public var sequenceLength: Int { Self.queryLength + 2 }
  public var vocabularySize: Int { vocabulary.size }
  public var streamName: String { "product-query" }
  public var ontology: ProductOntology { vocabulary.ontology }

  public init(ontology: ProductOntology, complexity: Double = 0.3, seed: UInt64 = 0) {
    vocabulary = ProductVocabulary(ontology: ontology)
    self.complexity = complexity
    self.seed = seed
  }

  /// Classes of each head: `"intent"`, `"tags"`, `"sentiment"`.
  public static let headClasses: [String: Int] = [
    "intent": ProductVocabulary.Intent.allCases.count, "tags": ProductVocabulary.Tag.allCases.count,
    "sentiment": ProductVocabulary.Sentiment.allCases.count,
  ]

  public func labelledExample(_ rng: inout RandomGenerator, evaluation: Bool) -> LabelledExample {
    typealias V = ProductVocabulary
    let u = rng.uniform([16]).scalars.map(Double.init)
    var simple = true
    var segments: [[(token: Int, tag: V.Tag)]] = []
    // Intent.
    let intentCount = V.Intent.allCases.count
    let intent = V.Intent(rawValue: Int(u[0] * Double(intentCount)) % intentCount)!
    if u[1] < complexity {
      simple = false
      let pair = [
        vocabulary.sharedCue((intent.rawValue + intentCount - 1) % intentCount), vocabulary.sharedCue(intent.rawValue),
      ]
      segments.append((u[2] < 0.5 ? pair : pair.reversed()).map { ($0, .other) })
    } else {
      segments.append([(vocabulary.ownCue(intent, u[2] < 0.5 ? 0 : 1), .other)])
    }
    // A product or a category.
    if u[3] < 0.7 {
      segments.append([(ontology.productToken(Int(u[4] * Double(ontology.products)) % ontology.products), .product)])
    } else {
      segments.append([
        (ontology.categoryToken(Int(u[4] * Double(ontology.categories)) % ontology.categories), .category)
      ])
    }
    // Up to two attribute values; an ambiguous word is always followed by its attribute's name.
    let values = Int(u[5] * 3) % 3
    var ambiguous = u[6] < complexity && values > 0
    for _ in 0..<values {
      let pick = rng.uniform([3]).scalars.map(Double.init)
      var segment: [(Int, V.Tag)]
      let named = pick[2] < 0.4
      if ambiguous {
        ambiguous = false
        simple = false
        let which = Int(pick[1] * 2) % 2
        if pick[0] < 0.5 {
          let color = ontology.colors - 2 + which
          segment = [(ontology.colorToken(color), .color), (vocabulary.relation(.color), .other)]
        } else {
          let material = ontology.materials - 2 + which
          segment = [(vocabulary.materialWord(material), .material), (vocabulary.relation(.material), .other)]
        }
      } else {
        switch Int(pick[0] * 3) % 3 {
        case 0:
          let color = Int(pick[1] * Double(ontology.colors - 2)) % (ontology.colors - 2)
          segment = [(ontology.colorToken(color), .color)] + (named ? [(vocabulary.relation(.color), .other)] : [])
        case 1:
          let material = Int(pick[1] * Double(ontology.materials - 2)) % (ontology.materials - 2)
          segment =
            [(vocabulary.materialWord(material), .material)] + (named ? [(vocabulary.relation(.material), .other)] : [])
        default:
          let connector = Int(pick[1] * Double(ontology.connectors)) % ontology.connectors
          segment =
            [(ontology.connectorToken(connector), .connector)]
            + (named ? [(vocabulary.relation(.connector), .other)] : [])
        }
      }
      segments.append(segment)
    }
    // Sentiment: none (neutral), a word, or "not" and a word (the opposite).
    let sentiment: V.Sentiment
    if u[7] < 0.3 {
      sentiment = .neutral
    } else {
      let positive = u[8] < 0.5
      let word = Int(u[9] * Double(V.sentimentWords)) % V.sentimentWords
      let token = positive ? vocabulary.positiveWord(word) : vocabulary.negativeWord(word)
      if u[10] < complexity {
        simple = false
        sentiment = positive ? .negative : .positive
        segments.append([(vocabulary.negation, .other), (token, .other)])
      } else {
        sentiment = positive ? .positive : .negative
        segments.append([(token, .other)])
      }
    }
    let order = rng.permutation(segments.count)
    let query = order.flatMap { segments[$0] }
    check(query.count <= Self.queryLength, "ProductQueryTask: a query of \(query.count) tokens")
    let pad = Self.queryLength - query.count
    let inputs =
      query.map(\.token) + [Int](repeating: vocabulary.padding, count: pad) + [
        vocabulary.askIntent, vocabulary.askSentiment,
      ]
    let tags = query.map(\.tag.rawValue) + [Int](repeating: TokenBatch.ignored, count: pad + 2)
    let targets =
      query.map { vocabulary.tagLabel($0.tag) } + [Int](repeating: TokenBatch.ignored, count: pad)
      + [vocabulary.intentLabel(intent), vocabulary.sentimentLabel(sentiment)]
    return LabelledExample(
      inputs: inputs, targets: targets,
      labels: ["intent": [intent.rawValue], "tags": tags, "sentiment": [sentiment.rawValue]], simple: simple)
  }
}
