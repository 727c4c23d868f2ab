import ArgumentParser
import Foundation
import TesseraNotebook

/// A sweep as one Slurm array job: the job script, `sbatch --parsable`, then `squeue` until the
/// job has left the queue (accounting is often not available, so `sacct` is not used).
///
/// The script sets `TESSERA_THREADS=$SLURM_CPUS_PER_TASK` and asks for SIGTERM 60 s before the
/// time limit (`--signal=B:TERM@60`); each array task `exec`s `tessera sweep-task`, which passes
/// SIGTERM on to `tessera run`, so a task cut by `scancel` or its time limit keeps its outputs.
struct SlurmSubmission {
  let sweep: String
  let folder: String
  let tasks: [SweepTask]
  let sbatchArguments: [String]

  static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

  var script: String {
    var lines = [
      "#!/bin/bash",
      "#SBATCH --job-name=\(Self.quote("tessera-" + sweep))",
      "#SBATCH --array=0-\(tasks.count - 1)",
      "#SBATCH --output=\(Self.quote(folder + "/slurm-%A_%a.out"))",
      "#SBATCH --signal=B:TERM@60",
      "# One task per point × seed of the sweep; each runs `tessera sweep-task FOLDER`.",
      "export TESSERA_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
    ]
    if let cache = ProcessInfo.processInfo.environment["TESSERA_CACHE"] {
      lines.append("export TESSERA_CACHE=\(Self.quote(cache))")
    }
    lines.append("tasks=(")
    lines += tasks.map { "  " + Self.quote($0.folder) }
    lines.append(")")
    lines.append("exec \(Self.quote(ThisExecutable.path)) sweep-task \"${tasks[$SLURM_ARRAY_TASK_ID]}\"")
    return lines.joined(separator: "\n") + "\n"
  }

  func run() throws {
    let stamp = Int(Date().timeIntervalSince1970)
    let path = folder + "/sweep-\(stamp).sbatch"
    try script.write(toFile: path, atomically: true, encoding: .utf8)
    let submitted = try ChildProcess.run(["sbatch", "--parsable"] + sbatchArguments + [path])
    guard submitted.status == .exited(0),
      let job = submitted.stdout.split(separator: ";").first?.trimmingCharacters(in: .whitespacesAndNewlines),
      !job.isEmpty
    else {
      SweepCommand.fail(
        "sbatch \(path) failed: \(submitted.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
        status: 1)
    }
    SweepCommand.say("submitted array job \(job) (\(tasks.count) tasks): \(path)")
    var states: [String: String] = [:]
    var quietPolls = 0
    while ChildProcess.stopSignal == nil {
      // A dead controller can make squeue hang for many seconds: bound every call.
      let queue = try ChildProcess.run(["timeout", "20", "squeue", "-h", "-r", "-j", job, "-o", "%K %T"])
      let lines = queue.status == .exited(0) ? queue.stdout.split(separator: "\n").map(String.init) : []
      if lines.isEmpty {
        quietPolls += 1
        if quietPolls >= 2 { break }  // the job has left the queue
      } else {
        quietPolls = 0
      }
      for line in lines {
        let parts = line.split(separator: " ").map(String.init)
        guard parts.count == 2, states[parts[0]] != parts[1] else { continue }
        states[parts[0]] = parts[1]
        if let index = Int(parts[0]), index < tasks.count {
          SweepCommand.say("  task \(index) \(tasks[index].name): \(parts[1].lowercased())")
        }
      }
      sleep(1)
    }
    if let signal = ChildProcess.stopSignal {
      SweepCommand.say(
        "stopped following job \(job) (\(ChildProcess.signalName(signal))); it goes on: `scancel \(job)` stops it")
      return
    }
    for (index, task) in tasks.enumerated() {
      let status = task.readStatus()
      SweepCommand.say(
        "  task \(index) \(task.name): " + (status.map { $0.state + SweepCommand.describe($0) } ?? "did not run"))
    }
  }
}
