import Foundation
import Testing
import TesseraNotebook

/// `tessera sweep` and `tessera collect` on a small notebook: every point × seed in its folder,
/// resumable, failures named with their cell, metrics gathered with mean ± std.
@Suite("Sweeps")
struct SweepTests {
  static let cells = [
    "//parameters\nlet width = 2\nlet scale = 1.0",
    "import Tessera\nprecondition(width >= 0, \"negative width \\(width)\")\n"
      + "record(\"score\", Double(width) * scale + Double(RunSettings.seed))\nrecord(\"width\", Double(width))",
  ]

  static func grid(_ h: NotebookHarness, _ text: String) throws -> String {
    let path = h.folder + "/grid-\(UUID().uuidString).json"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  static func metrics(_ folder: String) throws -> [String: String] {
    var found: [String: String] = [:]
    for entry in try FileManager.default.contentsOfDirectory(atPath: folder) where entry.contains("seed=") {
      let notebook = try Notebook.read(folder + "/" + entry + "/notebook.ipynb")
      found[entry] = notebook.metadata["tessera"]?["metrics"].map { JSONText.writeCompact($0) }
    }
    return found
  }

  @Test("a 2 × 2 grid × 2 seeds: folders, statuses, metrics; nothing re-runs; collect; lanes give the same bits")
  func gridSweep() throws {
    let h = try NotebookHarness()
    let notebook = try h.write("sweep.ipynb", cells: Self.cells)
    let grid = try Self.grid(h, #"{"width": [1, 2], "scale": [0.5, 1.0]}"#)
    let runs = h.folder + "/runs"
    let first = try h.tessera(["sweep", notebook, "--grid", grid, "--seeds", "0,1", "--lanes", "2", "--runs", runs])
    #expect(first.status == 0, "\(first.stderr)")
    let folder = runs + "/sweep"
    let metrics = try Self.metrics(folder)
    #expect(metrics.count == 8, "\(metrics)")
    #expect(metrics["width=2_scale=0.5_seed=1"] == #"{"score": 2.0, "width": 2.0}"#, "\(metrics)")
    let task = try SweepTask.load(folder + "/width=2_scale=0.5_seed=1").task
    #expect(task.readStatus()?.state == "ok")
    let again = try h.tessera(["sweep", notebook, "--grid", grid, "--seeds", "0,1", "--lanes", "2", "--runs", runs])
    #expect(again.status == 0)
    #expect(again.stderr.contains("0 to run, 8 finished before"), "\(again.stderr)")
    // One lane gives the same metrics, bit for bit.
    let serial = try h.tessera([
      "sweep", notebook, "--grid", grid, "--seeds", "0,1", "--runs", runs, "--name", "serial",
    ])
    #expect(serial.status == 0)
    #expect(try Self.metrics(runs + "/serial") == metrics)
    let collected = try h.tessera(["collect", folder, "--by", "width"])
    #expect(collected.status == 0, "\(collected.stderr)")
    let table = try String(contentsOfFile: folder + "/collected.md", encoding: .utf8)
    #expect(table.contains("| width | scale | seeds | score | width |"), "\(table)")
    #expect(table.contains("| 2 | 0.5 | 2 | 1.5 ± 0.71 | 2 ± 0 |"), "\(table)")
    for file in ["collected.json", "collected.svg", "collected.png"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file)")
    }
  }

  @Test("a failing point is reported with its cell and message; --only-failed runs only it")
  func failingPoint() throws {
    let h = try NotebookHarness()
    let notebook = try h.write("sweep.ipynb", cells: Self.cells)
    let grid = try Self.grid(h, #"{"width": [1], "points": [{"width": -1}]}"#)
    let runs = h.folder + "/runs"
    let run = try h.tessera(["sweep", notebook, "--grid", grid, "--runs", runs])
    #expect(run.status == 1)
    #expect(
      run.stderr.contains("error: width=-1_seed=0 — cell c2: PreconditionFailure: negative width -1"), "\(run.stderr)")
    let failed = try SweepTask.load(runs + "/sweep/width=-1_seed=0").task.readStatus()
    #expect(failed?.state == "error" && failed?.cell == "c2")
    let rerun = try h.tessera(["sweep", notebook, "--grid", grid, "--runs", runs, "--only-failed"])
    #expect(rerun.status == 1)
    #expect(rerun.stderr.contains("1 to run, 1 not failed"), "\(rerun.stderr)")
  }

  @Test("--slurm with no sbatch on PATH says so and exits 2; a bad grid names its JSON path")
  func refusals() throws {
    let h = try NotebookHarness()
    let notebook = try h.write("sweep.ipynb", cells: Self.cells)
    let grid = try Self.grid(h, #"{"width": [1]}"#)
    let slurm = try h.tessera(["sweep", notebook, "--grid", grid, "--slurm"], environment: ["PATH": "/nonexistent"])
    #expect(slurm.status == 2)
    #expect(slurm.stderr.contains("sbatch is not on PATH"), "\(slurm.stderr)")
    let bad = try Self.grid(h, #"{"width": [1, null]}"#)
    let refused = try h.tessera(["sweep", notebook, "--grid", bad])
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("$.width[1]"), "\(refused.stderr)")
  }

  @Test("SIGTERM to a local sweep: running tasks write their notebooks, nothing new starts; the next call goes on")
  func stoppedSweep() throws {
    let h = try NotebookHarness()
    let notebook = try h.write(
      "pause.ipynb",
      cells: [
        "//parameters\nlet pause = 0.0", "import Foundation\nprint(\"before\")",
        "if pause > 0 { Thread.sleep(forTimeInterval: pause) }\nprint(\"after\")",
      ])
    let grid = try Self.grid(h, #"{"pause": [300.0, 301.0, 0.0]}"#)
    let runs = h.folder + "/runs"
    let sweep = try StoppingTests.BackgroundRun(h, ["sweep", notebook, "--grid", grid, "--lanes", "2", "--runs", runs])
    let running = sweep.wait(upTo: 240) { sweep.processes().filter { $0.hasSuffix(" notebook") }.count >= 2 }
    #expect(running, "\(sweep.errorText)")
    sleep(2)
    kill(sweep.pid, SIGTERM)
    #expect(sweep.finish(within: 60) == 128 + SIGTERM, "\(sweep.errorText)")
    #expect(sweep.leftovers() == [])
    for name in ["pause=300.0_seed=0", "pause=301.0_seed=0"] {
      let task = try SweepTask.load(runs + "/pause/" + name).task
      #expect(task.readStatus()?.state == "interrupted", "\(name)")
      let run = h.readBack(task.notebookPath, [], status: 0, stderr: "")
      #expect(run.text("c2") == "before\n", "\(name)")
      #expect(run.error("c3")?["evalue"]?.stringValue?.contains("SIGTERM") == true, "\(name)")
    }
    #expect(!FileManager.default.fileExists(atPath: runs + "/pause/pause=0.0_seed=0/status.json"))
    let again = try h.tessera(["sweep", notebook, "--grid", grid, "--runs", runs, "--timeout", "1"])
    #expect(again.stderr.contains("3 to run, 0 finished before"), "\(again.stderr)")
  }

  @Test("with no thread count given, threads follow the CPU affinity mask")
  func affinityThreads() throws {
    let h = try NotebookHarness()
    let path = try h.write("threads.ipynb", cells: ["import Tessera\nprint(Runtime.threadCount)"])
    var env = ProcessInfo.processInfo.environment
    env["TESSERA_CACHE"] = h.cache
    env["TESSERA_THREADS"] = nil
    let result = try ChildProcess.run(
      ["taskset", "-c", "0", NotebookHarness.executable, "run", path], environment: env)
    #expect(result.status == .exited(0), "\(result.stderr)")
    let run = h.readBack(path, [], status: 0, stderr: "")
    #expect(run.text("c1") == "1\n")
  }
}
