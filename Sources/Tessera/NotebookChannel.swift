internal import CKernels
import Foundation
import Synchronization

/// The child side of the protocol between `tessera run` and the notebook program it compiled.
///
/// - Cell boundaries travel in-band, so they stay ordered with the cell's own output: a line
///   `<marker> cell <key> <unix seconds>` on stdout and `<marker> cell <key>` on stderr when a
///   cell starts, `<marker> done <key> <unix seconds>` on stdout when it ends. The marker is
///   `\u{1E}TESSERA-<token>`, the token a random one the runner writes into a pipe the program
///   reads from descriptor `TESSERA_CHANNEL_TOKEN_FD` and closes before the first cell (never in
///   the environment, where `/proc/self/environ` would show it): text a cell prints cannot be
///   taken for a marker, by accident or on purpose.
/// - `display(…)` writes its mime bundle as one JSON line on the channel descriptor
///   (`TESSERA_CHANNEL_FD`) and a line `<marker> display <n>` on stdout at its place in the output.
/// - Parameter values arrive as JSON in `TESSERA_PARAMETER_<name>`, the seed in `TESSERA_SEED`.
///
/// Generated code calls these; they are not meant for cells.
public enum _NotebookChannel {
  /// The marker that starts a line of the protocol on stdout and stderr.
  static var marker: String { connection.withLock { $0.marker } }

  /// The channel descriptor (nil when not under the runner) and the displays sent on it. A
  /// display holds the lock while it writes, so its channel line and its stdout marker carry the
  /// same number even when two threads display at once.
  private struct Connection {
    var channel: FileHandle?
    var displayCount = 0
    var marker = "\u{1E}TESSERA"
  }
  private static let connection = Mutex(Connection())

  /// True when running under `tessera run`.
  public static var isAttached: Bool { connection.withLock { $0.channel != nil } }

  /// Called once before the first cell.
  public static func start() {
    // Line-buffered stdout, flushed when the program crashes: output printed just before a crash,
    // a partial line included, is not lost in a buffer.
    tessera_stdout_line_buffered()
    tessera_stdout_flush_on_crash()
    if let fd = ProcessInfo.processInfo.environment["TESSERA_CHANNEL_FD"].flatMap(Int32.init) {
      let channel = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
      // The token arrives on a pipe of its own, read to its end and closed before any cell runs.
      var token: String?
      if let tokenFD = ProcessInfo.processInfo.environment["TESSERA_CHANNEL_TOKEN_FD"].flatMap(Int32.init) {
        let handle = FileHandle(fileDescriptor: tokenFD, closeOnDealloc: true)
        token = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        try? handle.close()
      }
      connection.withLock { connection in
        connection.channel = channel
        if let token { connection.marker += "-" + token }
      }
      // What this run computes on, for the notebook's metadata.
      let environment: [String: Any] = [
        "kind": "environment", "blas_core": Runtime.blasCore, "threads": Runtime.threadCount, "cpu": BLASCore.cpuName,
        "gemm": GEMMKernel.current.mode.rawValue, "isa": GEMMKernel.current.instructionSet,
      ]
      write(environment, to: channel)
    }
  }

  static func write(_ message: [String: Any], to channel: FileHandle) {
    var line = ChannelJSON.encode(message)
    line.append(0x0A)
    channel.write(Data(line))
  }

  /// Called as the cell with key `id` (its index in the notebook) starts. An integer, not a
  /// string: a thousand string-literal calls in one `main` make the optimiser's work on it grow
  /// with their square.
  public static func beginCell(_ id: Int) {
    guard isAttached else { return }
    print("\(marker) cell \(id) \(Date().timeIntervalSince1970)")
    tessera_stdout_flush()
    FileHandle.standardError.write(Data("\(marker) cell \(id)\n".utf8))
  }

  /// Called as the cell with key `id` ends without error.
  public static func endCell(_ id: Int) {
    guard isAttached else { return }
    print("\(marker) done \(id) \(Date().timeIntervalSince1970)")
    tessera_stdout_flush()
  }

  /// Sends a metric (see ``record(_:_:)``), or prints it when not under the runner.
  static func sendMetric(_ name: String, _ value: Double) {
    let sent = connection.withLock { connection in
      guard let channel = connection.channel else { return false }
      write(["kind": "metric", "name": name, "value": value], to: channel)
      return true
    }
    if !sent { print("\(name) = \(value)") }
  }

  /// Sends a mime bundle, or prints its text when not under the runner.
  static func send(_ bundle: MimeBundle) {
    var data: [String: Any] = [:]
    for (mime, value) in bundle.data { data[mime] = value }
    var metadata = bundle.metadata
    if let name = bundle.name { metadata["tessera_name"] = name }
    let sent = connection.withLock { connection in
      guard let channel = connection.channel else { return false }
      connection.displayCount += 1
      tessera_stdout_flush()
      write(["kind": "display", "seq": connection.displayCount, "data": data, "metadata": metadata], to: channel)
      print("\(connection.marker) display \(connection.displayCount)")
      tessera_stdout_flush()
      return true
    }
    if !sent { print(bundle.plainText) }
  }
}
