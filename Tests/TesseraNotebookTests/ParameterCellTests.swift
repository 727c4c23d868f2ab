import Foundation
import Testing
import TesseraNotebook

/// The parameters cell is rewritten only where it declares parameters: every other line runs
/// as written.
@Suite("Parameters cell rewriting")
struct ParameterCellTests {
  struct Case: Sendable, CustomStringConvertible {
    var name: String
    var parameters: String
    var report: String
    /// A supported parameter, a value for it and what the report prints then.
    var override: (name: String, value: String, output: String)?
    /// A constant of the cell that is not a parameter.
    var unsupported: String?
    var description: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "hex, octal, binary and underscored integers stay Int",
      parameters: "//parameters\nlet mask = 0xFF\nlet mode = 0o755\nlet bits = 0b1010\nlet big = 1_000_000\n",
      report: "print(mask & 0x0F, mode, bits, big, type(of: mask), type(of: mode), type(of: bits), type(of: big))",
      override: ("mask", "7", "7 493 10 1000000 Int Int Int Int\n"), unsupported: nil),
    Case(
      name: "a multi-line string literal",
      parameters: "//parameters\nlet steps = 3\nlet text = \"\"\"\n  let inner = 5\n  // not a comment\n  \"\"\"\n",
      report: "print(text, steps)", override: ("steps", "4", "let inner = 5\n// not a comment 4\n"),
      unsupported: "text"),
    Case(
      name: "CRLF line ends",
      parameters: "//parameters\r\nlet steps = 3\r\nlet rate = 0.5\r\nlet name = \"a b\" // the name\r\n",
      report: "print(steps, rate, name)", override: ("steps", "7", "7 0.5 a b\n"), unsupported: nil),
    Case(
      name: "constants nested in a block or a closure",
      parameters: """
        //parameters
        let steps = 3
        do {
          let inner = 1
          print("inner", inner)
        }
        let f = { () -> Int in
          let width = 2
          return width
        }
        /* let hidden = 4
        */
        """,
      report: "print(steps, f())", override: ("steps", "9", "inner 1\n9 2\n"), unsupported: "inner"),
    Case(
      name: "values the runner does not read",
      parameters:
        "//parameters\nlet steps = 3\nlet scale = 1e3 * 2\nlet greeting = \"hi \\(steps)\"\nlet raw = #\"a\\b\"#\n",
      report: "print(steps, scale, greeting, raw)", override: ("steps", "5", "5 2000.0 hi 5 a\\b\n"),
      unsupported: "scale"),
  ]

  /// The parameters cell `source`, tagged `parameters` or not, then `report`.
  func run(_ h: NotebookHarness, _ c: Case, tagged: Bool, _ arguments: [String] = []) throws -> NotebookHarness.Run {
    let name = "\(tagged ? "tagged" : "plain")-\(UUID().uuidString).ipynb"
    let path = try h.write(name, cells: [c.parameters, c.report])
    if !tagged {
      var notebook = try Notebook.read(path)
      var cells = notebook.cells
      cells[1].metadata = .object([])
      notebook.cells = cells
      try notebook.write(to: path)
    }
    return try h.run(path, arguments)
  }

  @Test("without -p the program prints what the unmodified cell prints", arguments: 0..<5)
  func unchanged(_ index: Int) throws {
    let c = Self.cases[index]
    let h = try NotebookHarness()
    let plain = try run(h, c, tagged: false)
    #expect(plain.status == 0, "\(c): \(plain.stderr) \(plain.errorOutputs)")
    let tagged = try run(h, c, tagged: true)
    #expect(tagged.status == 0, "\(c): \(tagged.stderr) \(tagged.errorOutputs)")
    #expect(tagged.text("c1") + tagged.text("c2") == plain.text("c1") + plain.text("c2"), "\(c)")
    // The source is written back as it was.
    #expect(tagged.cell("c1")?.source == c.parameters)
  }

  @Test("-p on a supported parameter applies", arguments: 0..<5)
  func overrides(_ index: Int) throws {
    let c = Self.cases[index]
    let h = try NotebookHarness()
    let (name, value, output) = try #require(c.override)
    let run = try run(h, c, tagged: true, ["-p", name, value])
    #expect(run.status == 0, "\(c): \(run.stderr) \(run.errorOutputs)")
    #expect(run.text("c1") + run.text("c2") == output, "\(c)")
  }

  @Test("-p naming a constant that is not a parameter is refused with its name", arguments: [1, 3, 4])
  func refused(_ index: Int) throws {
    let c = Self.cases[index]
    let h = try NotebookHarness()
    let name = try #require(c.unsupported)
    let path = try h.write("refused.ipynb", cells: [c.parameters, c.report])
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let (status, stderr) = try h.tessera(["run", path, "-p", name, "1"])
    #expect(status == 2, "\(c): \(stderr)")
    #expect(stderr.contains("\"\(name)\"") && stderr.contains("not a parameter"), "\(c): \(stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }
}
