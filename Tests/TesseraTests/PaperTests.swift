import Foundation
import Testing
import Tessera

@Suite("Paper reproductions")
struct PaperTests {
  /// A temporary `papers/` folder holding one reference file.
  static func papers(_ json: String, slug: String = "toy") throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("papers-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root + "/" + slug, withIntermediateDirectories: true)
    try json.write(toFile: root + "/\(slug)/reference.json", atomically: true, encoding: .utf8)
    return root
  }

  static let reference = """
    {"slug": "toy", "title": "A Toy Paper", "citation": "A. Author. 2024.", "paperSetting": "GPU",
     "ourSetting": "CPU", "why": "same math",
     "rows": [
       {"id": "bound", "claim": "error is small", "source": "§1", "paper": "exact", "unit": "rel",
        "criterion": {"atMost": 1e-5}},
       {"id": "range", "claim": "slope is one", "source": "Fig. 1", "paper": "linear", "criterion": {"between": [0.9, 1.1]}},
       {"id": "near", "claim": "accuracy", "source": "Table 2", "paper": "81.0", "criterion": {"near": 81, "tolerance": 0.02, "relative": true}},
       {"id": "fast", "claim": "ours is faster", "source": "Fig. 3", "paper": "3×", "criterion": {"greaterThan": "slow", "margin": 1}},
       {"id": "slow", "claim": "baseline", "source": "Fig. 3", "paper": "1×", "criterion": {"atLeast": 0}},
       {"id": "scales", "claim": "runs long", "source": "§4", "paper": "64K", "criterion": {"holds": true}}
     ]}
    """

  @Test("criteria: bounds, ranges, relative tolerances, orderings between rows, claims")
  func criteria() {
    #expect(Criterion.atMost(1e-5).isMet(by: 5e-6))
    #expect(!Criterion.atMost(1e-5).isMet(by: 2e-5))
    #expect(!Criterion.atMost(1e-5).isMet(by: .nan))
    #expect(Criterion.between(0.9, 1.1).isMet(by: 1.05) && !Criterion.between(0.9, 1.1).isMet(by: 1.2))
    #expect(Criterion.near(81, tolerance: 0.02, relative: true).isMet(by: 82.5))
    #expect(!Criterion.near(81, tolerance: 0.02, relative: true).isMet(by: 83))
    #expect(Criterion.near(81, tolerance: 0.5, relative: false).isMet(by: 80.6))
    #expect(Criterion.greaterThan(row: "b", margin: 1).isMet(by: 3, other: 1.5))
    #expect(!Criterion.greaterThan(row: "b", margin: 1).isMet(by: 2, other: 1.5))
    #expect(!Criterion.greaterThan(row: "b", margin: 0).isMet(by: 2, other: nil))
    #expect(Criterion.lessThan(row: "b", margin: 0).isMet(by: 1, other: 2))
    #expect(Criterion.holds.isMet(by: 1) && !Criterion.holds.isMet(by: 0))
  }

  @Test("verdicts per row, the table, result.md and result.json")
  func reproduction() throws {
    let root = try Self.papers(Self.reference)
    let paper = try PaperReproduction(slug: "toy", papersDirectory: root)
    #expect(paper.verdict("bound") == .notMeasured)
    paper.record("bound", 3e-7)
    paper.record("range", 1.3)
    paper.record("near", 80.2, as: "80.2%")
    paper.record("slow", 1.0)
    #expect(paper.verdict("fast") == .notMeasured)
    paper.record("fast", 2.5)
    paper.record("scales", true, as: "T 16384")
    #expect(paper.verdict("bound") == .reproduced)
    #expect(paper.verdict("range") == .notReproduced)
    #expect(paper.verdict("near") == .reproduced)
    #expect(paper.verdict("fast") == .reproduced)
    #expect(paper.verdict("scales") == .reproduced)
    #expect(!paper.allReproduced)
    let table = paper.table
    #expect(table.rows.count == 6)
    #expect(table.rows[1].last == "❌ not reproduced")
    #expect(table.rows[2][3] == "80.2%")
    #expect(table.rows[0][2] == "exact (§1)")
    try paper.write()
    let markdown = try String(contentsOfFile: root + "/toy/result.md", encoding: .utf8)
    #expect(markdown.contains("# A Toy Paper"))
    #expect(markdown.contains("A. Author. 2024."))
    #expect(markdown.contains("**5 of 6 rows reproduced.**"))
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/toy/result.json")))
    let object = try #require(json as? [String: Any])
    #expect(object["allReproduced"] as? Bool == false)
    let rows = try #require(object["rows"] as? [[String: Any]])
    #expect(
      rows.map { $0["verdict"] as? String } == [
        "reproduced", "not reproduced", "reproduced", "reproduced", "reproduced", "reproduced",
      ])
    // What the numbers were computed with: the GEMM mode and instruction set, CPU, threads, seed.
    let provenance = try #require(object["provenance"] as? [String: Any])
    let kernel = GEMMKernel.current
    #expect(provenance["gemm"] as? String == kernel.mode.rawValue)
    #expect(provenance["isa"] as? String == kernel.instructionSet)
    #expect(provenance["threads"] as? Int == Runtime.threadCount)
    #expect(provenance["seed"] != nil && provenance["cpu"] != nil)
    #expect(markdown.contains("GEMM \(kernel.mode.rawValue) on \(kernel.instructionSet)"))
    paper.record("range", 1.0)
    #expect(paper.allReproduced)
  }

  @Test("a malformed reference names the file and the problem")
  func malformed() throws {
    func problem(_ json: String) throws -> String {
      let root = try Self.papers(json)
      do {
        _ = try PaperReproduction(slug: "toy", papersDirectory: root)
        return "no error"
      } catch {
        return "\(error)"
      }
    }
    let duplicate = Self.reference.replacingOccurrences(of: "\"id\": \"range\"", with: "\"id\": \"bound\"")
    #expect(try problem(duplicate).contains("row \"bound\" appears twice"))
    let dangling = Self.reference.replacingOccurrences(
      of: "\"greaterThan\": \"slow\"", with: "\"greaterThan\": \"nope\"")
    #expect(try problem(dangling).contains("compares with \"nope\", which is not a row"))
    let noCriterion = Self.reference.replacingOccurrences(of: "{\"holds\": true}", with: "{}")
    #expect(try problem(noCriterion).contains("a criterion is one of"))
    let missing = Self.reference.replacingOccurrences(of: "\"citation\": \"A. Author. 2024.\",", with: "")
    let message = try problem(missing)
    #expect(message.contains("reference.json") && message.contains("missing \"citation\""))
    #expect(try problem("not json").contains("not a paper reference"))
    let wrongSlug = Self.reference.replacingOccurrences(of: "\"slug\": \"toy\"", with: "\"slug\": \"other\"")
    #expect(try problem(wrongSlug).contains("its slug is \"other\""))
  }

  @Test("the repository's paper references load and name rows their notebooks record")
  func repositoryPapers() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let papers = root.appendingPathComponent("papers").path
    let slugs = try FileManager.default.contentsOfDirectory(atPath: papers).sorted()
    #expect(slugs.contains("flash-memory") && slugs.contains("zoology-mqar"))
    for slug in slugs {
      let paper = try PaperReproduction(slug: slug, papersDirectory: papers)
      let notebook = try String(
        contentsOf: root.appendingPathComponent("notebooks/\(slug).ipynb"), encoding: .utf8)
      #expect(notebook.contains("PaperReproduction(\\\"\(slug)\\\")"), "\(slug): the notebook loads its reference")
      for row in paper.reference.rows {
        #expect(!row.claim.isEmpty && !row.paper.isEmpty && !row.source.isEmpty, "\(slug)/\(row.id)")
      }
    }
  }

  @Test("a sweep returns what a sequential run returns, in order")
  func sweepMatchesSequential() {
    @Sendable func run(_ pattern: String) -> [Double] {
      let task = MultiQueryAssociativeRecall(vocabularySize: 64, sequenceLength: 16, pairs: 2, seed: 3)
      var rng = RandomGenerator(seed: 5)
      let model = try! LanguageModel(
        pattern: pattern, vocabulary: 64, width: 16, options: ["heads": 1], generator: &rng)
      return train(model, on: task, settings: TrainingSettings(steps: 4, batchSize: 4, logEvery: 100)).losses
    }
    let patterns = ["attn", "linear", "mamba2"]
    let sequential = patterns.map(run)
    let concurrent = sweep(patterns, lanes: 2, run)
    #expect(concurrent == sequential)
  }
}
