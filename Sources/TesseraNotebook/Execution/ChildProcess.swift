import CProcess
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Child processes with their output read through pipes by one `poll` loop, so a child that
/// writes megabytes to both streams never blocks on a full pipe.
public enum ChildProcess {
  /// How a child ended.
  public enum Status: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)
    /// This process received the stop signal (SIGTERM, SIGINT, SIGHUP) and killed the child.
    case interrupted(Int32)
  }

  /// The collected output of ``run(_:environment:)``.
  public struct Result: Sendable {
    public var status: Status
    public var stdout: String
    public var stderr: String
  }

  /// Runs `argv` to completion and collects its output. Throws ``Interrupted`` when this process
  /// received a stop signal meanwhile (see ``catchStopSignals()``).
  public static func run(_ argv: [String], environment: [String: String]? = nil) throws -> Result {
    var out = Data(), err = Data()
    let status = try spawn(argv, environment: environment, channel: false) { fd, bytes in
      if fd == 1 { out.append(bytes) } else { err.append(bytes) }
      return .continue
    } onTick: {
      .continue
    }
    if case .interrupted(let signal) = status { throw Interrupted(signal: signal) }
    return Result(
      status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
  }

  /// The stdout of `argv`, when it exits 0.
  public static func capture(_ argv: [String]) throws -> String? {
    let result = try run(argv)
    return result.status == .exited(0) ? result.stdout : nil
  }

  /// What a callback tells the loop.
  public enum Decision {
    case `continue`
    /// Kill the child and everything it started (SIGKILL) and keep reading until its pipes close.
    case kill
  }

  public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
  }

  /// Starts `argv` with `/dev/null` on fd 0 and pipes on fd 1, 2 and (when `channel`) 3, and
  /// `secret` (when given) to be read from the next descriptor, and calls
  /// `onOutput(fd, bytes)` as data arrives and `onTick()` at least every 100 ms. Returns when the
  /// child has exited and its pipes are drained. The child never reads this process's stdin: a
  /// `readLine()` in a notebook gets nil at once instead of waiting on a terminal or taking the
  /// next line of a `while read` loop's list.
  ///
  /// The child runs under a supervisor (`tessera_spawn_group`) in a process group of its own:
  /// when it exits, everything it started and left running is killed (in whatever process group),
  /// so its pipes close and no subprocess outlives it; `.kill` kills all of it; and when this
  /// process dies, even by SIGKILL, all of it dies too. When this process receives SIGTERM, SIGINT or SIGHUP after
  /// ``catchStopSignals()``, all of it is killed and the status is `.interrupted(signal)`.
  public static func spawn(
    _ argv: [String], environment: [String: String]?, channel: Bool, secret: Data? = nil,
    onOutput: (Int32, Data) -> Decision, onTick: () -> Decision
  ) throws -> Status {
    func failure(_ what: String, _ code: Int32) -> SpawnError {
      SpawnError(description: "\(what): \(String(cString: strerror(code)))")
    }
    var pipes: [[Int32]] = []
    defer { for fds in pipes { for fd in fds where fd >= 0 { close(fd) } } }
    for _ in 0..<(channel ? 4 : 3) {
      var fds: [Int32] = [-1, -1]
      guard tessera_pipe_cloexec(&fds) == 0 else { throw failure("pipe", errno) }
      pipes.append(fds)
    }
    let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
    guard null >= 0 else { throw failure("/dev/null", errno) }
    defer { close(null) }
    // pipes[0] carries the supervisor's report; pipes[1...] are the child's fd 1, 2 (and 3).
    var childFDs = [null] + pipes.dropFirst().map { $0[1] }
    // The secret waits in a pipe of its own, the child's next descriptor, read to its end; no
    // other process (nor /proc/<pid>/environ) sees it.
    var secretRead: Int32 = -1
    defer { if secretRead >= 0 { close(secretRead) } }
    if let secret {
      var fds: [Int32] = [-1, -1]
      guard tessera_pipe_cloexec(&fds) == 0 else { throw failure("pipe", errno) }
      let written = secret.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
      close(fds[1])
      secretRead = fds[0]
      guard written == secret.count else { throw failure("writing to a pipe", errno) }
      childFDs.append(secretRead)
    }
    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup($0) } + [nil]
    defer {
      cArgs.forEach { free($0) }
      cEnv.forEach { free($0) }
    }
    let supervisor = tessera_spawn_group(argv[0], cArgs, cEnv, childFDs, Int32(childFDs.count), pipes[0][1])
    for i in pipes.indices {
      close(pipes[i][1])
      pipes[i][1] = -1
    }
    guard supervisor > 0 else { throw failure("cannot start \(argv[0])", -supervisor) }
    var open = pipes.dropFirst().enumerated().map { (fd: $0.element[0], target: Int32($0.offset + 1)) }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var killed = false
    var interrupted: Int32 = 0
    func killAll() {
      if !killed {
        kill(supervisor, SIGTERM)  // the supervisor kills every process of the run, then itself
        killed = true
      }
    }
    while !open.isEmpty {
      var polls = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
      let ready = poll(&polls, nfds_t(polls.count), 100)
      if ready < 0 && errno != EINTR { break }
      var closed: [Int32] = []
      for (i, p) in polls.enumerated() where p.revents != 0 {
        let n = read(p.fd, &buffer, buffer.count)
        if n > 0 {
          if onOutput(open[i].target, Data(buffer[0..<n])) == .kill { killAll() }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
          closed.append(p.fd)
        }
      }
      for fd in closed {
        close(fd)
        if let i = pipes.firstIndex(where: { $0[0] == fd }) { pipes[i][0] = -1 }
      }
      open.removeAll { closed.contains($0.fd) }
      if interrupted == 0, case let signal = tessera_stop_signal(), signal != 0 {
        interrupted = signal
        killAll()
      }
      if onTick() == .kill { killAll() }
    }
    var status: Int32 = 0
    while waitpid(supervisor, &status, 0) < 0 && errno == EINTR {}
    // The supervisor's report: the child's wait status, or why it could not be started.
    var report = tessera_child_report(kind: -1, value: 0)
    let size = MemoryLayout<tessera_child_report>.size
    let got = withUnsafeMutableBytes(of: &report) { bytes in
      var total = 0
      while total < size {
        let n = read(pipes[0][0], bytes.baseAddress! + total, size - total)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        total += n
      }
      return total
    }
    if interrupted != 0 { return .interrupted(interrupted) }
    if got == size && report.kind == 1 { throw failure("cannot start \(argv[0])", report.value) }
    if got == size && report.kind == 0 { status = report.value }
    // A signal sent to every process of a job (Slurm's scancel, Ctrl-C to a terminal's foreground
    // group) may reach the run, and end it, before it reaches this process: give this process's
    // copy a moment to arrive, so that the cell is reported as interrupted, not as crashed.
    let stoppedFromOutside =
      got == size
      && ((report.kind == 2 && !killed)
        || (report.kind == 0 && [SIGTERM, SIGINT, SIGHUP].contains(report.value & 0x7F)))
    if stoppedFromOutside {
      for _ in 0..<40 where tessera_stop_signal() == 0 { usleep(50_000) }
    }
    if !(got == size && report.kind == 0 && status == 0), case let late = tessera_stop_signal(), late != 0 {
      return .interrupted(late)
    }
    // Only the run was stopped (its group signalled from outside), not this process.
    if got == size && report.kind == 2 && !killed { return .signaled(report.value) }
    let signal = status & 0x7F
    return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
  }

  /// Makes SIGTERM, SIGINT and SIGHUP stop the running child (and everything it started) instead of
  /// ending this process at once: ``spawn(_:environment:channel:onOutput:onTick:)`` returns
  /// `.interrupted(signal)` and the caller can save what it has. Repeated signals are absorbed;
  /// SIGKILL ends this process at once (and its children with it).
  public static func catchStopSignals() { tessera_catch_stop_signals() }

  /// The first SIGTERM, SIGINT or SIGHUP this process received after ``catchStopSignals()``.
  public static var stopSignal: Int32? {
    let signal = tessera_stop_signal()
    return signal == 0 ? nil : signal
  }

  /// Thrown by ``run(_:environment:)`` when this process received a stop signal while the child ran.
  public struct Interrupted: Error, CustomStringConvertible {
    public let signal: Int32
    public init(signal: Int32) { self.signal = signal }
    public var description: String { "stopped by \(ChildProcess.signalName(signal))" }
  }

  /// `SIGTERM`, `SIGSEGV`, … (the number when it has no common name).
  public static func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
      SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
      SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
      SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
      SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
    ]
    return names[signal] ?? "signal \(signal)"
  }
}
