import Foundation
import Testing
import TesseraNotebook

/// The repository's `papers/` folder.
private let papers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("papers").path

/// True when no code cell of `notebook` holds an error output.
@Suite("The tour notebook")
struct TourNotebookTests {
  @Test("notebooks/00-tour.ipynb runs headless with a short budget: no error outputs, its figures exported")
  func tour() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped("00-tour.ipynb", ["-p", "trainingSteps", "4", "-p", "batchSize", "4"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.errorOutputs.isEmpty)
    for name in ["tour-mqar-loss", "tour-mixer-cost"] {
      #expect(h.exported(name, "png"), "\(name)")
    }
  }
}

@Suite("The state space notebook")
struct StateSpaceNotebookTests {
  @Test("notebooks/state-space.ipynb runs headless with a short training budget")
  func stateSpace() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped("state-space.ipynb", ["-p", "trainingSteps", "3"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.errorOutputs.isEmpty)
    for name in ["ssm-s4d-kernels", "ssm-selectivity", "ssm-mqar-loss"] {
      #expect(h.exported(name, "svg"), "\(name)")
    }
  }
}

@Suite("Paper notebooks and tessera reproduce")
struct PaperNotebookTests {
  /// A folder laid out like the repository (`papers/`, `notebooks/`), holding copies.
  static func repository(_ h: NotebookHarness, slugs: [String]) throws -> String {
    let root = h.folder + "/repo"
    for slug in slugs {
      try FileManager.default.createDirectory(atPath: root + "/papers/\(slug)", withIntermediateDirectories: true)
      try FileManager.default.copyItem(
        atPath: papers + "/\(slug)/reference.json", toPath: root + "/papers/\(slug)/reference.json")
    }
    try FileManager.default.createDirectory(atPath: root + "/notebooks", withIntermediateDirectories: true)
    for slug in slugs {
      try FileManager.default.copyItem(
        atPath: NotebookHarness.notebooks + "/\(slug).ipynb", toPath: root + "/notebooks/\(slug).ipynb")
    }
    return root
  }

  /// Runs `notebooks/SLUG.ipynb` on toy `parameters` in a copy of the repository (figures exported,
  /// results written to the copy's `papers/`) and checks what every paper notebook must do: it exits
  /// 0 without an error output, measures every row of `result.json`, and writes `figures/FIGURE`.
  static func runToy(
    _ h: NotebookHarness, _ slug: String, _ parameters: [String], figure: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> NotebookHarness.Run {
    let root = try repository(h, slugs: [slug])
    let run = try h.run(
      root + "/notebooks/\(slug).ipynb", parameters + ["--export-figures", root + "/figures"],
      environment: ["TESSERA_PAPERS_DIR": root + "/papers"])
    #expect(run.status == 0, "\(run.stderr)", sourceLocation: sourceLocation)
    #expect(run.errorOutputs.isEmpty, sourceLocation: sourceLocation)
    let result = try String(contentsOfFile: root + "/papers/\(slug)/result.json", encoding: .utf8)
    #expect(!result.contains("not measured"), sourceLocation: sourceLocation)
    #expect(
      FileManager.default.fileExists(atPath: root + "/figures/\(figure)"), "\(figure)", sourceLocation: sourceLocation)
    return run
  }

  /// Runs `tessera reproduce ARGUMENTS` from `folder`.
  static func reproduce(_ h: NotebookHarness, in folder: String, _ arguments: [String]) throws -> (
    status: Int32, stdout: String, stderr: String
  ) {
    var env = ProcessInfo.processInfo.environment
    env["TESSERA_CACHE"] = h.cache
    let quoted = ([NotebookHarness.executable, "reproduce"] + arguments).map { "'\($0)'" }.joined(separator: " ")
    let result = try ChildProcess.run(["/bin/sh", "-c", "cd '\(folder)' && exec \(quoted)"], environment: env)
    guard case .exited(let code) = result.status else { return (-1, result.stdout, result.stderr) }
    return (code, result.stdout, result.stderr)
  }

  @Test("tessera reproduce runs the notebook, writes result.md and exits 1 when rows are not reproduced")
  func reproduceSmallFlash() throws {
    let h = try NotebookHarness()
    let root = try Self.repository(h, slugs: ["flash-memory"])
    // Lengths far too short for the paper's claims: the notebook runs, some rows fail.
    let run = try Self.reproduce(
      h, in: root + "/notebooks",
      ["flash-memory", "-p", "lengths", "[128, 256]", "-p", "exactnessLengths", "[100]"])
    #expect(run.status == 1, "\(run.stderr)")
    #expect(run.stdout.contains("| exact |"))
    #expect(run.stderr.contains("not reproduced: "))
    let markdown = try String(contentsOfFile: root + "/papers/flash-memory/result.md", encoding: .utf8)
    #expect(markdown.contains("arXiv:2205.14135"))
    #expect(markdown.contains("✅ reproduced"))  // exactness holds at any length
    #expect(FileManager.default.fileExists(atPath: root + "/figures/flash-memory.png"))
    let notebook = try Notebook.read(root + "/notebooks/flash-memory.ipynb")
    #expect(NotebookHarness.errorOutputs(notebook).isEmpty)

    let list = try Self.reproduce(h, in: root, ["--list"])
    #expect(list.status == 0)
    #expect(list.stdout.contains("flash-memory") && list.stdout.contains("rows reproduced"))
  }

  @Test("tessera reproduce: an unknown paper or a broken reference exits 2 with the file named")
  func reproduceBadInput() throws {
    let h = try NotebookHarness()
    let root = try Self.repository(h, slugs: ["flash-memory"])
    let unknown = try Self.reproduce(h, in: root, ["no-such-paper"])
    #expect(unknown.status == 2)
    #expect(unknown.stderr.contains("papers/no-such-paper/reference.json"))
    try "{\"slug\": \"flash-memory\"}".write(
      toFile: root + "/papers/flash-memory/reference.json", atomically: true, encoding: .utf8)
    let broken = try Self.reproduce(h, in: root, ["flash-memory"])
    #expect(broken.status == 2)
    #expect(broken.stderr.contains("flash-memory/reference.json") && broken.stderr.contains("missing"))
  }

  @Test("notebooks/zoology-mqar.ipynb runs headless on a toy sweep and records every row")
  func zoologyToy() throws {
    let h = try NotebookHarness()
    _ = try Self.runToy(
      h, "zoology-mqar",
      [
        "-p", "lengths", "[16, 24, 32]", "-p", "pairCounts", "[2, 3, 4]", "-p", "widths", "[16, 32]", "-p", "maxSteps",
        "3", "-p", "tokensPerStep", "64",
      ], figure: "zoology-mqar.svg")
  }

  @Test("notebooks/switch-scaling.ipynb runs headless on toy runs and records every row")
  func switchScalingToy() throws {
    let h = try NotebookHarness()
    _ = try Self.runToy(
      h, "switch-scaling",
      [
        "-p", "width", "16", "-p", "blocks", "1", "-p", "heads", "2", "-p", "length", "16", "-p", "batchSize", "2",
        "-p", "steps", "3", "-p", "words", "60", "-p", "sentences", "400",
      ], figure: "switch-scaling.svg")
  }
  @Test("notebooks/module-pruning.ipynb runs headless on toy runs and records every row")
  func modulePruningToy() throws {
    let h = try NotebookHarness()
    _ = try Self.runToy(
      h, "module-pruning",
      [
        "-p", "width", "16", "-p", "blocks", "2", "-p", "heads", "2", "-p", "length", "16", "-p", "vocabulary", "16",
        "-p", "items", "3", "-p", "steps", "4", "-p", "batchSize", "6", "-p", "evaluationBatches", "1", "-p",
        "evaluationSize", "4", "-p", "timingBatch", "6", "-p", "timingRounds", "1",
      ], figure: "module-pruning-masks.svg")
  }

  @Test("notebooks/conceptmoe.ipynb runs headless on toy runs and records every row")
  func conceptMoEToy() throws {
    let h = try NotebookHarness()
    _ = try Self.runToy(
      h, "conceptmoe",
      [
        "-p", "width", "16", "-p", "heads", "2", "-p", "experts", "4", "-p", "expertHidden", "16", "-p",
        "baselineBlocks", "3", "-p", "conceptBlocks", "1", "-p", "length", "32", "-p", "batchSize", "2", "-p", "steps",
        "6", "-p", "words", "60", "-p", "sentences", "400", "-p", "prefillLengths", "[64, 128]", "-p", "decodeTokens",
        "16", "-p", "timingRounds", "1",
      ], figure: "conceptmoe-training.svg")
  }
  @Test("notebooks/ontology-early-exit.ipynb runs headless on toy runs and records every row")
  func ontologyEarlyExitToy() throws {
    let h = try NotebookHarness()
    let run = try Self.runToy(
      h, "ontology-early-exit",
      [
        "-p", "width", "32", "-p", "blocks", "3", "-p", "exitsAfter", "[1, 2]", "-p", "teacherWidth", "32", "-p",
        "teacherBlocks", "1", "-p", "heads", "2", "-p", "steps", "3", "-p", "teacherSteps", "3", "-p", "batchSize", "8",
        "-p", "evaluationBatches", "1", "-p", "evaluationSize", "16", "-p", "latencyQueries", "6", "-p", "thresholds",
        "[0.3, 0.9]",
      ], figure: "ontology-early-exit.svg")
    #expect(run.text("oe-8").contains(#""bench": "early-exit""#), "\(run.text("oe-8"))")
  }
}
