import Foundation
import TesseraCore

/// A seeded symptom ontology: causes grouped into families, each cause with a prior and a
/// probability for every symptom. A family's causes share its family symptoms (likely for every
/// member) and draw their secondary symptoms from the family's pool with their own probabilities;
/// each cause has one distinctive symptom that almost only it produces; every symptom can also
/// appear by chance (a small leak). The symptoms of a case are drawn independently given its
/// cause, so the exact posterior over causes is available (``posterior(present:)``) as an ideal
/// teacher.
///
/// Depth gives easy and hard cases: a case that shows its cause's distinctive symptom is
/// *simple* (one symptom names the cause); without it the cause must be told from its siblings by
/// the combination of secondary symptoms — *complex*.
public struct SymptomOntology: Codable, Sendable, Equatable {
  public let families: Int
  public let causesPerFamily: Int
  public let symptoms: Int
  /// Prior probability of each cause.
  public let prior: [Double]
  /// `probability[cause][symptom]`: the chance the symptom shows given the cause.
  public let probability: [[Double]]
  /// Each cause's distinctive symptom.
  public let distinctive: [Int]
  public let seed: UInt64

  public var causes: Int { families * causesPerFamily }

  /// `families × causesPerFamily` causes; per family 2 family symptoms and a pool of
  /// `secondaryPool` secondary symptoms (each cause shows 3 of them with probability 0.35–0.85),
  /// one distinctive symptom per cause (probability `distinctiveProbability`), leak 0.02.
  public init(
    families: Int = 6, causesPerFamily: Int = 4, secondaryPool: Int = 5, distinctiveProbability: Double = 0.6,
    leak: Double = 0.02, seed: UInt64 = 0
  ) {
    check(families >= 1 && causesPerFamily >= 2, "SymptomOntology: need a family of at least two causes")
    check(secondaryPool >= 3, "SymptomOntology: a family's secondary pool needs at least 3 symptoms")
    let causes = families * causesPerFamily
    let perFamily = 2 + secondaryPool
    let symptoms = families * perFamily + causes
    var rng = RandomGenerator(seed: seed).fork("symptom-ontology")
    var probability = [[Double]](repeating: [Double](repeating: leak, count: symptoms), count: causes)
    var distinctive: [Int] = []
    for c in 0..<causes {
      let family = c / causesPerFamily
      let base = family * perFamily
      probability[c][base] = 0.9
      probability[c][base + 1] = 0.7
      let pool = rng.permutation(secondaryPool).prefix(3)
      let strengths = rng.uniform([3]).scalars
      for (s, u) in zip(pool, strengths) { probability[c][base + 2 + s] = 0.35 + 0.5 * Double(u) }
      let own = families * perFamily + c
      probability[c][own] = distinctiveProbability
      distinctive.append(own)
    }
    // Zipf-like priors, shuffled over the causes.
    let weights = rng.permutation(causes).map { 1 / Double($0 + 2) }
    let total = weights.reduce(0, +)
    self.families = families
    self.causesPerFamily = causesPerFamily
    self.symptoms = symptoms
    self.prior = weights.map { $0 / total }
    self.probability = probability
    self.distinctive = distinctive
    self.seed = seed
  }

  /// A case drawn from the ontology: its cause, its symptoms (ascending), and whether it shows its
  /// cause's distinctive symptom.
  public struct Case: Sendable, Equatable {
    public var cause: Int
    public var present: [Int]
    public var simple: Bool
  }

  /// Draws a cause from the prior, then each symptom independently given it.
  public func sample(_ rng: inout RandomGenerator) -> Case {
    let draws = rng.uniform([symptoms + 1]).scalars
    var u = Double(draws[symptoms])
    var cause = causes - 1
    for (c, p) in prior.enumerated() {
      if u < p {
        cause = c
        break
      }
      u -= p
    }
    let present = (0..<symptoms).filter { Double(draws[$0]) < probability[cause][$0] }
    return Case(cause: cause, present: present, simple: present.contains(distinctive[cause]))
  }

  /// The exact posterior over causes given the symptoms present (every other symptom absent):
  /// `p(c | x) ∝ prior(c) Π_s p(s|c)^x_s (1 − p(s|c))^(1 − x_s)`, computed in log space.
  public func posterior(present: [Int]) -> [Double] {
    let shown = Set(present)
    let logs = (0..<causes).map { c -> Double in
      (0..<symptoms).reduce(Foundation.log(prior[c])) { sum, s in
        sum + Foundation.log(shown.contains(s) ? probability[c][s] : 1 - probability[c][s])
      }
    }
    let top = logs.max()!
    let weights = logs.map { Foundation.exp($0 - top) }
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
  }
}

/// Diagnosis as a sequence task over a ``SymptomOntology``: a case's symptoms (token `s` for
/// symptom `s`, ascending), padding, then the query token; the target at the query is the cause
/// (token `symptoms + c`). Every other position is unscored. Tokens: symptoms, then causes, then
/// padding and the query.
public struct DiagnosisTask: ExampleTask, Sendable {
  public let ontology: SymptomOntology
  public let sequenceLength: Int
  public let seed: UInt64

  public var vocabularySize: Int { ontology.symptoms + ontology.causes + 2 }
  public var padding: Int { ontology.symptoms + ontology.causes }
  public var query: Int { padding + 1 }
  public var streamName: String { "diagnosis" }

  /// `sequenceLength` holds the symptoms and the query; a case with more symptoms than fit keeps
  /// the first `sequenceLength − 1` (rare for the default ontology: about 5 symptoms a case).
  public init(ontology: SymptomOntology, sequenceLength: Int = 16, seed: UInt64 = 0) {
    check(sequenceLength >= 2, "DiagnosisTask: a sequence needs room for a symptom and the query")
    self.ontology = ontology
    self.sequenceLength = sequenceLength
    self.seed = seed
  }

  /// The token of cause `c`.
  public func causeToken(_ c: Int) -> Int { ontology.symptoms + c }

  public func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int]) {
    encode(ontology.sample(&rng))
  }

  /// A case as inputs and targets: symptoms, padding, the query last; the cause scored there.
  public func encode(_ diagnosis: SymptomOntology.Case) -> (inputs: [Int], targets: [Int]) {
    let shown = diagnosis.present.prefix(sequenceLength - 1)
    var x = Array(shown) + [Int](repeating: padding, count: sequenceLength - 1 - shown.count)
    x.append(query)
    var y = [Int](repeating: TokenBatch.ignored, count: sequenceLength)
    y[sequenceLength - 1] = causeToken(diagnosis.cause)
    return (x, y)
  }

  /// The case behind an encoded example: its cause and symptoms, and whether it is simple.
  public func decode(inputs: [Int], target: Int) -> SymptomOntology.Case {
    let cause = target - ontology.symptoms
    let present = inputs.filter { $0 < ontology.symptoms }
    return SymptomOntology.Case(cause: cause, present: present, simple: present.contains(ontology.distinctive[cause]))
  }
}
