import Foundation
import Testing
import TesseraNotebook

/// Errors land on the cell and line where they happened, with the message the program gave.
@Suite("Errors land where they happened")
struct ErrorPlacementTests {
  @Test(
    "a cell that leaves a `{`, `/*` or string open is blamed at the opening line; earlier cells keep outputs",
    arguments: [
      ("for i in 0..<3 {\n  print(i)\n", 1, "`{`"),
      ("let x = 1\n/* unterminated\nlet y = 2", 2, "`/*`"),
      ("let s = \"\"\"\n  text\n", 1, "string literal"),
    ])
  func unclosedDelimiter(source: String, line: Int, what: String) throws {
    let h = try NotebookHarness()
    let path = try h.write("open.ipynb", cells: ["print(\"one\")", "print(\"two\")", source, "print(\"four\")"])
    let run = try h.run(path)
    #expect(run.status == 1)
    #expect(run.text("c1") == "one\n")
    #expect(run.text("c2") == "two\n")
    let error = try #require(run.error("c3"), "\(run.errorOutputs)")
    #expect(error["ename"]?.stringValue == "CompileError")
    let value = error["evalue"]?.stringValue ?? ""
    #expect(value.hasPrefix("line \(line): ") && value.contains(what), "\(value)")
    let traceback = error["traceback"]?.arrayValue?.compactMap(\.stringValue) ?? []
    #expect(!traceback.contains { $0.contains("_NotebookChannel") || $0.contains("main.swift") }, "\(traceback)")
    #expect(run.cell("c4")?.metadata["tessera"]?["status"]?.stringValue == "not run")
    #expect(run.errorOutputs.count == 1, "\(run.errorOutputs)")
  }

  @Test("a trap in an earlier cell is not hidden by a later cell that does not compile")
  func trapBeforeCompileError() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "trap.ipynb",
      cells: [
        "print(\"one\")", "let a = [1]\nprint(a[a.count + 1])", "let y: Int = \"not a number\"", "print(\"four\")",
      ])
    let run = try h.run(path)
    #expect(run.status == 1)
    #expect(run.text("c1") == "one\n")
    let error = try #require(run.error("c2"), "\(run.errorOutputs)")
    #expect(error["evalue"]?.stringValue?.contains("Index out of range") == true, "\(error)")
    #expect(run.cell("c2")?.metadata["tessera"]?["status"]?.stringValue == "error")
    #expect(run.cell("c3")?.metadata["tessera"]?["status"]?.stringValue == "not run")
    #expect(run.errorOutputs.count == 1)
    #expect(run.stderr.contains("does not compile either"), "\(run.stderr)")
  }

  @Test(
    "the program's own words: precondition and assert messages, Index out of range, stack overflow",
    arguments: [
      (
        "func check(_ n: Int) { precondition(n > 5, \"n must exceed 5, got \\(n)\") }\ncheck(3)",
        "PreconditionFailure", "n must exceed 5, got 3", 1
      ),
      ("let a = [1, 2]\nlet i = a.count\nprint(a[i])", "FatalError", "Index out of range", 3),
      ("assert(1 + 1 == 3, \"arithmetic\")", "AssertionFailure", "arithmetic", 1),
      (
        "func deeper(_ n: Int) -> Int { n == -1 ? 0 : deeper(n + 1) + 1 }\nprint(deeper(0))", "StackOverflow",
        "stack overflow: deeper(_:)", 1
      ),
    ])
  func programMessages(source: String, name: String, message: String, line: Int) throws {
    let h = try NotebookHarness()
    let path = try h.write("message.ipynb", cells: [source])
    let run = try h.run(path)
    #expect(run.status == 1)
    let error = try #require(run.error("c1"))
    #expect(error["ename"]?.stringValue == name, "\(error)")
    let value = error["evalue"]?.stringValue ?? ""
    #expect(value.contains(message) && value.contains("cell c1, line \(line)"), "\(value)")
  }

  @Test("a partial line printed just before a crash is kept")
  func partialLineBeforeCrash() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "partial.ipynb",
      cells: ["print(\"whole\")\nprint(\"partial\", terminator: \"\")\nlet a = [1]\nprint(a[a.count + 2])"])
    let run = try h.run(path)
    #expect(run.status == 1)
    #expect(run.text("c1") == "whole\npartial")
  }
}
