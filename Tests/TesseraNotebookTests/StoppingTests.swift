import Foundation
import Testing
import TesseraNotebook

/// `tessera run` stopped from outside (signals, SIGKILL, `--timeout`): the outputs so far are
/// kept, the running cell names why it stopped, and no process of the run is left behind. Every
/// test uses real signals on real processes and finds the run's processes by a mark in their
/// environment, which every process the run starts inherits.
@Suite("Stopping a run")
struct StoppingTests {
  /// A `tessera run` started in the background, with a mark in its environment.
  final class BackgroundRun: @unchecked Sendable {
    let process = Process()
    let stderr = Pipe()
    let mark = "TESSERA_TEST_RUN=\(UUID().uuidString)"
    private var collected = Data()
    private let lock = NSLock()

    init(_ h: NotebookHarness, _ arguments: [String]) throws {
      process.executableURL = URL(fileURLWithPath: NotebookHarness.executable)
      process.arguments = arguments
      var env = ProcessInfo.processInfo.environment
      env["TESSERA_CACHE"] = h.cache
      let parts = mark.split(separator: "=", maxSplits: 1).map(String.init)
      env[parts[0]] = parts[1]
      process.environment = env
      process.standardInput = FileHandle.nullDevice
      process.standardOutput = FileHandle.nullDevice
      process.standardError = stderr
      stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
        let data = handle.availableData
        guard let self else { return }
        self.lock.lock()
        self.collected.append(data)
        self.lock.unlock()
      }
      try process.run()
    }

    var pid: pid_t { process.processIdentifier }

    var errorText: String {
      lock.lock()
      defer { lock.unlock() }
      return String(decoding: collected, as: UTF8.self)
    }

    /// Waits up to `limit` seconds for `condition`; whether it held.
    func wait(upTo limit: TimeInterval, for condition: () -> Bool) -> Bool {
      let deadline = Date().addingTimeInterval(limit)
      while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
      }
      return condition()
    }

    /// Waits for the run to end (killing it after `limit` seconds); its exit status, 128 +
    /// signal when a signal ended it, or nil when it had to be killed.
    func finish(within limit: TimeInterval) -> Int32? {
      let ended = wait(upTo: limit) { !process.isRunning }
      if !ended {
        kill(pid, SIGKILL)
        process.waitUntilExit()
      }
      stderr.fileHandleForReading.readabilityHandler = nil
      lock.lock()
      collected.append(stderr.fileHandleForReading.readDataToEndOfFile())
      lock.unlock()
      guard ended else { return nil }
      return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Live processes (not zombies) carrying this run's mark, other than the runner itself when
    /// `includingRunner` is false: "pid command" each.
    func processes(includingRunner: Bool = true) -> [String] {
      let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
      let needle = Data(mark.utf8)
      return entries.compactMap { entry -> String? in
        guard let id = Int32(entry), id != getpid(), includingRunner || id != pid else { return nil }
        guard let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
          environ.split(separator: 0).contains(where: { $0 == needle })
        else { return nil }
        let stat = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
        if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z") { return nil }
        let command = (try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8)) ?? "?"
        return "\(entry) \(command.trimmingCharacters(in: .whitespacesAndNewlines))"
      }
    }

    /// Waits a moment for the run's processes to go; those left.
    func leftovers(includingRunner: Bool = true) -> [String] {
      _ = wait(upTo: 5) { processes(includingRunner: includingRunner).isEmpty }
      return processes(includingRunner: includingRunner)
    }
  }

  /// Five cells; the third starts a subprocess, says it is running (a file appears) and sleeps.
  static func fiveCells(_ h: NotebookHarness, ready: String) throws -> String {
    try h.write(
      "five.ipynb",
      cells: [
        "import Foundation\nprint(\"one\")",
        "print(\"two\")",
        """
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["300"]
        try! sleeper.run()
        print("three started")
        _ = FileManager.default.createFile(atPath: "\(ready)", contents: nil)
        sleep(300)
        """,
        "print(\"four\")",
        "print(\"five\")",
      ])
  }

  @Test(
    "a stop signal during cell 3 of 5: cells 1–2 keep outputs, cell 3 names the signal, no process left",
    arguments: [SIGTERM, SIGINT, SIGHUP])
  func stopSignal(signal: Int32) throws {
    let h = try NotebookHarness()
    let ready = h.folder + "/ready"
    let path = try Self.fiveCells(h, ready: ready)
    let run = try BackgroundRun(h, ["run", path])
    let started = run.wait(upTo: 240) { FileManager.default.fileExists(atPath: ready) || !run.process.isRunning }
    #expect(started && run.process.isRunning, "cell 3 never ran: \(run.errorText)")
    #expect(run.processes(includingRunner: false).contains { $0.hasSuffix(" sleep") }, "no subprocess to stop")
    kill(run.pid, signal)
    let status = run.finish(within: 60)
    let name = ChildProcess.signalName(signal)
    #expect(status == 128 + signal, "exit status \(String(describing: status)): \(run.errorText)")
    #expect(run.errorText.contains(name), "\(run.errorText)")
    #expect(run.leftovers() == [], "processes of the run are left")
    let result = h.readBack(path, [], status: status ?? -1, stderr: run.errorText)
    #expect(result.text("c1") == "one\n")
    #expect(result.text("c2") == "two\n")
    #expect(result.text("c3") == "three started\n")
    let error = try #require(result.error("c3"), "no error on cell 3")
    #expect(error["ename"]?.stringValue == "Interrupted")
    #expect(error["evalue"]?.stringValue?.contains(name) == true, "\(error)")
    #expect(result.cell("c3")?.metadata["tessera"]?["status"]?.stringValue == "interrupted")
    for id in ["c4", "c5"] {
      #expect(result.outputs(id).isEmpty)
      #expect(result.cell(id)?.metadata["tessera"]?["status"]?.stringValue == "not run")
    }
    #expect(result.notebook?.metadata["tessera"]?["status"]?.stringValue == "interrupted")
    #expect(try NotebookHarness.validate(path).valid)
  }

  @Test(
    "scancel's order: SIGTERM reaches the run's processes 0.3 s before the runner; cell 3 is still interrupted",
    arguments: ["supervisor first", "program first"])
  func jobWideSignalReachingTheRunFirst(order: String) throws {
    let h = try NotebookHarness()
    let ready = h.folder + "/ready"
    let path = try Self.fiveCells(h, ready: ready)
    let run = try BackgroundRun(h, ["run", path])
    let started = run.wait(upTo: 240) { FileManager.default.fileExists(atPath: ready) || !run.process.isRunning }
    #expect(started && run.process.isRunning, "cell 3 never ran: \(run.errorText)")
    let others = run.processes(includingRunner: false)
    let supervisor = others.filter { $0.hasSuffix(" tessera-group") }
    let rest = others.filter { !$0.hasSuffix(" tessera-group") }
    #expect(supervisor.count == 1, "\(others)")
    let pids = (order == "supervisor first" ? supervisor + rest : rest + supervisor).compactMap {
      Int32($0.split(separator: " ")[0])
    }
    for pid in pids { kill(pid, SIGTERM) }
    usleep(300_000)
    kill(run.pid, SIGTERM)
    let status = run.finish(within: 60)
    #expect(status == 128 + SIGTERM, "exit status \(String(describing: status)): \(run.errorText)")
    #expect(run.leftovers() == [], "processes of the run are left")
    let result = h.readBack(path, [], status: status ?? -1, stderr: run.errorText)
    #expect(result.text("c2") == "two\n")
    let error = try #require(result.error("c3"), "no error on cell 3")
    #expect(error["ename"]?.stringValue == "Interrupted", "\(error)")
    #expect(error["evalue"]?.stringValue?.contains("SIGTERM") == true, "\(error)")
    #expect(result.notebook?.metadata["tessera"]?["status"]?.stringValue == "interrupted")
  }

  @Test("SIGKILL of the runner during a cell: the program and its subprocess die too; the notebook is untouched")
  func killedRunnerDuringCell() throws {
    let h = try NotebookHarness()
    let ready = h.folder + "/ready"
    let path = try Self.fiveCells(h, ready: ready)
    let before = FileManager.default.contents(atPath: path)
    let run = try BackgroundRun(h, ["run", path])
    let started = run.wait(upTo: 240) { FileManager.default.fileExists(atPath: ready) || !run.process.isRunning }
    #expect(started && run.process.isRunning, "cell 3 never ran: \(run.errorText)")
    #expect(run.processes(includingRunner: false).count >= 2, "\(run.processes())")
    kill(run.pid, SIGKILL)
    #expect(run.finish(within: 30) == 128 + SIGKILL)
    #expect(run.leftovers() == [], "orphans of the run are left")
    #expect(FileManager.default.contents(atPath: path) == before)
  }

  @Test("SIGKILL of the runner while it compiles: no swift-frontend (or driver) is left")
  func killedRunnerDuringCompile() throws {
    let h = try NotebookHarness()
    // A program big enough that the frontend runs for a while.
    let cells = (0..<40).map { i in
      "let values\(i) = (0..<64).map { Double($0) * \(i).5 }\nprint(values\(i).reduce(0, +))"
    }
    let path = try h.write("compile.ipynb", cells: ["import Tessera"] + cells)
    let run = try BackgroundRun(h, ["run", path])
    let compiling = run.wait(upTo: 120) { run.processes().contains { $0.hasSuffix(" swift-frontend") } }
    #expect(compiling, "no swift-frontend seen: \(run.processes()) \(run.errorText)")
    kill(run.pid, SIGKILL)
    #expect(run.finish(within: 30) == 128 + SIGKILL)
    #expect(run.leftovers() == [], "the compiler outlived the runner")
  }

  @Test("SIGTERM while compiling: the compiler is stopped, the notebook unchanged, the signal named")
  func stopSignalDuringCompile() throws {
    let h = try NotebookHarness()
    let cells = (0..<40).map { i in
      "let values\(i) = (0..<64).map { Double($0) * \(i).25 }\nprint(values\(i).reduce(0, +))"
    }
    let path = try h.write("compile.ipynb", cells: ["import Tessera"] + cells)
    let before = FileManager.default.contents(atPath: path)
    let run = try BackgroundRun(h, ["run", path])
    let compiling = run.wait(upTo: 120) { run.processes().contains { $0.hasSuffix(" swift-frontend") } }
    #expect(compiling, "no swift-frontend seen: \(run.processes()) \(run.errorText)")
    kill(run.pid, SIGTERM)
    #expect(run.finish(within: 30) == 128 + SIGTERM, "\(run.errorText)")
    #expect(run.errorText.contains("SIGTERM") && run.errorText.contains("unchanged"), "\(run.errorText)")
    #expect(run.leftovers() == [])
    #expect(FileManager.default.contents(atPath: path) == before)
  }

  @Test("--timeout stops the cell and the subprocess it started, within the limit")
  func timeoutKillsTheGroup() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "hang.ipynb",
      cells: [
        "import Foundation\nprint(\"one\")",
        """
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["300"]
        try! sleeper.run()
        sleeper.waitUntilExit()
        """,
      ])
    let run = try BackgroundRun(h, ["run", path, "--timeout", "3"])
    let status = run.finish(within: 200)
    #expect(status == 1, "\(run.errorText)")
    #expect(run.leftovers() == [])
    let result = h.readBack(path, [], status: status ?? -1, stderr: run.errorText)
    #expect(result.text("c1") == "one\n")
    #expect(result.error("c2")?["ename"]?.stringValue == "Timeout")
  }

  @Test("a subprocess left running after the last cell does not hold the run open")
  func leftoverSubprocess() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "daemon.ipynb",
      cells: [
        """
        import Foundation
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["300"]
        try! sleeper.run()
        print("left running")
        """
      ])
    let run = try BackgroundRun(h, ["run", path])
    let status = run.finish(within: 200)
    #expect(status == 0, "\(run.errorText)")
    #expect(run.leftovers() == [])
    #expect(h.readBack(path, [], status: 0, stderr: "").text("c1") == "left running\n")
  }

  @Test("--timeout also bounds a program that does not exit after its last cell (atexit)")
  func hangingExit() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "atexit.ipynb",
      cells: ["import Foundation\natexit { while true { sleep(1) } }\nprint(\"done\")"])
    let run = try BackgroundRun(h, ["run", path, "--timeout", "3"])
    let status = run.finish(within: 200)
    #expect(status == 1, "\(run.errorText)")
    #expect(run.leftovers() == [])
    let result = h.readBack(path, [], status: status ?? -1, stderr: run.errorText)
    #expect(result.text("c1") == "done\n")
    #expect(result.error("c1")?["evalue"]?.stringValue?.contains("did not exit") == true)
  }
}
