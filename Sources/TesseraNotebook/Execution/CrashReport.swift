import Foundation

/// What a crashed notebook program left on its standard error, read back into a cell error.
///
/// The program runs with Swift's backtracer on (`SWIFT_BACKTRACE`, text format, crashed thread
/// only) and is compiled with `-g`, so a trap prints the frames with their source locations;
/// locations inside cells read `<notebook>#cell-<index>:<line>:<column>`. This turns the report into
/// the message (`Fatal error: …` when the program printed one), the innermost cell line, and a
/// short traceback of frames in terms of cells and lines.
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
  /// `Fatal error: …` message, when there was one.
  var fatalMessage: String?
  /// "Illegal instruction", "Segmentation fault", … from the backtracer's banner.
  var crashKind: String?
  var frames: [Frame] = []
  /// Where `fatalError` was called, when that was inside a cell (its message names the place).
  var fatalFrame: Frame?

  init(stderr: String) {
    var inBacktrace = false
    for line in stderr.components(separatedBy: "\n") {
      if line.hasPrefix("*** Signal") || line.hasPrefix("💣") || line.hasPrefix("*** Program crashed") {
        inBacktrace = true
      }
      if let range = line.range(of: "Fatal error: ") {
        let message = String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        fatalMessage = message.isEmpty ? nil : message
        let place = String(line[..<range.lowerBound]).trimmingCharacters(in: CharacterSet(charactersIn: ": "))
        if place.contains("#cell-") {
          fatalFrame = Frame(function: "fatalError", location: place + ":1", isSystem: false)
        }
      }
      if !inBacktrace {
        if !line.isEmpty { printed.append(line) }
        continue
      }
      if line.hasPrefix("*** Program crashed: "), let at = line.range(of: " at 0x") {
        crashKind = String(line[line.index(line.startIndex, offsetBy: 21)..<at.lowerBound])
      } else if let frame = Self.frame(line) {
        frames.append(frame)
      }
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
    var text = fatalMessage ?? crashKind.map { "\($0) (\(cause))" } ?? cause
    if fatalMessage == nil, let trapping = frames.first, trapping.cell == nil {
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
    var lines = printed.filter { !$0.contains("Fatal error: ") }
    if let fatalMessage { lines.append("Fatal error: \(fatalMessage)") }
    let frames = self.frames.isEmpty ? (fatalFrame.map { [$0] } ?? []) : self.frames
    let lastCell = frames.lastIndex { $0.cell != nil } ?? frames.count - 1
    guard lastCell >= 0 else { return lines }
    lines.append("Traceback (innermost first):")
    var previous: Frame?
    for frame in frames[...lastCell] where frame != previous {
      previous = frame
      let function = frame.function == "main" ? "top-level code" : frame.function
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
