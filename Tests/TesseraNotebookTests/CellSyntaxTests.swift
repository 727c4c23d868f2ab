import Testing
import TesseraNotebook

@Suite("Cell delimiters")
struct CellSyntaxTests {
  @Test(
    "complete cells have no problem, whatever their strings and comments hold",
    arguments: [
      "let s = \"{ ( [\"\nprint(s)",
      "let s = \"a \\(f(\"}\")) b\"",
      "let r = #\"raw \\( { \"#",
      "let r = ##\"a \"# still inside\"##",
      "let m = \"\"\"\n  { unbalanced\n  \\(x + (1))\n  \"\"\"\nprint(m)",
      "// { in a comment\nlet x = 1",
      "/* outer /* inner { */ still comment ( */\nlet y = [1, 2]",
      "let re = #/a{2}\\(/#",
      "#if DEBUG\nprint(1)\n#endif",
      "func f() {\n  if true { print(\"}\") }\n}",
      "let e = \"escaped \\\" quote {\"",
      "",
    ])
  func complete(source: String) {
    #expect(CellSyntax.problem(in: source) == nil, "\(source)")
  }

  @Test(
    "what is left open, or closed without opening, is found at its line",
    arguments: [
      ("for i in 0..<3 {\n  print(i)\n", 1, "`{` opened here"),
      ("let x = 1\n/* never\nclosed", 2, "`/*`"),
      ("let x = [1,\n 2", 1, "`[` opened here"),
      ("print(\"a\")\n}", 2, "`}` here closes nothing"),
      ("let x = (1]", 1, "does not match `(`"),
      ("let s = \"no end\nlet y = 2", 1, "not closed on its line"),
      ("let s = \"\"\"\nline\n", 1, "multi-line string literal"),
      ("let s = \"\\(f(x)\"", 1, "string literal"),
      ("func f() {\n  if x {\n    g()\n}", 1, "`{` opened here"),
    ])
  func problems(source: String, line: Int, message: String) throws {
    let problem = try #require(CellSyntax.problem(in: source), "\(source)")
    #expect(problem.line == line, "\(problem)")
    #expect(problem.message.contains(message), "\(problem)")
  }
}
