import ArgumentParser
import Foundation
import TesseraNotebook

/// `tessera bench notebook`: the runner itself, timed as whole `tessera run` commands on
/// generated notebooks (each in a fresh folder and compile cache).
///
/// - `notebook_compile`: a notebook of N code cells, each `let vK = K * 2` and a `print` of it,
///   run with an empty cache; the compile seconds the run recorded and the milliseconds per cell
///   (constant per cell when compile time is linear in the cells).
/// - `notebook_display`: one cell that builds and `display`s N MB of markdown; the wall time of
///   the run with the program already compiled, and of collecting the output (wall time less the
///   program's own time to build the text, measured in the same run).
struct NotebookBench {
  let quick: Bool
  let filter: String?

  func wanted(_ name: String) -> Bool { filter.map { name.contains($0) } ?? true }

  func run() throws {
    for cells in quick ? [50, 100] : [100, 400, 1000] where wanted("compile") {
      let folder = try Self.folder()
      let path = folder + "/cells.ipynb"
      try Self.notebook(
        (0..<cells).map { "let v\($0) = \($0) * 2\nprint(\"cell \($0): \\(v\($0))\")" }
      ).write(to: path)
      let (wall, notebook) = try Self.run(path, cache: folder + "/cache")
      let compile = notebook.metadata["tessera"]?["compile"]?["seconds"]?.doubleValue ?? .nan
      let name = "\(cells) cells"
      BenchReport.emit("notebook_compile", name, metric: "s", value: compile, extra: ["wall_s": String(wall)])
      BenchReport.emit("notebook_compile", name, metric: "ms_per_cell", value: compile * 1e3 / Double(cells))
      try? FileManager.default.removeItem(atPath: folder)
    }
    for megabytes in quick ? [10] : [100] where wanted("display") {
      let folder = try Self.folder()
      let path = folder + "/display.ipynb"
      let source = """
        import Foundation
        let line = String(repeating: "abcdefghij", count: 9) + " | **bold** |\\n"
        let started = Date()
        var text = ""
        text.reserveCapacity(\(megabytes) * 1_000_000 + 200)
        while text.utf8.count < \(megabytes) * 1_000_000 { text += line }
        print("built", Date().timeIntervalSince(started))
        display(markdown: text)
        """
      let notebook = Self.notebook([source])
      try notebook.write(to: path)
      _ = try Self.run(path, cache: folder + "/cache")  // compiles
      try notebook.write(to: path)
      let (wall, ran) = try Self.run(path, cache: folder + "/cache")
      let built =
        ran.cells.first { $0.type == "code" }?.outputs.compactMap { $0["text"]?.joinedText }.joined()
        .split(separator: " ").last.flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? .nan
      let name = "\(megabytes) MB markdown"
      BenchReport.emit("notebook_display", name, metric: "s", value: wall)
      BenchReport.emit("notebook_display", name, metric: "s_collect", value: wall - built)
      try? FileManager.default.removeItem(atPath: folder)
    }
  }

  static func folder() throws -> String {
    let folder = NSTemporaryDirectory() + "tessera-bench-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
  }

  static func notebook(_ cells: [String]) -> Notebook {
    var notebook = StarterNotebook.make(title: "bench", path: "bench.ipynb")
    notebook.cells = cells.enumerated().map { Cell.make(type: "code", id: "c\($0.offset)", source: $0.element) }
    return notebook
  }

  /// `tessera run path` with its own cache: the wall seconds and the notebook written.
  static func run(_ path: String, cache: String) throws -> (Double, Notebook) {
    var environment = ProcessInfo.processInfo.environment
    environment["TESSERA_CACHE"] = cache
    let start = Date()
    let result = try ChildProcess.run([ThisExecutable.forChildren, "run", path], environment: environment)
    let wall = Date().timeIntervalSince(start)
    guard result.status == .exited(0) else {
      throw ValidationError("tessera run \(path) failed: \(result.stderr)")
    }
    return (wall, try Notebook.read(path))
  }
}
