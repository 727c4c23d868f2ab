import Foundation

/// What a crashed notebook program left on its standard error, read back into a cell error.
///
/// The program runs with Swift's backtracer on (`SWIFT_BACKTRACE`, text format, crashed thread
/// only) and is compiled with `-g`, so a trap prints the frames with their source locations;
/// locations inside cells read `<notebook>#cell-<index>:<line>:<column>`. This turns the report into
/// the message (`Fatal error: …`, `Precondition failed: …`, `Assertion failed: …` when the
/// program printed one; notebook programs are compiled with `-assert-config Debug` so that
/// `precondition` and the standard library's checks such as "Index out of range" print theirs),
/// the innermost cell line, and a short traceback of frames in terms of cells and lines. A bad
/// access thousands of frames deep is named a stack overflow.
struct CrashReport {
  /// One stack frame.
  struct Frame: Equatable {
    var function: String
    /// `file:line:column` as printed (a cell location keeps its `#cell-<index>` file name).
    var location: String
    var isSystem: Bool
    /// The cell and line when the frame is inside a cell.
    var cell: (id: String, line: Int)? {
      guard let marker = location.range(of: "#cell-") else { return nil }
      let parts = location[marker.upperBound...].split(separator: ":")
      guard parts.count >= 2, let line = Int(parts[parts.count - 2]) else { return nil }
      return (parts[..<(parts.count - 2)].joined(separator: ":"), line)
    }
    static func == (a: Frame, b: Frame) -> Bool { a.function == b.function && a.location == b.location }
  }

  /// Text the program printed to stderr before the backtrace (without the backtrace).
  var printed: [String] = []
  /// The message of `fatalError`, `precondition` or `assert` (`Fatal error: …`, `Precondition
  /// failed: …`, `Assertion failed: …`), when there was one.
  var fatalMessage: String?
  /// "Fatal error", "Precondition failed" or "Assertion failed".
  var fatalKind: String?
  /// "Illegal instruction", "Segmentation fault", … from the backtracer's banner.
  var crashKind: String?
  var frames: [Frame] = []
  /// The largest frame number the backtracer printed (it elides the middle of deep stacks).
  var depth = 0
  /// Where `fatalError` was called, when that was inside a cell (its message names the place).
  var fatalFrame: Frame?

  static let fatalKinds = ["Fatal error", "Precondition failed", "Assertion failed"]

  init(stderr: String) {
    var inBacktrace = false
    for line in stderr.components(separatedBy: "\n") {
      if line.hasPrefix("*** Signal") || line.hasPrefix("💣") || line.hasPrefix("*** Program crashed") {
        inBacktrace = true
      }
      if !inBacktrace, fatalMessage == nil, let (kind, place, message) = Self.fatal(line) {
        fatalKind = kind
        fatalMessage = message
        if place.contains("#cell-") {
          fatalFrame = Frame(function: "fatalError", location: place + ":1", isSystem: false)
        }
        continue
      }
      if !inBacktrace {
        if !line.isEmpty { printed.append(line) }
        continue
      }
      if line.hasPrefix("*** Program crashed: "), let at = line.range(of: " at 0x") {
        crashKind = String(line[line.index(line.startIndex, offsetBy: 21)..<at.lowerBound])
      } else if var frame = Self.frame(line) {
        frame.location = Self.cellLocation(frame)
        frames.append(frame)
        if let number = Int(line.drop { $0 == " " }.prefix { $0.isNumber }) { depth = max(depth, number + 1) }
      }
    }
  }

  /// The location of a frame in a cell's statement function `__cell_<key>_<n>`, which the
  /// debug information gives as a line of the cell (from `#sourceLocation`) in the program's own
  /// file: that line in the cell.
  static func cellLocation(_ frame: Frame) -> String {
    guard frame.function.hasPrefix("__cell_"), !frame.location.contains("#cell-") else { return frame.location }
    let name = frame.function.dropFirst("__cell_".count).prefix { $0 != "(" }
    guard let separator = name.lastIndex(of: "_") else { return frame.location }
    let key = name[..<separator]
    let parts = frame.location.split(separator: ":")
    guard parts.count >= 3, Int(parts[parts.count - 2]) != nil else { return frame.location }
    return "#cell-\(key):\(parts[parts.count - 2]):\(parts[parts.count - 1])"
  }

  /// `(kind, place, message)` of a `place: Fatal error: message` line (also `Precondition
  /// failed`, `Assertion failed`; the message may be empty).
  static func fatal(_ line: String) -> (String, String, String)? {
    for kind in fatalKinds {
      guard let range = line.range(of: kind) else { continue }
      let after = line[range.upperBound...]
      guard after.isEmpty || after.hasPrefix(": ") else { continue }
      let message = after.dropFirst(after.isEmpty ? 0 : 2).trimmingCharacters(in: .whitespaces)
      let place = String(line[..<range.lowerBound]).trimmingCharacters(in: CharacterSet(charactersIn: ": "))
      return (kind, place, message)
    }
    return nil
  }

  /// The frames of a stack that ran out: a bad access with a stack thousands of frames deep,
  /// or hundreds of one frame in a row (recursion).
  var isStackOverflow: Bool {
    guard crashKind == "Bad pointer dereference" || crashKind == "Segmentation fault" else { return false }
    if depth >= 2000 { return true }
    var run = 1
    for i in frames.indices.dropFirst() {
      run = frames[i] == frames[i - 1] ? run + 1 : 1
      if run >= 256 { return true }
    }
    return false
  }

  /// The name of the error: `FatalError`, `PreconditionFailure`, `AssertionFailure`,
  /// `StackOverflow`, or nil for a plain signal.
  var errorName: String? {
    switch fatalKind {
    case "Fatal error": return "FatalError"
    case "Precondition failed": return "PreconditionFailure"
    case "Assertion failed": return "AssertionFailure"
    default: return isStackOverflow ? "StackOverflow" : nil
    }
  }

  /// Parses `  2 [inlined] [system] 0x… function in image at file:line:col`.
  static func frame(_ line: String) -> Frame? {
    let trimmed = line.drop { $0 == " " }
    guard let first = trimmed.first, first.isNumber, let address = trimmed.range(of: " 0x") else { return nil }
    let flags = trimmed[..<address.lowerBound]
    var rest = trimmed[address.upperBound...].drop { $0.isHexDigit }.drop { $0 == " " }
    guard let at = rest.range(of: " at ", options: .backwards) else { return nil }
    let location = String(rest[at.upperBound...])
    rest = rest[..<at.lowerBound]
    if let image = rest.range(of: " in ", options: .backwards) { rest = rest[..<image.lowerBound] }
    if let offset = rest.range(of: " + ", options: .backwards), rest[offset.upperBound...].allSatisfy(\.isNumber) {
      rest = rest[..<offset.lowerBound]
    }
    return Frame(function: String(rest), location: location, isSystem: flags.contains("[system]"))
  }

  /// The innermost frame inside a cell.
  var cellFrame: Frame? { frames.first { $0.cell != nil } ?? fatalFrame }

  /// The error message: the fatal message, else the crash kind with the trapping function.
  /// `cause` names the signal (`SIGILL`) or says how the program ended.
  func message(cause: String, ids: [String: String] = [:]) -> String {
    var text = fatalMessage.map { $0.isEmpty ? fatalKind ?? "" : $0 } ?? crashKind.map { "\($0) (\(cause))" } ?? cause
    if fatalMessage == nil, isStackOverflow {
      let recursing = frames.first { $0.cell != nil }?.function ?? frames.first?.function ?? "?"
      text =
        "stack overflow: \(recursing) recursed until the stack ran out "
        + "(\(depth) frames deep; \(crashKind ?? "bad access") (\(cause)))"
    } else if fatalMessage == nil, let trapping = frames.first, trapping.cell == nil {
      let runtime = "Swift runtime failure: "
      text =
        trapping.function.hasPrefix(runtime)
        ? String(trapping.function.dropFirst(runtime.count)) + " (\(cause))" : text + " in \(trapping.function)"
    }
    if let cell = cellFrame?.cell { text += " — cell \(ids[cell.id] ?? cell.id), line \(cell.line)" }
    return text
  }

  /// Traceback lines: what was printed, then the frames up to the outermost cell frame, with
  /// cell frames shown as `cell <id>, line <n>` followed by the source line. `sources` and `ids`
  /// (the cell's notebook id) are keyed by the cell key of the locations.
  func traceback(sources: [String: String], ids: [String: String] = [:]) -> [String] {
    var lines = printed
    if let fatalKind, let fatalMessage {
      lines.append(fatalMessage.isEmpty ? fatalKind : "\(fatalKind): \(fatalMessage)")
    }
    let frames = self.frames.isEmpty ? (fatalFrame.map { [$0] } ?? []) : self.frames
    let lastCell = frames.lastIndex { $0.cell != nil } ?? frames.count - 1
    guard lastCell >= 0 else { return lines }
    lines.append("Traceback (innermost first):")
    var previous: Frame?
    for frame in frames[...lastCell] where frame != previous {
      previous = frame
      // A cell's statements run in `main` or in a function `__cell_<key>_<n>` (ProgramAssembly).
      let function =
        frame.function == "main" || frame.function.hasPrefix("__cell_") ? "top-level code" : frame.function
      if let cell = frame.cell {
        lines.append("  \(function) — cell \(ids[cell.id] ?? cell.id), line \(cell.line)")
        let sourceLines = (sources[cell.id] ?? "").components(separatedBy: "\n")
        if cell.line >= 1 && cell.line <= sourceLines.count {
          lines.append("      \(sourceLines[cell.line - 1].trimmingCharacters(in: .whitespaces))")
        }
      } else {
        let place = frame.location.hasPrefix("/") ? (frame.location as NSString).lastPathComponent : frame.location
        lines.append("  \(function) — \(place)")
      }
    }
    return lines
  }
}
