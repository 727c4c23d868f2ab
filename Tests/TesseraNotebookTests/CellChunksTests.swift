import Foundation
import Testing

import TesseraNotebook

/// Cells cut into top-level declarations (kept in `main`) and runs of statements (moved into
/// functions so that compile time does not grow with the square of the cells).
@Suite("Cell chunks")
struct CellChunksTests {
  static func segments(_ text: String, declaredLater: Set<String> = []) -> [(Range<Int>, Bool)] {
    let items = CellChunks.items(text) ?? []
    return CellChunks.segments(items, text: text) { words, _ in words.isDisjoint(with: declaredLater) }
      .map { ($0.lines, $0.movable) }
  }

  @Test(
    "declarations, guard, defer and directives stay; statements move; continuation lines stay with their item",
    arguments: [
      (
        "let x = 1\nprint(x)\nfor i in 0..<3 {\n  print(i)\n}\nlet y = 2",
        [(0..<1, false), (1..<5, true), (5..<6, false)]
      ),
      ("let z = [1, 2]\n  .map { $0 * 2 }\nprint(z)", [(0..<2, false), (2..<3, true)]),
      ("let w = 1\n  + 2\n\n// note\nw.description", [(0..<4, false), (4..<5, true)]),
      ("guard x > 0 else { fatalError() }\nprint(x)", [(0..<1, false), (1..<2, true)]),
      ("#if DEBUG\nprint(1)\n#else\nprint(2)\n#endif\nprint(3)", [(0..<5, false), (5..<6, true)]),
      ("@MainActor func f() {}\nf()", [(0..<1, false), (1..<2, true)]),
      ("print(\"\"\"\nlet inside = 1\n\"\"\")\nlet after = 2", [(0..<3, true), (3..<4, false)]),
      ("if a {\n  b()\n}\nelse {\n  c()\n}", [(0..<6, true)]),
      ("defer { print(1) }\nprint(2)", [(0..<1, false), (1..<2, true)]),
    ])
  func cut(text: String, expected: [(Range<Int>, Bool)]) {
    let got = Self.segments(text)
    #expect(got.map(\.0) == expected.map(\.0) && got.map(\.1) == expected.map(\.1), "\(got)")
  }

  @Test("a statement naming a variable declared only later stays in main")
  func laterVariable() {
    #expect(Self.segments("print(later)", declaredLater: ["later"]).map(\.1) == [false])
    #expect(CellChunks.declared("let (a, b): (Int, Int) = (1, 2)").contains("a"))
    #expect(CellChunks.declared("guard let value = optional else { fatalError() }") == ["value"])
  }

  @Test("a cell whose delimiters do not close is not cut")
  func unclosed() {
    #expect(CellChunks.items("for i in 0..<3 {\n  print(i)\n") == nil)
  }

  @Test("the program assembly moves statements into functions and keeps later-declared names out")
  func assembly() throws {
    var notebook = StarterNotebook.make(title: "t", path: "t.ipynb")
    notebook.cells = [
      Cell.make(type: "code", id: "a", source: "print(later)"),
      Cell.make(type: "code", id: "b", source: "let later = 42\nprint(later)"),
    ]
    let program = ProgramAssembly(
      notebook: notebook, fileName: "t.ipynb", parameters: NotebookParameters(notebook: notebook))
    let chunked = try #require(program.chunkedSource)
    #expect(!chunked.contains("func __cell_0_"), "\(chunked)")
    #expect(chunked.contains("func __cell_1_1() throws {"), "\(chunked)")
  }
}

/// Programs whose statements run from functions mean what the plain program means.
@Suite("Cut programs run as written")
struct CutProgramTests {
  @Test("globals, functions, throwing and async statements across cells give the plain program's output")
  func semantics() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "cut.ipynb",
      cells: [
        "import Foundation\nvar total = 1\nfunc bump() { total += 1 }",
        "total += 41\nbump()\nprint(total)",
        "enum Failure: Error { case boom }\nfunc risky(_ fail: Bool) throws -> Int {\n  if fail { throw Failure.boom }\n  return 7\n}\nprint(try risky(false))",
        "let seven = try risky(false)\nprint(seven * 6)",
        "try await Task.sleep(nanoseconds: 1_000)\nprint(\"slept\")",
        "let numbers = [3, 1, 2]\n  .sorted()\nfor n in numbers {\n  print(n, terminator: \" \")\n}\nprint()",
        "let unset: Int\nunset = 5\nprint(unset)",
      ])
    let run = try h.run(path)
    #expect(run.status == 0, "\(run.stderr) \(run.errorOutputs)")
    #expect(run.text("c2") == "43\n")
    #expect(run.text("c3") == "7\n")
    #expect(run.text("c4") == "42\n")
    #expect(run.text("c5") == "slept\n")
    #expect(run.text("c6") == "1 2 3 \n")
    #expect(run.text("c7") == "5\n")
  }
}
