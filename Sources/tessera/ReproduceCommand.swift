import ArgumentParser
import Foundation
import Tessera
import TesseraNotebook

/// `tessera reproduce SLUG`: regenerate a paper's table. Runs `notebooks/SLUG.ipynb` headless
/// (outputs written back, figures exported to `figures/`), whose last cells compare our numbers
/// with `papers/SLUG/reference.json` and write `papers/SLUG/result.md` and `result.json`; prints
/// the table and exits 1 when a row is not reproduced.
struct ReproduceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reproduce",
    abstract: "Reproduce a paper's table: run its notebook and compare with the paper, row by row.",
    discussion: """
      Run from the repository (or below it): papers/SLUG/reference.json holds the paper's rows and what
      counts as reproduced; notebooks/SLUG.ipynb measures ours. Exit status: 0 every row reproduced,
      1 a row was not (or the notebook failed), 2 the paper, the notebook or the command line could not be used.
      """
  )

  @Argument(help: "The paper's slug (a folder of papers/).")
  var slug: String?

  @Flag(help: "List the papers that can be reproduced, with their last result.")
  var list = false

  @OptionGroup var execution: ExecutionArguments

  func run() throws {
    let root = try Self.repositoryRoot()
    let papers = root + "/papers"
    if list {
      listPapers(papers)
      return
    }
    guard let slug else { throw ValidationError("name a paper (tessera reproduce --list shows them)") }
    let reproduction: PaperReproduction
    do {
      reproduction = try PaperReproduction(slug: slug, papersDirectory: papers)
    } catch {
      Self.fail("error: \(error)", status: 2)
    }
    let notebook = root + "/notebooks/\(slug).ipynb"
    guard FileManager.default.fileExists(atPath: notebook) else {
      Self.fail("error: \(notebook): no notebook for \(slug)", status: 2)
    }
    // The last result stays until the notebook replaces it (atomically): a run that is refused or
    // fails leaves it as it was.
    let resultPath = reproduction.folder + "/result.json"
    let previousResult = Self.fileIdentity(resultPath)

    var options = try execution.runnerOptions()
    options.exportFigures = root + "/figures"
    options.environment["TESSERA_PAPERS_DIR"] = papers
    print("reproducing \(reproduction.reference.title)\n  \(reproduction.reference.citation)\n  running \(notebook)")
    let started = Date()
    ChildProcess.catchStopSignals()
    let report = NotebookRunner(options: options).run(notebook)
    for line in report.messages { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    if report.status == 2 || report.status > 128 { throw ExitCode(report.status) }
    if report.status != 0 {
      Self.fail("error: \(notebook): the run did not complete (see above)", status: 1)
    }
    guard Self.fileIdentity(resultPath) != previousResult,
      let data = FileManager.default.contents(atPath: resultPath),
      let result = try? JSONDecoder().decode(ResultFile.self, from: data)
    else {
      Self.fail(
        "error: \(notebook) ran but wrote no new \(resultPath) (its last cell should call write() on its PaperReproduction)",
        status: 1)
    }
    if let markdown = try? String(contentsOfFile: reproduction.folder + "/result.md", encoding: .utf8) {
      print(markdown)
    }
    let failed = result.rows.filter { $0.verdict != "reproduced" }
    print(
      String(
        format: "%d of %d rows reproduced in %.0f s", result.rows.count - failed.count, result.rows.count,
        Date().timeIntervalSince(started)))
    if !failed.isEmpty {
      Self.fail("not reproduced: " + failed.map { "\($0.id) (\($0.verdict))" }.joined(separator: ", "), status: 1)
    }
  }

  /// Device, inode, modification time and size of the file at `path` (nil when there is none): a
  /// file replaced by a rename, or rewritten, has a different identity.
  static func fileIdentity(_ path: String) -> [Int]? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return [
      Int(info.st_dev), Int(info.st_ino), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_size),
    ]
  }

  /// What `tessera reproduce` reads back from `result.json`.
  struct ResultFile: Decodable {
    struct Row: Decodable {
      var id: String
      var verdict: String
    }
    var slug: String
    var rows: [Row]
  }

  func listPapers(_ papers: String) {
    let slugs = ((try? FileManager.default.contentsOfDirectory(atPath: papers)) ?? []).sorted().filter {
      FileManager.default.fileExists(atPath: "\(papers)/\($0)/reference.json")
    }
    if slugs.isEmpty { print("no papers under \(papers)") }
    for slug in slugs {
      do {
        let reference = try PaperReference.load("\(papers)/\(slug)/reference.json")
        var last = "not run yet"
        if let data = FileManager.default.contents(atPath: "\(papers)/\(slug)/result.json"),
          let result = try? JSONDecoder().decode(ResultFile.self, from: data)
        {
          let passed = result.rows.filter { $0.verdict == "reproduced" }.count
          last = "last run: \(passed) of \(result.rows.count) rows reproduced"
        }
        print("\(slug)\n  \(reference.title)\n  \(reference.citation)\n  \(reference.rows.count) rows; \(last)")
      } catch {
        print("\(slug)\n  error: \(error)")
      }
    }
  }

  /// The nearest folder at or above the current one that holds `papers/` and `notebooks/`.
  static func repositoryRoot() throws -> String {
    var folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    for _ in 0..<8 {
      let papers = folder.appendingPathComponent("papers").path
      let notebooks = folder.appendingPathComponent("notebooks").path
      if FileManager.default.fileExists(atPath: papers), FileManager.default.fileExists(atPath: notebooks) {
        return folder.path
      }
      folder.deleteLastPathComponent()
    }
    fail("error: no papers/ and notebooks/ folders here or above; run from the repository", status: 2)
  }

  static func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    Foundation.exit(status)
  }
}
