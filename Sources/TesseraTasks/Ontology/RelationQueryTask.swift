import TesseraCore

/// Relation queries over a ``ProductOntology``'s graph: `[entity, relation, ask]`, the answer
/// entity's token the target at `ask` — a product's category, colour, material or connector
/// (one hop: *simple*), a product's department (two hops, through its category: *complex*), a
/// category's department (one hop). Each example's `"expert"` label is the department the entity
/// belongs to (what a router over departments should pick).
///
/// With `heldOutFraction > 0` a share of the facts (entity, relation), by a stable hash, is held
/// out: training never asks them, held-out batches ask only them — answerable from the graph, not
/// from memory. With 0, held-out batches ask the same facts as training (closed-book recall).
public struct RelationQueryTask: LabelledExampleTask, Sendable {
  public typealias Relation = ProductVocabulary.Relation
  public let vocabulary: ProductVocabulary
  public let heldOutFraction: Double
  public let seed: UInt64
  public var sequenceLength: Int { 3 }
  public var vocabularySize: Int { vocabulary.size }
  public var streamName: String { "relation-query" }
  public var ontology: ProductOntology { vocabulary.ontology }
  /// The facts: (entity token, relation, answer token, department, simple); training and held out.
  let facts: [[Fact]]

  /// A question and its answer.
  public struct Fact: Sendable, Equatable {
    public var entity: Int
    public var relation: Relation
    public var answer: Int
    public var department: Int
    public var simple: Bool
  }

  public init(ontology: ProductOntology, heldOutFraction: Double = 0, seed: UInt64 = 0) {
    check((0..<1).contains(heldOutFraction), "RelationQueryTask: heldOutFraction \(heldOutFraction) is not in [0, 1)")
    vocabulary = ProductVocabulary(ontology: ontology)
    self.heldOutFraction = heldOutFraction
    self.seed = seed
    var all: [Fact] = []
    for p in 0..<ontology.products {
      let department = ontology.department(ofProduct: p)
      let entity = ontology.productToken(p)
      all.append(
        Fact(
          entity: entity, relation: .category, answer: ontology.categoryToken(ontology.category(ofProduct: p)),
          department: department, simple: true))
      all.append(
        Fact(
          entity: entity, relation: .department, answer: ontology.departmentToken(department), department: department,
          simple: false))
      all.append(
        Fact(
          entity: entity, relation: .color, answer: ontology.colorToken(ontology.productColor[p]),
          department: department, simple: true))
      all.append(
        Fact(
          entity: entity, relation: .material, answer: ontology.materialToken(ontology.productMaterial[p]),
          department: department, simple: true))
      all.append(
        Fact(
          entity: entity, relation: .connector, answer: ontology.connectorToken(ontology.productConnector[p]),
          department: department, simple: true))
    }
    for c in 0..<ontology.categories {
      let department = ontology.department(ofCategory: c)
      all.append(
        Fact(
          entity: ontology.categoryToken(c), relation: .department, answer: ontology.departmentToken(department),
          department: department, simple: true))
    }
    let isHeldOut = all.map {
      Double(stableHash([$0.entity, $0.relation.rawValue], seed: seed) % 10_000) / 10_000 < heldOutFraction
    }
    let heldOut = all.indices.filter { isHeldOut[$0] }.map { all[$0] }
    let training = all.indices.filter { !isHeldOut[$0] }.map { all[$0] }
    check(
      !training.isEmpty && (heldOutFraction == 0 || !heldOut.isEmpty),
      "RelationQueryTask: no facts to train on or to hold out")
    facts = [training, heldOutFraction == 0 ? training : heldOut]
  }

  /// The facts training asks (`evaluation` false) or held-out batches ask.
  public func facts(evaluation: Bool) -> [Fact] { facts[evaluation ? 1 : 0] }

  public func encode(_ fact: Fact) -> LabelledExample {
    LabelledExample(
      inputs: [fact.entity, vocabulary.relation(fact.relation), vocabulary.ask],
      targets: [TokenBatch.ignored, TokenBatch.ignored, fact.answer],
      labels: ["expert": [fact.department]], simple: fact.simple)
  }

  public func labelledExample(_ rng: inout RandomGenerator, evaluation: Bool) -> LabelledExample {
    let pool = facts[evaluation ? 1 : 0]
    return encode(pool[rng.integer(in: 0..<pool.count)])
  }
}
