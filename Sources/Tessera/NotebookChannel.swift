import Foundation

/// The child side of the protocol between `tessera run` and the notebook program it compiled.
///
/// - Cell boundaries travel in-band, so they stay ordered with the cell's own output: a line
///   `\u{1E}TESSERA cell <id> <unix seconds>` on stdout and `\u{1E}TESSERA cell <id>` on stderr
///   when a cell starts, `\u{1E}TESSERA done <id> <unix seconds>` on stdout when it ends.
/// - `display(…)` writes its mime bundle as one JSON line on the channel descriptor
///   (`TESSERA_CHANNEL_FD`) and a line `\u{1E}TESSERA display <n>` on stdout at its place in the output.
/// - Parameter values arrive as JSON in `TESSERA_PARAMETER_<name>`, the seed in `TESSERA_SEED`.
///
/// Generated code calls these; they are not meant for cells.
public enum _NotebookChannel {
  static let marker = "\u{1E}TESSERA"
  nonisolated(unsafe) static var channel: FileHandle?
  nonisolated(unsafe) static var displayCount = 0

  /// True when running under `tessera run`.
  public static var isAttached: Bool { channel != nil }

  /// Called once before the first cell.
  public static func start() {
    // Line-buffered stdout: output printed just before a crash is not lost in a buffer.
    setvbuf(stdout, nil, _IOLBF, 0)
    if let fd = ProcessInfo.processInfo.environment["TESSERA_CHANNEL_FD"].flatMap(Int32.init) {
      channel = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
      // What this run computes on, for the notebook's metadata.
      write([
        "kind": "environment", "blas_core": Runtime.blasCore, "threads": Runtime.threadCount, "cpu": BLASCore.cpuName,
      ])
    }
  }

  static func write(_ message: [String: Any]) {
    guard let channel, var line = try? JSONSerialization.data(withJSONObject: message, options: [.sortedKeys]) else {
      return
    }
    line.append(0x0A)
    channel.write(line)
  }

  /// Called as cell `id` starts.
  public static func beginCell(_ id: String) {
    guard isAttached else { return }
    print("\(marker) cell \(id) \(Date().timeIntervalSince1970)")
    fflush(stdout)
    fputs("\(marker) cell \(id)\n", stderr)
  }

  /// Called as cell `id` ends without error.
  public static func endCell(_ id: String) {
    guard isAttached else { return }
    print("\(marker) done \(id) \(Date().timeIntervalSince1970)")
    fflush(stdout)
  }

  /// Sends a mime bundle, or prints its text when not under the runner.
  static func send(_ bundle: MimeBundle) {
    guard channel != nil else {
      print(bundle.plainText)
      return
    }
    displayCount += 1
    var data: [String: Any] = [:]
    for (mime, value) in bundle.data { data[mime] = value }
    var metadata = bundle.metadata
    if let name = bundle.name { metadata["tessera_name"] = name }
    fflush(stdout)
    write(["kind": "display", "seq": displayCount, "data": data, "metadata": metadata])
    print("\(marker) display \(displayCount)")
    fflush(stdout)
  }
}
