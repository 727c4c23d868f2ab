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
  }

  /// The collected output of ``run(_:environment:)``.
  public struct Result: Sendable {
    public var status: Status
    public var stdout: String
    public var stderr: String
  }

  /// Runs `argv` to completion and collects its output.
  public static func run(_ argv: [String], environment: [String: String]? = nil) throws -> Result {
    var out = Data(), err = Data()
    let status = try spawn(argv, environment: environment, channel: false) { fd, bytes in
      if fd == 1 { out.append(bytes) } else { err.append(bytes) }
      return .continue
    } onTick: {
      .continue
    }
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
    /// Kill the child (SIGKILL) and keep reading until its pipes close.
    case kill
  }

  public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
  }

  /// Starts `argv` with `/dev/null` on fd 0 and pipes on fd 1, 2 and (when `channel`) 3, and calls
  /// `onOutput(fd, bytes)` as data arrives and `onTick()` at least every 100 ms. Returns when the
  /// child has exited and its pipes are drained. The child never reads this process's stdin: a
  /// `readLine()` in a notebook gets nil at once instead of waiting on a terminal or taking the
  /// next line of a `while read` loop's list.
  public static func spawn(
    _ argv: [String], environment: [String: String]?, channel: Bool,
    onOutput: (Int32, Data) -> Decision, onTick: () -> Decision
  ) throws -> Status {
    var pipes: [[Int32]] = []
    for _ in 0..<(channel ? 3 : 2) {
      var fds: [Int32] = [0, 0]
      guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
      pipes.append(fds)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    for (i, fds) in pipes.enumerated() {
      posix_spawn_file_actions_adddup2(&actions, fds[1], Int32(i + 1))
      posix_spawn_file_actions_addclose(&actions, fds[0])
    }
    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup($0) } + [nil]
    defer {
      cArgs.forEach { free($0) }
      cEnv.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, cEnv)
    for fds in pipes { close(fds[1]) }
    guard spawned == 0 else {
      for fds in pipes { close(fds[0]) }
      throw SpawnError(description: "cannot start \(argv[0]): \(String(cString: strerror(spawned)))")
    }
    var open = pipes.enumerated().map { (fd: $0.element[0], target: Int32($0.offset + 1)) }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var killed = false
    func killChild() {
      if !killed {
        kill(pid, SIGKILL)
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
          if onOutput(open[i].target, Data(buffer[0..<n])) == .kill { killChild() }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
          closed.append(p.fd)
        }
      }
      for fd in closed { close(fd) }
      open.removeAll { closed.contains($0.fd) }
      if onTick() == .kill { killChild() }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7F
    return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
  }
}
