import ArgumentParser
import Foundation
import TesseraCore
import TesseraNotebook

/// `tessera sweep`: a grid of parameters × seeds over one notebook, each point its own `tessera
/// run` into `runs/<sweep>/<point>_seed=<s>/`, on local processes or as one Slurm array job.
struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Run a notebook over a grid of parameters × seeds, locally or as a Slurm array job.",
    discussion: """
      grid.json is a JSON object of parameter → list of values (crossed), with an optional "points" list of
      extra points (objects). Each point × seed runs as `tessera run NOTEBOOK -f parameters.json --seed S
      --output notebook.ipynb` in its own folder under RUNS/NAME/, with status.json and log.txt beside it.
      The program is compiled once before any task starts. A task that finished (ok, or stopped on a cell
      error) is not run again; --only-failed re-runs the ones that failed. Locally, --lanes N tasks run at a
      time, the threads split between them. --slurm writes one array job script (one task per point × seed,
      TESSERA_THREADS=$SLURM_CPUS_PER_TASK, --signal=B:TERM@60), submits it with sbatch and follows it with
      squeue. Exit status: 0 every task ok, 1 a task did not finish ok, 2 unusable input (or no sbatch), 128 +
      N stopped by signal N (running tasks are stopped and write their notebooks).
      """
  )

  @Argument(help: "The notebook (.ipynb).")
  var notebook: String

  @Option(help: "The grid: a JSON file of parameter → list of values.")
  var grid: String

  @Option(help: "Seeds, comma separated.")
  var seeds: String = "0"

  @Option(help: "Tasks run at a time on this machine (default 1).")
  var lanes: Int?

  @Flag(help: "Submit the tasks as one Slurm array job (sbatch) and follow it.")
  var slurm = false

  @Option(
    name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue,
    help: "An extra sbatch argument (repeatable).")
  var sbatchArguments: [String] = []

  @Option(help: "The sweep's name: its folder under --runs (default: the notebook's name).")
  var name: String?

  @Option(help: "The folder of sweeps.")
  var runs: String = "runs"

  @Flag(help: "Re-run only the tasks that failed.")
  var onlyFailed = false

  @Option(parsing: .unconditional, help: "Seconds one cell may run (passed to tessera run).")
  var timeout: Double?

  func validate() throws {
    if let lanes, lanes < 1 { throw ValidationError("--lanes \(lanes): at least 1") }
    if slurm && lanes != nil { throw ValidationError("--lanes and --slurm: choose one") }
    if let timeout, !(timeout.isFinite && timeout > 0) {
      throw ValidationError("--timeout \(timeout): a finite positive number of seconds")
    }
  }

  static func say(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }

  static func fail(_ message: String, status: Int32) -> Never {
    say("error: " + message)
    Foundation.exit(status)
  }

  func run() throws {
    let notebookPath = URL(fileURLWithPath: notebook).standardizedFileURL.path
    guard FileManager.default.fileExists(atPath: notebookPath) else {
      Self.fail("\(notebook): no such notebook", status: 2)
    }
    let points: [[(String, JSONValue)]]
    do { points = try SweepGrid(contentsOf: grid).points } catch { Self.fail("\(error)", status: 2) }
    let seedList = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    guard !seedList.isEmpty, seedList.allSatisfy({ $0 != nil && Int64(exactly: $0!) != nil }) else {
      Self.fail("--seeds \(seeds): a comma-separated list of integers from 0 to 2^63 - 1", status: 2)
    }
    if slurm, Self.onPath("sbatch") == nil {
      Self.fail(
        "--slurm: sbatch is not on PATH (is this a Slurm login node? `tessera sweep --lanes N` runs locally)", status: 2
      )
    }
    let sweepName = name ?? ((notebookPath as NSString).lastPathComponent as NSString).deletingPathExtension
    let folder = URL(fileURLWithPath: runs).appendingPathComponent(sweepName).standardizedFileURL.path
    var runArguments: [String] = []
    if let timeout { runArguments += ["--timeout", String(timeout)] }
    let tasks = points.flatMap { point in
      seedList.map { seed in
        SweepTask(folder: folder + "/" + SweepGrid.folderName(point, seed: seed!), point: point, seed: seed!)
      }
    }
    let selected = tasks.filter { task in
      let status = task.readStatus()
      return onlyFailed ? status.map { $0.state != "ok" } ?? false : !(status?.isFinished ?? false)
    }
    Self.say(
      "sweep \(sweepName): \(points.count) points × \(seedList.count) seeds = \(tasks.count) tasks in \(folder); "
        + "\(selected.count) to run, \(tasks.count - selected.count) \(onlyFailed ? "not failed" : "finished before")")
    ChildProcess.catchStopSignals()
    if !selected.isEmpty {
      // One compile before any task: every task then finds the program in the cache.
      let warm = try ChildProcess.run([ThisExecutable.forChildren, "run", notebookPath, "--compile-only"])
      guard warm.status == .exited(0) else {
        Self.say(warm.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        Self.fail("\(notebook) does not compile; no task was run", status: 1)
      }
      for task in selected {
        do { try task.prepare(notebook: notebookPath, runArguments: runArguments) } catch {
          Self.fail("\(task.folder): \(error)", status: 1)
        }
      }
    }
    if slurm && !selected.isEmpty {
      try SlurmSubmission(sweep: sweepName, folder: folder, tasks: selected, sbatchArguments: sbatchArguments).run()
    } else if !selected.isEmpty {
      LocalSweep(tasks: selected, notebook: notebookPath, runArguments: runArguments, lanes: lanes ?? 1).run()
    }
    if let signal = ChildProcess.stopSignal {
      Self.say("stopped by \(ChildProcess.signalName(signal)); run the same command again to go on")
      throw ExitCode(128 + signal)
    }
    // The summary covers every task of the sweep, run now or before.
    var failed = 0
    var missing = 0
    for task in tasks {
      guard let status = task.readStatus() else {
        missing += 1
        continue
      }
      if status.state != "ok" {
        failed += 1
        Self.say("  \(status.state): \(task.name)\(Self.describe(status))")
      }
    }
    Self.say(
      "sweep \(sweepName): \(tasks.count - failed - missing) ok, \(failed) not ok, \(missing) not run; "
        + "`tessera collect \(folder)` gathers the metrics")
    if failed + missing > 0 { throw ExitCode(1) }
  }

  static func describe(_ status: SweepTask.Status) -> String {
    var text = ""
    if let cell = status.cell { text += " — cell \(cell)" }
    if let error = status.error { text += (status.cell == nil ? " — " : ": ") + error }
    return text
  }

  /// The path of `program` on PATH, if any.
  static func onPath(_ program: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(program)" }.first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }
}

/// Starts one task's `tessera run` (stderr into its log) and turns its end into a status.
struct TaskProcess {
  let task: SweepTask
  let process = Process()
  let started = Date()

  init(_ task: SweepTask, notebook: String, runArguments: [String], threads: Int?) throws {
    self.task = task
    process.executableURL = URL(fileURLWithPath: ThisExecutable.forChildren)
    process.arguments =
      ["run", notebook, "--output", task.notebookPath, "-f", task.parametersPath, "--seed", String(task.seed)]
      + runArguments
    var environment = ProcessInfo.processInfo.environment
    if let threads { environment["TESSERA_THREADS"] = String(threads) }
    process.environment = environment
    _ = FileManager.default.createFile(atPath: task.logPath, contents: nil)
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: task.logPath))
    try process.run()
  }

  /// The exit status as a shell reports it (128 + N for signal N).
  var exitStatus: Int32 {
    process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
  }

  /// Records how the task ended.
  func finish() -> SweepTask.Status {
    let status = task.status(exitStatus: exitStatus, seconds: Date().timeIntervalSince(started))
    try? task.writeStatus(status)
    return status
  }
}

/// Runs tasks `lanes` at a time on this machine. A stop signal (SIGTERM, SIGINT, SIGHUP) is
/// passed on to the running tasks, which write their notebooks; no new task starts.
struct LocalSweep {
  let tasks: [SweepTask]
  let notebook: String
  let runArguments: [String]
  let lanes: Int

  func run() {
    let threads = max(1, Runtime.threadCount / lanes)
    var queue = tasks[...]
    var running: [TaskProcess] = []
    var forwarded = false
    var done = 0
    while !queue.isEmpty || !running.isEmpty {
      if !forwarded, let signal = ChildProcess.stopSignal {
        forwarded = true
        queue = []
        for task in running { kill(task.process.processIdentifier, signal) }
      }
      while running.count < lanes, let task = queue.first {
        queue = queue.dropFirst()
        do {
          running.append(try TaskProcess(task, notebook: notebook, runArguments: runArguments, threads: threads))
        } catch {
          SweepCommand.say("  cannot start \(task.name): \(error)")
        }
      }
      for (i, task) in running.enumerated().reversed() where !task.process.isRunning {
        running.remove(at: i)
        let status = task.finish()
        done += 1
        SweepCommand.say(
          "  [\(done)/\(tasks.count)] \(status.state) \(task.task.name) \(String(format: "%.1f s", status.seconds))"
            + SweepCommand.describe(status))
      }
      usleep(50_000)
    }
  }
}

/// `tessera sweep-task FOLDER`: runs one prepared task (what a Slurm array task executes). A stop
/// signal is passed on to `tessera run`, which writes the notebook with the outputs so far.
struct SweepTaskCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep-task", abstract: "Run one prepared task of a sweep (used by Slurm array jobs).",
    shouldDisplay: false)

  @Argument(help: "The task's folder (holding task.json).")
  var folder: String

  func run() throws {
    let (task, notebook, arguments) = try SweepTask.load(folder)
    ChildProcess.catchStopSignals()
    let threads = ProcessInfo.processInfo.environment["TESSERA_THREADS"].flatMap(Int.init)
    let running = try TaskProcess(task, notebook: notebook, runArguments: arguments, threads: threads)
    var forwarded = false
    while running.process.isRunning {
      if !forwarded, let signal = ChildProcess.stopSignal {
        forwarded = true
        kill(running.process.processIdentifier, signal)
      }
      usleep(50_000)
    }
    let status = running.finish()
    print("\(status.state) \(task.name)\(SweepCommand.describe(status))")
    if status.exitStatus != 0 { throw ExitCode(status.exitStatus) }
  }
}
