import Foundation
import Testing
import TesseraNotebook

/// The runner never loses work: earlier results, the notebook's file and the user's own cells.
@Suite("Keeping work")
struct KeepingWorkTests {
  @Test("tessera reproduce with a bad -p exits 2 and leaves the last result.json byte-identical")
  func reproduceKeepsResult() throws {
    let h = try NotebookHarness()
    let root = try PaperNotebookTests.repository(h, slugs: ["flash-memory"])
    let resultPath = root + "/papers/flash-memory/result.json"
    let previous = Data("{\"slug\": \"flash-memory\", \"rows\": []}\n".utf8)
    try previous.write(to: URL(fileURLWithPath: resultPath))
    for bad in [["-p", "noSuchParameter", "1"], ["-p", "lengths", "\"not a list\""]] {
      let run = try PaperNotebookTests.reproduce(h, in: root, ["flash-memory"] + bad)
      #expect(run.status == 2, "\(bad): \(run.stderr)")
      #expect(FileManager.default.contents(atPath: resultPath) == previous, "\(bad)")
    }
  }

  @Test("an output path that cannot be written is refused before any cell runs")
  func unwritableOutput() throws {
    let h = try NotebookHarness()
    let marker = h.folder + "/ran"
    let path = try h.write(
      "in.ipynb", cells: ["import Foundation\n_ = FileManager.default.createFile(atPath: \"\(marker)\", contents: nil)"]
    )
    try FileManager.default.createDirectory(atPath: h.folder + "/folder.ipynb", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: h.folder + "/locked", withIntermediateDirectories: true)
    chmod(h.folder + "/locked", 0o555)
    _ = FileManager.default.createFile(atPath: h.folder + "/readonly.ipynb", contents: Data("{}".utf8))
    chmod(h.folder + "/readonly.ipynb", 0o444)
    defer { chmod(h.folder + "/locked", 0o755) }
    let outputs = [
      h.folder + "/missing/out.ipynb", h.folder + "/folder.ipynb", h.folder + "/locked/out.ipynb",
      h.folder + "/readonly.ipynb",
    ]
    for output in outputs {
      let (status, stderr) = try h.tessera(["run", path, "--output", output])
      #expect(status == 2, "\(output): \(stderr)")
      let lines = stderr.split(separator: "\n")
      #expect(lines.count == 1 && stderr.contains(output), "\(output): \(stderr)")
      #expect(!FileManager.default.fileExists(atPath: marker), "\(output): a cell ran")
    }
  }

  @Test("when the final write fails, the executed notebook is saved elsewhere and the place is named")
  func finalWriteFails() throws {
    let h = try NotebookHarness()
    let doomed = h.folder + "/doomed"
    try FileManager.default.createDirectory(atPath: doomed, withIntermediateDirectories: true)
    let path = try h.write(
      "in.ipynb",
      cells: ["import Foundation\ntry! FileManager.default.removeItem(atPath: \"\(doomed)\")\nprint(\"kept\")"])
    let (status, stderr) = try h.tessera(["run", path, "--output", doomed + "/out.ipynb"])
    #expect(status != 0, "\(stderr)")
    let saved = try #require(
      stderr.components(separatedBy: "saved as ").last?.trimmingCharacters(in: .whitespacesAndNewlines), "\(stderr)")
    #expect(saved.hasSuffix(".ipynb"), "\(stderr)")
    let notebook = try Notebook.read(saved)
    #expect(notebook.cells.first { $0.id == "c1" }?.outputs.isEmpty == false)
    try? FileManager.default.removeItem(atPath: saved)
  }

  @Test("a symlinked notebook is written through the link, its mode kept; a read-only notebook is refused")
  func linksAndModes() throws {
    let h = try NotebookHarness()
    let target = try h.write("target.ipynb", cells: ["print(\"through\")"])
    chmod(target, 0o640)
    let link = h.folder + "/link.ipynb"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    let run = try h.run(link)
    #expect(run.status == 0, "\(run.stderr)")
    let linkType = try FileManager.default.attributesOfItem(atPath: link)[.type] as? FileAttributeType
    #expect(linkType == .typeSymbolicLink)
    let written = try Notebook.read(target)
    #expect(written.cells.first { $0.id == "c1" }?.outputs.isEmpty == false)
    var info = stat()
    stat(target, &info)
    #expect(info.st_mode & 0o777 == 0o640)

    let locked = try h.write("locked.ipynb", cells: ["print(\"no\")"])
    chmod(locked, 0o444)
    let before = try Data(contentsOf: URL(fileURLWithPath: locked))
    let (status, stderr) = try h.tessera(["run", locked])
    #expect(status == 2, "\(stderr)")
    #expect(stderr.contains(locked))
    #expect(try Data(contentsOf: URL(fileURLWithPath: locked)) == before)
  }

  @Test("a user's own cells tagged tessera-error or injected-parameters survive a run")
  func userTaggedCellsSurvive() throws {
    let h = try NotebookHarness()
    var notebook = StarterNotebook.make(title: "tags", path: "tags.ipynb")
    notebook.cells = [
      Cell.make(type: "markdown", id: "mine", source: "How `tessera-error` banners look", tags: ["tessera-error"]),
      Cell.make(type: "code", id: "params", source: "//parameters\nlet n = 1", tags: ["parameters"]),
      Cell.make(type: "markdown", id: "notes", source: "My notes", tags: ["injected-parameters"]),
      Cell.make(type: "code", id: "c1", source: "print(n)"),
    ]
    let path = h.folder + "/tags.ipynb"
    try notebook.write(to: path)
    let first = try h.run(path, ["-p", "n", "2"])
    #expect(first.status == 0, "\(first.stderr)")
    let second = try h.run(path, ["-p", "n", "3"])
    #expect(second.status == 0, "\(second.stderr)")
    #expect(second.cell("mine")?.source == "How `tessera-error` banners look")
    #expect(second.cell("notes")?.source == "My notes")
    #expect(second.text("c1") == "3\n")
    // Only one injected-parameters cell: the runner's own from the first run was replaced.
    let generated = second.notebook?.cells.filter { $0.source.contains("Parameters of this run") } ?? []
    #expect(generated.count == 1)
  }

  @Test("a notebook saved by someone else during the run is kept; the result goes beside it")
  func changedDuringRun() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "edited.ipynb",
      cells: [
        "//parameters\nlet notebookPath = \"\"",
        "import Foundation\nlet edited = try! String(contentsOfFile: notebookPath, encoding: .utf8) + \"\\n\"\n"
          + "try! edited.write(toFile: notebookPath, atomically: true, encoding: .utf8)\nprint(\"edited\")",
      ])
    let original = try String(contentsOfFile: path, encoding: .utf8)
    let (status, stderr) = try h.tessera(["run", path, "-p", "notebookPath", path])
    #expect(status != 0, "\(stderr)")
    let edited = try String(contentsOfFile: path, encoding: .utf8)
    #expect(edited == original + "\n", "the other save was overwritten")
    let beside = try FileManager.default.contentsOfDirectory(atPath: h.folder).filter {
      $0.hasPrefix("edited.tessera-") && $0.hasSuffix(".ipynb")
    }
    #expect(beside.count == 1, "\(beside)")
    if let name = beside.first {
      #expect(stderr.contains(name), "\(stderr)")
      let saved = try Notebook.read(h.folder + "/" + name)
      #expect(saved.cells.first { $0.id == "c2" }?.outputs.isEmpty == false)
    }
  }
}
