import Foundation
import Testing
import TesseraNotebook

@Suite("Cell ids")
struct CellIDTests {
  /// A notebook whose code cells have the given ids (nil: no id), read back after the run by
  /// position, since invalid and duplicate ids are replaced.
  func write(_ h: NotebookHarness, _ name: String, _ cells: [(id: String?, source: String)]) throws -> String {
    let path = try h.write(name, cells: cells.map(\.source))
    var notebook = try Notebook.read(path)
    var list = notebook.cells
    for (i, cell) in cells.enumerated() {
      list[i + 1].json["id"] = cell.id.map { .string($0) }
    }
    notebook.cells = list
    try notebook.write(to: path)
    return path
  }

  static let validID = try! NSRegularExpression(pattern: "^[a-zA-Z0-9-_]{1,64}$")

  @Test("ids with a space, a quote, a newline or an interpolation, and a duplicate pair: each cell keeps its output")
  func awkwardIDs() throws {
    let h = try NotebookHarness()
    let ids = ["has space", "quote\"d", "new\nline", "\\(print(\"pwned\"))", "twin", "twin", "fine"]
    let path = try write(
      h, "ids.ipynb", ids.enumerated().map { i, id in (id, "print(\"out \(i)\")") })
    let run = try h.run(path)
    #expect(run.status == 0, "\(run.stderr)")
    let code = try #require(run.notebook?.cells.filter { $0.type == "code" })
    #expect(code.count == ids.count)
    for (i, cell) in code.enumerated() {
      let text = cell.outputs.compactMap { $0["text"]?.joinedText }.joined()
      #expect(text == "out \(i)\n", "cell \(i) (id \(cell.id ?? "nil")): \(cell.outputs)")
    }
    let all = (run.notebook?.cells ?? []).flatMap(\.outputs).map { "\($0)" }.joined()
    #expect(!all.contains("pwned"), "an id ran as code")
    // Ids are valid and unique; the valid ones and the first of the pair are kept.
    let written = code.map { $0.id ?? "" }
    #expect(Set(written).count == written.count, "\(written)")
    for id in written {
      #expect(Self.validID.firstMatch(in: id, range: NSRange(id.startIndex..., in: id)) != nil, "\(id)")
    }
    #expect(written[4] == "twin" && written[6] == "fine")
    // The repairs are recorded.
    let repairs = run.notebook?.metadata["tessera"]?["repaired_ids"]?.arrayValue ?? []
    #expect(repairs.count == 5, "\(repairs)")
    #expect(repairs.compactMap { $0["was"]?.stringValue } == ids[0..<4] + ["twin"])
    #expect(run.stderr.contains("repaired"), "\(run.stderr)")
    let verdict = try NotebookHarness.validate(run.path)
    #expect(verdict.valid, "\(verdict)")
  }

  @Test("a compile error and a trap land on the cell with the awkward or duplicate id")
  func errorsOnTheRightCell() throws {
    let h = try NotebookHarness()
    let compile = try write(
      h, "compile.ipynb",
      [("a b", "print(\"one\")"), ("x\"y", "let y: Int = \"oops\""), ("x\"y", "print(\"three\")")])
    let run = try h.run(compile)
    #expect(run.status == 1)
    let code = try #require(run.notebook?.cells.filter { $0.type == "code" })
    #expect(code[0].outputs.compactMap { $0["text"]?.joinedText } == ["one\n"], "\(code[0].outputs)")
    let error = code[1].outputs.first { $0["output_type"]?.stringValue == "error" }
    #expect(error?["ename"]?.stringValue == "CompileError", "\(code.map(\.outputs))")
    #expect(error?["evalue"]?.stringValue?.contains("line 1") == true)
    #expect(code[2].outputs.isEmpty)

    let twins = try write(
      h, "twins.ipynb",
      [("same", "print(\"first\")"), ("same", "print(\"second\")\nlet xs: [Int] = []\nprint(xs[3])")])
    let trapped = try h.run(twins)
    #expect(trapped.status == 1)
    let cells = try #require(trapped.notebook?.cells.filter { $0.type == "code" })
    #expect(cells[0].outputs.compactMap { $0["text"]?.joinedText } == ["first\n"], "\(cells[0].outputs)")
    #expect(!cells[0].outputs.contains { $0["output_type"]?.stringValue == "error" })
    let trap = cells[1].outputs.first { $0["output_type"]?.stringValue == "error" }
    #expect(trap != nil, "\(cells.map(\.outputs))")
    #expect(trap?["evalue"]?.stringValue?.contains("line 3") == true, "\(String(describing: trap))")
    #expect(cells[1].outputs.contains { $0["text"]?.joinedText == "second\n" }, "\(cells[1].outputs)")
    for r in [run, trapped] {
      let verdict = try NotebookHarness.validate(r.path)
      #expect(verdict.valid, "\(verdict)")
    }
  }
}
