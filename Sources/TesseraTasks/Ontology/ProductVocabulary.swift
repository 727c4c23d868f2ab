/// The tokens of the product tasks: the ontology's entities first (``ProductOntology/entities``),
/// then relation names, yes and no, intent cue words and intent labels, sentiment words and
/// labels, tag labels, and the padding and question tokens. One vocabulary serves every product
/// task, so one model can be asked all of them.
public struct ProductVocabulary: Sendable, Equatable {
  /// A relation of the ontology graph asked about by ``RelationQueryTask``.
  public enum Relation: Int, CaseIterable, Sendable {
    case category, department, color, material, connector
  }

  /// What a shopper's query wants (``ProductQueryTask``).
  public enum Intent: Int, CaseIterable, Sendable {
    case buy, compare, returnItem, compatibility, specifications, complaint
  }

  public enum Sentiment: Int, CaseIterable, Sendable {
    case negative, neutral, positive
  }

  /// The tag of a query token (attribute extraction).
  public enum Tag: Int, CaseIterable, Sendable {
    case other, product, category, color, material, connector
  }

  public let ontology: ProductOntology
  /// Cue words per intent that name it alone.
  public static let ownCues = 2
  /// Words of each sentiment.
  public static let sentimentWords = 3

  public init(ontology: ProductOntology) { self.ontology = ontology }

  public func relation(_ r: Relation) -> Int { ontology.entities + r.rawValue }
  public var yes: Int { relation(.connector) + 1 }
  public var no: Int { yes + 1 }
  /// Cue word `k` naming intent `i` alone.
  public func ownCue(_ i: Intent, _ k: Int) -> Int { no + 1 + i.rawValue * Self.ownCues + k }
  /// Shared cue word `k`: it belongs to intents `k` and `k + 1` (cyclically), so two consecutive
  /// shared cues name the one intent they have in common.
  public func sharedCue(_ k: Int) -> Int { ownCue(.buy, 0) + Intent.allCases.count * Self.ownCues + k }
  public func intentLabel(_ i: Intent) -> Int { sharedCue(Intent.allCases.count) + i.rawValue }
  public func positiveWord(_ k: Int) -> Int { intentLabel(.buy) + Intent.allCases.count + k }
  public func negativeWord(_ k: Int) -> Int { positiveWord(Self.sentimentWords) + k }
  /// "not": flips the sentiment word after it.
  public var negation: Int { negativeWord(Self.sentimentWords) }
  public func sentimentLabel(_ s: Sentiment) -> Int { negation + 1 + s.rawValue }
  public func tagLabel(_ t: Tag) -> Int { sentimentLabel(.negative) + Sentiment.allCases.count + t.rawValue }
  public var padding: Int { tagLabel(.other) + Tag.allCases.count }
  /// The question mark of a relation or compatibility query: the answer is predicted here.
  public var ask: Int { padding + 1 }
  public var askIntent: Int { padding + 2 }
  public var askSentiment: Int { padding + 3 }
  public var size: Int { padding + 4 }

  /// The word a query writes for material `m`: the last two materials are written with the
  /// words of the last two colours ("gold", "silver"), so such a word is a colour or a material
  /// depending on its context (the attribute name after it).
  public func materialWord(_ m: Int) -> Int {
    m >= ontology.materials - 2
      ? ontology.colorToken(ontology.colors - 2 + m - (ontology.materials - 2)) : ontology.materialToken(m)
  }

  /// Whether a colour word is also a material word.
  public func isAmbiguous(color v: Int) -> Bool { v >= ontology.colors - 2 }
}
