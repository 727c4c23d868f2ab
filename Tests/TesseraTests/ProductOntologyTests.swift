import Foundation
import Testing
import Tessera

/// The product ontology and its tasks: intent, tags and sentiment of queries, compatibility of
/// pairs, relation queries over the graph.
@Suite("Product ontology and its tasks")
struct ProductOntologyTests {
  static let ontology = ProductOntology(seed: 2)

  @Test("the ontology is seeded; compatibility needs fitting categories and one connector; the graph is symmetric")
  func ontologyFacts() {
    let o = Self.ontology
    #expect(ProductOntology(seed: 2) == o)
    #expect(ProductOntology(seed: 3) != o)
    #expect(o.products == 72 && o.categories == 12 && o.entities == 72 + 12 + 4 + 8 + 6 + 4)
    // Category 1 (an accessory of department 0) fits device category 0; category 2 (the last
    // accessory) also fits department 1's devices (category 3); devices fit nothing.
    #expect(o.fits(accessory: 1, device: 0) && !o.fits(accessory: 1, device: 3))
    #expect(o.fits(accessory: 2, device: 0) && o.fits(accessory: 2, device: 3) && !o.fits(accessory: 0, device: 3))
    #expect(o.fits(accessory: 11, device: 0))  // the last department wraps to the first
    var compatible = 0
    for a in 0..<o.products {
      for b in 0..<o.products where o.compatible(a, b) {
        compatible += 1
        #expect(o.categoriesFit(a, b) && o.productConnector[a] == o.productConnector[b] && o.compatible(b, a))
      }
    }
    #expect(compatible > 0)
    let edges = o.edges
    #expect(edges.sources.count == 2 * (4 * o.products + o.categories + 8 + 4))  // 8 fits in departments, 4 across
    let pairs = Set(zip(edges.sources, edges.targets).map { "\($0)-\($1)" })
    #expect(zip(edges.sources, edges.targets).allSatisfy { pairs.contains("\($1)-\($0)") })
    #expect(edges.sources.allSatisfy { $0 < o.entities } && edges.targets.allSatisfy { $0 < o.entities })
  }

  @Test(
    "queries carry intent, a tag per token and a sentiment; the plain targets ask the same; complex by construction")
  func productQueries() {
    let task = ProductQueryTask(ontology: Self.ontology, seed: 4)
    let v = task.vocabulary
    let batch = task.batch(0, size: 200)
    let t = task.sequenceLength
    #expect(batch.labels["intent"]?.shape == [200] && batch.labels["sentiment"]?.shape == [200])
    #expect(batch.labels["tags"]?.shape == [200, t])
    #expect(batch.simple?.count == 200)
    let shared = Set((0..<6).map { v.sharedCue($0) })
    var complexCount = 0
    for row in 0..<200 {
      let x = Array(batch.inputs.values[(row * t)..<((row + 1) * t)])
      let y = Array(batch.targets.values[(row * t)..<((row + 1) * t)])
      let tags = Array(batch.labels["tags"]!.values[(row * t)..<((row + 1) * t)])
      let intent = ProductVocabulary.Intent(rawValue: batch.labels["intent"]!.values[row])!
      let sentiment = ProductVocabulary.Sentiment(rawValue: batch.labels["sentiment"]!.values[row])!
      #expect(y[t - 2] == v.intentLabel(intent) && y[t - 1] == v.sentimentLabel(sentiment))
      #expect(x[t - 2] == v.askIntent && x[t - 1] == v.askSentiment)
      for p in 0..<(t - 2) {
        if x[p] == v.padding {
          #expect(tags[p] == TokenBatch.ignored && y[p] == TokenBatch.ignored)
        } else {
          #expect(y[p] == v.tagLabel(ProductVocabulary.Tag(rawValue: tags[p])!))
        }
        // A colour word followed by "material" is a material, by "color" a colour.
        if p + 1 < t - 2, x[p + 1] == v.relation(.material), x[p] < Self.ontology.materialToken(0) {
          #expect(tags[p] == ProductVocabulary.Tag.material.rawValue)
        }
      }
      let cues = x.filter { shared.contains($0) }
      let negated = x.contains(v.negation)
      let ambiguous = (0..<(t - 3)).contains { p in
        x[p] >= Self.ontology.colorToken(Self.ontology.colors - 2)
          && x[p] < Self.ontology.colorToken(Self.ontology.colors)
      }
      let complex = !cues.isEmpty || negated || ambiguous
      #expect(batch.simple![row] == !complex)
      if complex { complexCount += 1 }
      if !cues.isEmpty {
        // Two shared cues: the intent is the one they have in common.
        let ks = cues.map { $0 - v.sharedCue(0) }.sorted()
        let common = ks == [0, 5] ? 0 : ks[1]
        #expect(intent.rawValue == common)
      }
      if negated {
        let word = x[x.firstIndex(of: v.negation)! + 1]
        let positiveWord = word < v.negativeWord(0)
        #expect(sentiment == (positiveWord ? .negative : .positive))
      }
    }
    #expect(complexCount > 40 && complexCount < 160)
    // Held-out batches are another stream.
    #expect(task.evaluationBatch(0, size: 8).inputs.values != task.batch(0, size: 8).inputs.values)
  }

  @Test(
    "compatibility: training never shows a held-out pair, held-out batches show only them; simple = categories decide")
  func compatibilityPairs() {
    let task = CompatibilityTask(ontology: Self.ontology, heldOutFraction: 0.2, seed: 5)
    let o = Self.ontology
    for evaluation in [false, true] {
      let batch = evaluation ? task.evaluationBatch(1, size: 300) : task.batch(1, size: 300)
      var positives = 0
      for row in 0..<300 {
        let (a, b) = (batch.inputs.values[3 * row], batch.inputs.values[3 * row + 1])
        let label = batch.labels["compatible"]!.values[row]
        #expect(task.isHeldOut(a, b) == evaluation)
        #expect(label == (o.compatible(a, b) ? 1 : 0))
        #expect(batch.targets.values[3 * row + 2] == (label == 1 ? task.vocabulary.yes : task.vocabulary.no))
        #expect(batch.simple![row] == !o.categoriesFit(a, b))
        positives += label
      }
      #expect(positives > 70 && positives < 130)  // a third compatible
    }
  }

  @Test("relation queries: answers from the ontology; held-out facts are never trained; the expert is the department")
  func relationQueries() {
    let o = Self.ontology
    let task = RelationQueryTask(ontology: o, heldOutFraction: 0.2, seed: 6)
    let training = Set(task.facts(evaluation: false).map { "\($0.entity)-\($0.relation)" })
    let heldOut = task.facts(evaluation: true)
    #expect(!heldOut.isEmpty && heldOut.allSatisfy { !training.contains("\($0.entity)-\($0.relation)") })
    #expect(training.count + heldOut.count == 5 * o.products + o.categories)
    let batch = task.batch(0, size: 100)
    for row in 0..<100 {
      let (entity, relation) = (batch.inputs.values[3 * row], batch.inputs.values[3 * row + 1])
      let answer = batch.targets.values[3 * row + 2]
      #expect(training.contains("\(entity)-\(ProductVocabulary.Relation(rawValue: relation - o.entities)!)"))
      if entity < o.products {
        let expected: Int
        switch ProductVocabulary.Relation(rawValue: relation - o.entities)! {
        case .category: expected = o.categoryToken(o.category(ofProduct: entity))
        case .department: expected = o.departmentToken(o.department(ofProduct: entity))
        case .color: expected = o.colorToken(o.productColor[entity])
        case .material: expected = o.materialToken(o.productMaterial[entity])
        case .connector: expected = o.connectorToken(o.productConnector[entity])
        }
        #expect(answer == expected)
        #expect(batch.labels["expert"]!.values[row] == o.department(ofProduct: entity))
        #expect(batch.simple![row] == (relation != task.vocabulary.relation(.department)))
      }
    }
    // Closed book: held-out batches ask the training facts.
    let closed = RelationQueryTask(ontology: o, seed: 6)
    #expect(closed.facts(evaluation: true) == closed.facts(evaluation: false))
  }
}
