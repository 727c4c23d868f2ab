import TesseraCore

/// Pair classification over a ``ProductOntology``: are two products compatible? Inputs
/// `[product a, product b, ask]`; the target at `ask` is ``ProductVocabulary/yes`` or
/// ``ProductVocabulary/no``, the label `"compatible"` 1 or 0.
///
/// Pairs come in three equal shares: compatible pairs, pairs whose categories fit but whose
/// connectors differ (*complex*: the connectors decide), and pairs whose categories do not fit
/// (*simple*: the categories decide). A fixed share of all pairs (`heldOutFraction`, by a stable
/// hash) is held out: training batches never show them, held-out batches show only them, so a
/// model must infer the relation, not remember the pairs.
public struct CompatibilityTask: LabelledExampleTask, Sendable {
  public let vocabulary: ProductVocabulary
  public let heldOutFraction: Double
  public let seed: UInt64
  public var sequenceLength: Int { 3 }
  public var vocabularySize: Int { vocabulary.size }
  public var streamName: String { "compatibility" }
  public var ontology: ProductOntology { vocabulary.ontology }
  /// Unordered pairs `(a < b)` of each share, training and held out.
  let pools: [[(Int, Int)]]

  public init(ontology: ProductOntology, heldOutFraction: Double = 0.2, seed: UInt64 = 0) {
    check((0..<1).contains(heldOutFraction), "CompatibilityTask: heldOutFraction \(heldOutFraction) is not in [0, 1)")
    vocabulary = ProductVocabulary(ontology: ontology)
    self.heldOutFraction = heldOutFraction
    self.seed = seed
    var pools = [[(Int, Int)]](repeating: [], count: 6)
    for a in 0..<ontology.products {
      for b in (a + 1)..<ontology.products {
        let share = ontology.compatible(a, b) ? 0 : ontology.categoriesFit(a, b) ? 1 : 2
        pools[share + (Self.isHeldOut(a, b, fraction: heldOutFraction, seed: seed) ? 3 : 0)].append((a, b))
      }
    }
    for (i, pool) in pools.enumerated() where heldOutFraction > 0 || i < 3 {
      check(
        !pool.isEmpty,
        "CompatibilityTask: the ontology has no pair of share \(i % 3) \(i < 3 ? "to train on" : "held out")")
    }
    self.pools = pools
  }

  /// Whether the pair `a, b` is held out.
  public func isHeldOut(_ a: Int, _ b: Int) -> Bool {
    Self.isHeldOut(a, b, fraction: heldOutFraction, seed: seed)
  }

  static func isHeldOut(_ a: Int, _ b: Int, fraction: Double, seed: UInt64) -> Bool {
    Double(stableHash([min(a, b), max(a, b)], seed: seed) % 10_000) / 10_000 < fraction
  }

  public func labelledExample(_ rng: inout RandomGenerator, evaluation: Bool) -> LabelledExample {
    let u = rng.uniform([3]).scalars.map(Double.init)
    let share = Int(u[0] * 3) % 3
    let pool = pools[share + (evaluation && heldOutFraction > 0 ? 3 : 0)]
    let (a, b) = pool[Int(u[1] * Double(pool.count)) % pool.count]
    let (first, second) = u[2] < 0.5 ? (a, b) : (b, a)
    let compatible = share == 0
    return LabelledExample(
      inputs: [ontology.productToken(first), ontology.productToken(second), vocabulary.ask],
      targets: [TokenBatch.ignored, TokenBatch.ignored, compatible ? vocabulary.yes : vocabulary.no],
      labels: ["compatible": [compatible ? 1 : 0]], simple: share == 2)
  }
}
