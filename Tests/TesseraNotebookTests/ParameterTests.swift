import Foundation
import Testing
import TesseraNotebook

@Suite("Notebook parameters")
struct ParameterTests {
  static let parameters = """
    //parameters
    let steps = 10
    let rate = 0.5
    let name = "baseline"
    let verbose = false
    let widths = [1, 2, 3]
    let scales: [Double] = [0.25]
    let tags = ["a", "b"]
    """
  static let report = """
    print("steps=\\(steps) rate=\\(rate) name=\\(name) verbose=\\(verbose)")
    print("widths=\\(widths) scales=\\(scales) tags=\\(tags)")
    """

  @Test("defaults run as written")
  func defaults() throws {
    let h = try NotebookHarness()
    let run = try h.run(try h.write("p.ipynb", cells: [Self.parameters, Self.report]))
    #expect(run.status == 0, "\(run.stderr)")
    #expect(
      run.text("c2")
        == "steps=10 rate=0.5 name=baseline verbose=false\nwidths=[1, 2, 3] scales=[0.25] tags=[\"a\", \"b\"]\n")
    #expect(run.notebook?.cells.contains { $0.tags.contains("injected-parameters") } == false)
  }

  @Test("-p and -f set every kind of value; recorded in metadata and an injected cell")
  func overrides() throws {
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    let file = h.folder + "/params.json"
    try #"{"widths": [4, 5], "scales": [1, 2.5], "tags": ["x ✓"], "steps": 7}"#.write(
      toFile: file, atomically: true, encoding: .utf8)
    let run = try h.run(
      path, ["-f", file, "-p", "steps", "12", "-p", "rate", "1e-3", "-p", "name", "wide run", "-p", "verbose", "true"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(
      run.text("c2")
        == "steps=12 rate=0.001 name=wide run verbose=true\nwidths=[4, 5] scales=[1.0, 2.5] tags=[\"x ✓\"]\n")
    let recorded = run.notebook?.metadata["tessera"]?["parameters"]
    #expect(recorded?["steps"]?.integerValue == 12)
    #expect(recorded?["name"]?.stringValue == "wide run")
    #expect(recorded?["widths"]?.arrayValue?.count == 2)
    let cells = run.notebook?.cells ?? []
    let injected = try #require(cells.firstIndex { $0.tags.contains("injected-parameters") })
    #expect(cells[injected - 1].tags.contains("parameters"))
    #expect(cells[injected].source.contains("| `name` | `\"wide run\"` |"))
    #expect(cells[injected].source.contains("| `widths` | `[4, 5]` |"))
    // The source of the parameters cell is kept as written.
    #expect(cells[injected - 1].source == Self.parameters)
    let verdict = try NotebookHarness.validate(path)
    #expect(verdict.valid, "\(verdict)")

    // A second run without overrides drops the injected cell again.
    let plain = try h.run(path)
    #expect(plain.notebook?.cells.contains { $0.tags.contains("injected-parameters") } == false)
    #expect(plain.text("c2").hasPrefix("steps=10 "))
  }

  /// Arguments that must be refused before anything runs, and a phrase of the error.
  static let refusals: [(arguments: [String], phrase: String)] = [
    (["-p", "epochs", "3"], "unknown parameter \"epochs\""),
    (["-p", "steps", "ten"], "\"ten\" is not an Int"),
    (["-p", "rate", "fast"], "is not a Double"),
    (["-p", "verbose", "yes"], "is not a Bool"),
    (["-p", "widths", "[1, \"two\"]"], "is not an [Int]"),
  ]

  @Test("an unknown name or a value of the wrong type stops before anything runs", arguments: 0..<5)
  func refused(_ index: Int) throws {
    let (arguments, phrase) = Self.refusals[index]
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let run = try h.run(path, arguments)
    #expect(run.status == 2)
    #expect(run.stderr.contains(phrase) && run.stderr.contains("p.ipynb"), "\(run.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    #expect(!FileManager.default.fileExists(atPath: h.cache + "/programs"))
  }

  @Test("a params file with a wrong type is refused")
  func refusedFile() throws {
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    let file = h.folder + "/params.json"
    try #"{"steps": 1.5}"#.write(toFile: file, atomically: true, encoding: .utf8)
    let run = try h.run(path, ["-f", file])
    #expect(run.status == 2)
    #expect(run.stderr.contains("parameter \"steps\" is Int"), "\(run.stderr)")
  }

  /// Non-finite values for `rate` (a Double), from the command line or a params file.
  static let nonFinite: [(arguments: [String], file: String?)] = [
    (["-p", "rate", "nan"], nil),
    (["-p", "rate", "inf"], nil),
    (["-p", "rate=-inf"], nil),
    (["-p", "rate", "Infinity"], nil),
    (["-p", "rate", "-inf"], nil),
    ([], #"{"rate": NaN}"#),
    ([], #"{"steps": 2, "rate": -Infinity}"#),
  ]

  @Test("a non-finite number is refused by name, from -p or -f; nothing is written", arguments: 0..<7)
  func nonFiniteRefused(_ index: Int) throws {
    var (arguments, file) = Self.nonFinite[index]
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    if let file {
      try file.write(toFile: h.folder + "/params.json", atomically: true, encoding: .utf8)
      arguments += ["-f", h.folder + "/params.json"]
    }
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let run = try h.run(path, arguments)
    #expect(run.status == 2, "\(arguments): \(run.stderr)")
    #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
    #expect(run.stderr.contains("\"rate\"") && run.stderr.contains("finite"), "\(run.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    #expect(!FileManager.default.fileExists(atPath: h.cache + "/programs"))
  }

  @Test("a negative number after a parameter's name is its value")
  func negativeValues() throws {
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    let run = try h.run(path, ["-p", "rate", "-0.5", "steps", "-3", "-p", "name=-x", "--seed", "4"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c2").hasPrefix("steps=-3 rate=-0.5 name=-x "), "\(run.text("c2"))")
    let recorded = run.notebook?.metadata["tessera"]?["parameters"]
    #expect(recorded?["rate"]?.doubleValue == -0.5)
    #expect(recorded?["steps"]?.integerValue == -3)
    #expect(run.notebook?.metadata["tessera"]?["seed"]?.integerValue == 4)
  }

  @Test("TESSERA_PARAMETER_* in the runner's environment does not reach the notebook")
  func ambientParameters() throws {
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    let run = try h.run(
      path, ["-p", "rate", "2"],
      environment: ["TESSERA_PARAMETER_steps": "99", "TESSERA_PARAMETER_name": #""ambient""#])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c2").hasPrefix("steps=10 rate=2.0 name=baseline "), "\(run.text("c2"))")
    let recorded = run.notebook?.metadata["tessera"]?["parameters"]?.objectValue ?? []
    #expect(recorded.map(\.0) == ["rate"])
  }

  @Test("three runs with different values compile once")
  func compiledOnce() throws {
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: [Self.parameters, Self.report])
    for (i, steps) in ["1", "2", "3"].enumerated() {
      let run = try h.run(path, ["-p", "steps", steps, "--seed", "\(i)"])
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.text("c2").hasPrefix("steps=\(steps) "))
      #expect(run.notebook?.metadata["tessera"]?["seed"]?.integerValue == Int64(i))
    }
    let counters = try h.counters()
    #expect(counters.misses == 1 && counters.hits == 2, "\(counters)")
  }
}
