import Foundation

/// Sorts a notebook program's output into cells.
///
/// stdout and stderr carry in-band markers (`\u{1E}TESSERA cell <id> <time>`, `… done …`,
/// `… display <n>`), so text lands in the cell that printed it and displays keep their place
/// among prints. Display payloads and the child's environment arrive as JSON lines on the
/// channel descriptor. Each cell keeps at most ``cap`` bytes per stream; the rest is counted and
/// reported in a visible note.
final class OutputCollector {
  enum Item {
    case text(stream: Int32, Data)
    case display(Int)
  }

  struct CellRecord {
    var started: Double?
    var ended: Double?
    var items: [Item] = []
    var kept: [Int32: Int] = [:]
    var omitted: [Int32: Int] = [:]
  }

  /// Bytes of stream text kept per cell and stream.
  let cap: Int
  var cells: [String: CellRecord] = [:]
  var displays: [Int: JSONValue] = [:]
  var environment: JSONValue?
  /// The cell each stream is writing into.
  var current: [Int32: String] = [:]
  /// The most recently started cell and when it started (runner clock), for timeouts.
  var runningCell: String?
  var runningSince = Date()
  var echo: ((String?, String) -> Void)?
  private var pending: [Int32: Data] = [1: Data(), 2: Data(), 3: Data()]

  init(cap: Int) { self.cap = cap }

  func feed(_ fd: Int32, _ bytes: Data) {
    pending[fd, default: Data()].append(bytes)
    if fd == 3 { drainChannel() } else { drainStream(fd) }
  }

  private func drainChannel() {
    guard var buffer = pending[3] else { return }
    while let newline = buffer.firstIndex(of: 0x0A) {
      let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
      buffer = Data(buffer[(newline + 1)...])
      guard let message = try? JSONText.parse(line) else { continue }
      if message["kind"]?.stringValue == "environment" {
        environment = message
      } else if let seq = message["seq"]?.integerValue {
        displays[Int(seq)] = message
      }
    }
    pending[3] = buffer
  }

  private func drainStream(_ fd: Int32) {
    guard var buffer = pending[fd] else { return }
    while !buffer.isEmpty {
      guard let mark = buffer.firstIndex(of: 0x1E) else {
        append(fd, buffer)
        buffer = Data()
        break
      }
      if mark > buffer.startIndex { append(fd, Data(buffer[buffer.startIndex..<mark])) }
      buffer = Data(buffer[mark...])
      guard let newline = buffer.firstIndex(of: 0x0A) else {
        if buffer.count > 4096 {  // a stray 0x1E in user output, not a marker
          append(fd, Data(buffer.prefix(1)))
          buffer = Data(buffer.dropFirst())
          continue
        }
        break
      }
      let line = String(decoding: buffer[(buffer.startIndex + 1)..<newline], as: UTF8.self)
      if line.hasPrefix("TESSERA ") {
        handleMarker(fd, line.dropFirst(8).split(separator: " ").map(String.init))
      } else {
        append(fd, Data(buffer[buffer.startIndex...newline]))
      }
      buffer = Data(buffer[(newline + 1)...])
    }
    pending[fd] = buffer
  }

  private func handleMarker(_ fd: Int32, _ words: [String]) {
    guard words.count >= 2 else { return }
    let (kind, id) = (words[0], words[1])
    switch kind {
    case "cell":
      current[fd] = id
      if fd == 1 {
        cells[id, default: CellRecord()].started = words.count > 2 ? Double(words[2]) : nil
        runningCell = id
        runningSince = Date()
        echo?(id, "")
      }
    case "done":
      cells[id, default: CellRecord()].ended = words.count > 2 ? Double(words[2]) : nil
      if runningCell == id { runningCell = nil }
    case "display":
      if let seq = Int(id), let cell = current[1] { cells[cell, default: CellRecord()].items.append(.display(seq)) }
    default:
      break
    }
  }

  private func append(_ fd: Int32, _ bytes: Data) {
    let cell = current[fd] ?? ""
    echo?(nil, String(decoding: bytes, as: UTF8.self))
    var record = cells[cell, default: CellRecord()]
    let room = max(0, cap - record.kept[fd, default: 0])
    let keep = bytes.prefix(room)
    if !keep.isEmpty {
      if case .text(let s, let previous)? = record.items.last, s == fd {
        record.items[record.items.count - 1] = .text(stream: fd, previous + keep)
      } else {
        record.items.append(.text(stream: fd, Data(keep)))
      }
      record.kept[fd, default: 0] += keep.count
    }
    record.omitted[fd, default: 0] += bytes.count - keep.count
    cells[cell] = record
  }

  /// The nbformat outputs of cell `id`: stdout text and displays in order, then stderr text.
  /// `includeStderr` is false for a failed cell, whose stderr goes into its error output.
  func outputs(for id: String, includeStderr: Bool) -> [JSONValue] {
    guard let record = cells[id] else { return [] }
    var outputs: [JSONValue] = []
    var stderrText = Data()
    for item in record.items {
      switch item {
      case .text(let fd, let data):
        if fd == 2 {
          stderrText.append(data)
        } else {
          outputs.append(Output.stream("stdout", String(decoding: data, as: UTF8.self)))
        }
      case .display(let seq):
        guard let message = displays[seq], let data = message["data"]?.objectValue else { continue }
        outputs.append(Output.displayData(data, metadata: message["metadata"] ?? .object([])))
      }
    }
    if let omitted = record.omitted[1], omitted > 0 { outputs.append(Output.stream("stdout", truncationNote(omitted))) }
    if includeStderr && !stderrText.isEmpty {
      outputs.append(Output.stream("stderr", String(decoding: stderrText, as: UTF8.self)))
      if let omitted = record.omitted[2], omitted > 0 {
        outputs.append(Output.stream("stderr", truncationNote(omitted)))
      }
    }
    return outputs
  }

  /// The stderr text of cell `id`.
  func stderr(of id: String) -> String {
    guard let record = cells[id] else { return "" }
    var text = Data()
    for case .text(2, let data) in record.items { text.append(data) }
    return String(decoding: text, as: UTF8.self)
  }

  func truncationNote(_ omitted: Int) -> String {
    "\n[… \(omitted) more bytes not kept: a cell keeps the first \(cap / 1_048_576) MiB of each stream …]\n"
  }
}
