import Foundation
import Testing
import TesseraNotebook

/// Papermill runs Tessera notebooks through the engine in `Scripts/papermill`:
/// `papermill in.ipynb out.ipynb -p rows 8 --engine tessera`.
@Suite("papermill engine")
struct PapermillTests {
  /// python3 cannot import papermill or the engine: these tests fail rather than skip.
  struct PapermillUnavailable: Error, CustomStringConvertible {
    var description: String
  }

  /// `python3 -m papermill input out.ipynb arguments… --engine tessera`, with the built `tessera`
  /// (TESSERA) and the harness's compile cache, reading back out.ipynb.
  static func papermill(_ h: NotebookHarness, _ input: String, _ arguments: [String]) throws -> NotebookHarness.Run {
    var environment = ProcessInfo.processInfo.environment
    environment["TESSERA"] = NotebookHarness.executable
    environment["TESSERA_CACHE"] = h.cache
    let check = try ChildProcess.run(
      ["python3", "-c", "import papermill, tessera_papermill"], environment: environment)
    guard check.status == .exited(0) else {
      throw PapermillUnavailable(
        description: "python3 cannot import papermill and its tessera engine (tessera_papermill): "
          + "run Scripts/install-python-packages.sh\n\(check.stderr)")
    }
    let output = h.folder + "/out.ipynb"
    let result = try ChildProcess.run(
      ["python3", "-m", "papermill", input, output] + arguments + ["--engine", "tessera", "--no-progress-bar"],
      environment: environment)
    let status: Int32
    switch result.status {
    case .exited(let code): status = code
    case .signaled(let signal): status = 128 + signal
    case .interrupted(let signal): throw ChildProcess.Interrupted(signal: signal)
    }
    return NotebookHarness.Run(
      status: status, stderr: result.stderr, notebook: try? Notebook.read(output), path: output)
  }

  @Test("-p sets the parameter through tessera run; the cell's output lands in out.ipynb")
  func parameter() throws {
    let h = try NotebookHarness()
    let input = try h.write("in.ipynb", cells: ["//parameters\nlet rows = 4", "print(rows * 2)"])
    let run = try Self.papermill(h, input, ["-p", "rows", "8"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c2") == "16\n", "\(run.stderr)")
    #expect(run.cell("c2")?.json["execution_count"]?.integerValue != nil)
    // Papermill's own `let rows = 8` cell is kept for the record, not run.
    let injected = run.notebook?.cells.first { $0.tags.contains("injected-parameters") }
    #expect(injected?.source.contains("let rows = 8") == true)
    #expect(injected?.outputs.isEmpty == true)
    let verdict = try NotebookHarness.validate(run.path)
    #expect(verdict.valid, "\(verdict)")
  }

  @Test("a cell that traps: papermill fails and out.ipynb has the error on that cell")
  func trap() throws {
    let h = try NotebookHarness()
    let input = try h.write(
      "in.ipynb", cells: ["//parameters\nlet rows = 4", "let a = [1]\nprint(a[a.count + 1])", "print(rows)"])
    let run = try Self.papermill(h, input, ["-p", "rows", "8"])
    #expect(run.status != 0, "\(run.stderr)")
    #expect(run.stderr.contains("PapermillExecutionError"), "\(run.stderr)")
    let error = try #require(run.error("c2"), "no error output on c2: \(run.errorOutputs) \(run.stderr)")
    #expect(error["ename"]?.stringValue == "FatalError", "\(error)")
    #expect(error["evalue"]?.stringValue?.contains("Index out of range") == true, "\(error)")
    #expect(run.outputs("c3").isEmpty)
    let verdict = try NotebookHarness.validate(run.path)
    #expect(verdict.valid, "\(verdict)")
  }
}
