import Foundation
import Testing
import TesseraNotebook

@Suite("Running notebooks")
struct ExecutionTests {
  @Test("cells run in order in one scope; print → stream, display → display_data, counts set")
  func cellsInOrder() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "order.ipynb",
      cells: [
        "import Tessera\nvar total = 1\nprint(\"first \\(total)\")",
        "total += 41\nprint(\"second \\(total)\")\ndisplay(markdown: \"**total** = \\(total)\")\nprint(\"after display\")",
        "display(Table(columns: [\"n\", \"square\"], rows: (1...3).map { [\"\\($0)\", \"\\($0 * $0)\"] }))",
        "",
      ])
    let run = try h.run(path)
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c1") == "first 1\n")
    let second = run.outputs("c2")
    #expect(second.map { $0["output_type"]?.stringValue } == ["stream", "display_data", "stream"])
    #expect(second.first?["text"]?.joinedText == "second 42\n")
    #expect(second[1]["data"]?["text/markdown"]?.joinedText == "**total** = 42")
    #expect(second.last?["text"]?.joinedText == "after display\n")
    let table = try #require(run.outputs("c3").first)
    #expect(table["data"]?["text/markdown"]?.joinedText?.contains("| 3 | 9 |") == true)
    #expect(table["data"]?["text/html"]?.joinedText?.contains("<table") == true)
    #expect(table["data"]?["text/plain"] != nil)
    let counts = (1...4).map { run.cell("c\($0)")?.json["execution_count"]?.integerValue }
    #expect(counts == [1, 2, 3, 4])
    #expect(run.cell("m0")?.source == "# Test notebook")
    #expect(run.cell("c2")?.metadata["tessera"]?["status"]?.stringValue == "ok")
    let meta = try #require(run.notebook?.metadata["tessera"])
    for key in ["seed", "parameters", "library", "compiler", "cpu", "blas_core", "gemm", "isa", "threads", "duration"] {
      #expect(meta[key] != nil, "metadata.tessera.\(key) missing")
    }
    #expect(meta["status"]?.stringValue == "ok")
    let verdict = try NotebookHarness.validate(path)
    #expect(verdict.valid, "\(verdict)")
  }

  @Test("--output writes elsewhere and leaves the input untouched")
  func outputPath() throws {
    let h = try NotebookHarness()
    let path = try h.write("in.ipynb", cells: ["print(\"hello\")"])
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let run = try h.run(path, ["--output", h.folder + "/out.ipynb"])
    #expect(run.status == 0)
    #expect(run.text("c1") == "hello\n")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }

  @Test("a compile error lands on its cell with the line; earlier cells keep outputs; a rerun clears the banner")
  func compileError() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "broken.ipynb", cells: ["print(\"one\")", "let ok = 1\nlet y: Int = \"oops\"", "print(\"three\")"])
    let run = try h.run(path)
    #expect(run.status == 1)
    #expect(run.text("c1") == "one\n")
    let error = try #require(run.error("c2"))
    #expect(error["ename"]?.stringValue == "CompileError")
    let value = error["evalue"]?.stringValue ?? ""
    #expect(value.contains("line 2") && value.contains("cannot convert"), "\(value)")
    let traceback = error["traceback"]?.arrayValue?.compactMap(\.stringValue) ?? []
    #expect(traceback.contains { $0.contains("broken.ipynb#cell-c2:2:") }, "\(traceback)")
    #expect(traceback.contains { $0.contains("let y: Int = \"oops\"") })
    #expect(run.outputs("c3").isEmpty)
    #expect(run.cell("c3")?.json["execution_count"] == .null)
    let banner = try #require(run.notebook?.cells.first)
    #expect(banner.tags == ["tessera-error"])
    #expect(banner.source.contains("code cell 2") && banner.source.contains("c2"))
    #expect(run.stderr.contains("broken.ipynb") && run.stderr.contains("c2"))

    // Fix the cell in the written notebook and run again: the banner goes, every cell runs.
    var notebook = try #require(run.notebook)
    var cells = notebook.cells
    let index = try #require(cells.firstIndex { $0.id == "c2" })
    cells[index].source = "let ok = 1\nlet y: Int = 2"
    notebook.cells = cells
    try notebook.write(to: path)
    let again = try h.run(path)
    #expect(again.status == 0, "\(again.stderr)")
    #expect(again.notebook?.cells.contains { $0.tags.contains("tessera-error") } == false)
    #expect(again.text("c3") == "three\n")
  }

  /// Cell 2's code, and a phrase the error value must contain.
  static let traps: [(code: String, phrase: String)] = [
    ("func inner(_ x: Int) {\n  if x > 2 { fatalError(\"x too big: \\(x)\") }\n}\ninner(3)", "x too big: 3"),
    ("let a = [1, 2, 3]\nlet i = a.count\nprint(a[i])", "line 4"),
    (
      "import Tessera\nlet a = Tensor.zeros([2, 3])\nlet b = matmul(a, Tensor.zeros([4, 5]))",
      "inner dimensions 3 and 4"
    ),
    (
      "let values: [Int] = []\nprecondition(!values.isEmpty, \"need values\")",
      "need values — cell c2, line 3"
    ),
    ("import Glibc\nprint(\"dying\")\nkill(getpid(), SIGKILL)", "SIGKILL"),
  ]

  @Test("a trap or a kill becomes an error on the running cell; earlier outputs stay", arguments: 0..<5)
  func runtimeFailure(_ index: Int) throws {
    let (code, phrase) = Self.traps[index]
    let h = try NotebookHarness()
    let path = try h.write(
      "trap.ipynb", cells: ["print(\"before\")", "print(\"in cell 2\")\n" + code, "print(\"after\")"])
    let run = try h.run(path)
    #expect(run.status == 1)
    #expect(run.text("c1") == "before\n")
    #expect(run.text("c2").hasPrefix("in cell 2\n"))
    let error = try #require(run.error("c2"))
    let value = error["evalue"]?.stringValue ?? ""
    #expect(value.contains(phrase), "\(value)")
    if !phrase.contains("SIGKILL") { #expect(value.contains("— cell c2, line")) }
    #expect(run.outputs("c3").isEmpty)
    #expect(run.cell("c2")?.metadata["tessera"]?["status"]?.stringValue == "error")
    #expect(run.notebook?.cells.first?.tags == ["tessera-error"])
  }

  @Test("--timeout stops a hung cell and records a timeout on it")
  func timeout() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "hang.ipynb",
      cells: ["import Glibc\nprint(\"before\")", "print(\"hanging\")\nwhile true { sleep(1) }", "print(\"after\")"])
    let start = Date()
    let run = try h.run(path, ["--timeout", "1.5"])
    #expect(Date().timeIntervalSince(start) < 30)
    #expect(run.status == 1)
    #expect(run.text("c1") == "before\n")
    let error = try #require(run.error("c2"))
    #expect(error["ename"]?.stringValue == "Timeout")
    #expect(run.cell("c2")?.metadata["tessera"]?["status"]?.stringValue == "timeout")
    #expect(run.outputs("c3").isEmpty)
  }

  @Test("the notebook program reads nothing from the runner's stdin: readLine() gives nil at once")
  func stdinIsEmpty() throws {
    let h = try NotebookHarness()
    let path = try h.write("reader.ipynb", cells: ["print(\"read: \\(String(describing: readLine()))\")"])
    // The runner's stdin holds the next line of a `while read f; do tessera run "$f"; done` list
    // and stays open; a program that read it would swallow that line, or wait for more.
    let (run, unread, finished) = try h.runWithOpenStdin(
      path, ["--timeout", "60"], input: "next.ipynb\n", limit: 600)
    #expect(finished, "tessera run did not finish in 600 s")
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c1") == "read: nil\n")
    #expect(unread == "next.ipynb\n")
  }

  @Test("10 MB from one cell: no deadlock, head and tail kept, the cut is marked")
  func largeOutput() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "loud.ipynb",
      cells: [
        "let line = String(repeating: \"x\", count: 99)\nfor _ in 0..<100_000 { print(line) }\nprint(\"end\")",
        "print(\"next cell\")",
      ])
    let run = try h.run(path)
    #expect(run.status == 0)
    let text = run.text("c1")
    #expect(text.hasPrefix(String(repeating: "x", count: 99) + "\n"))
    #expect(text.hasSuffix("\nend\n"))
    #expect(text.contains("bytes not kept: a cell keeps the first 1 MiB and the last 256 KiB of each stream"))
    #expect(text.utf8.count < 1_400_000)
    #expect(run.text("c2") == "next cell\n")
  }
}
