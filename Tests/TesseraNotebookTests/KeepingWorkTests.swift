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
    FileManager.default.createFile(atPath: h.folder + "/readonly.ipynb", contents: Data("{}".utf8))
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
}
