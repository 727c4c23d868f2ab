import Foundation

/// Sorts a notebook program's output into cells.
///
/// stdout and stderr carry in-band marker lines (`<marker> cell <key> <time>`, `… done …`,
/// `… display <n>`), so text lands in the cell that printed it and displays keep their place
/// among prints. The marker is `\u{1E}TESSERA-<token>` with a token chosen for the run, and only
/// that exact prefix starts a marker: any other byte, `\u{1E}` included, is the cell's text.
/// Display payloads and the child's environment arrive as JSON lines on the channel descriptor.
/// Each byte is scanned once: the buffers keep the position up to which they were searched. Each cell keeps the first ``cap`` bytes of each stream and the last
/// ``tailCap`` bytes after them (where final results and crash reports are); what lies between is
/// counted and replaced by a visible note.
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
    /// Bytes past the cap, trimmed to the last `tailCap` when written out.
    var tail: [Int32: Data] = [:]
  }

  /// Bytes of stream text kept per cell and stream.
  let cap: Int
  /// Bytes kept from the end of a stream that went past ``cap``.
  var tailCap: Int { cap / 4 }
  var cells: [String: CellRecord] = [:]
  var displays: [Int: JSONValue] = [:]
  var environment: JSONValue?
  /// Metrics the program recorded with `record(_:_:)`, in first-recorded order (last value kept).
  var metrics: [(String, JSONValue)] = []
  /// The cell each stream is writing into.
  var current: [Int32: String] = [:]
  /// The most recently started cell and when it started (runner clock), for timeouts.
  var runningCell: String?
  var runningSince = Date()
  var echo: ((String?, String) -> Void)?
  private var pending: [Int32: Data] = [1: Data(), 2: Data(), 3: Data()]
  /// How far the channel buffer was searched for a newline.
  private var channelScanned = 0
  /// The bytes that start a marker line.
  let marker: [UInt8]

  init(cap: Int, token: String) {
    self.cap = cap
    marker = Array("\u{1E}TESSERA-\(token) ".utf8)
  }

  /// A random token for ``init(cap:token:)``, passed to the program on the descriptor `TESSERA_CHANNEL_TOKEN_FD`.
  static func makeToken() -> String {
    (0..<2).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined(separator: "x")
  }

  /// Called when the program has ended: text still held back (a partial line that could have
  /// been a marker) belongs to the cell that printed it.
  func finish() {
    for fd: Int32 in [1, 2] {
      if let rest = pending[fd], !rest.isEmpty { append(fd, rest) }
      pending[fd] = Data()
    }
  }

  func feed(_ fd: Int32, _ bytes: Data) {
    pending[fd, default: Data()].append(bytes)
    if fd == 3 { drainChannel() } else { drainStream(fd) }
  }

  /// The offset of the first `byte` in `buffer[from...]` (memchr), or nil.
  private static func find(_ byte: UInt8, in buffer: Data, from: Int) -> Int? {
    guard from < buffer.count else { return nil }
    return buffer.withUnsafeBytes { raw -> Int? in
      guard let base = raw.baseAddress, let hit = memchr(base + from, Int32(byte), raw.count - from) else {
        return nil
      }
      return base.distance(to: UnsafeRawPointer(hit))
    }
  }

  private func drainChannel() {
    guard var buffer = pending[3] else { return }
    pending[3] = nil
    if buffer.startIndex != 0 { buffer = Data(buffer) }  // offsets below are from 0
    var start = 0
    var from = channelScanned
    while let newline = Self.find(0x0A, in: buffer, from: from) {
      let message = buffer.withUnsafeBytes { raw in
        try? JSONText.parse(bytes: UnsafeRawBufferPointer(rebasing: raw[start..<newline]))
      }
      start = newline + 1
      from = start
      guard let message else { continue }
      if message["kind"]?.stringValue == "environment" {
        environment = message
      } else if message["kind"]?.stringValue == "metric", let name = message["name"]?.stringValue,
        let value = message["value"]
      {
        if let i = metrics.firstIndex(where: { $0.0 == name }) {
          metrics[i].1 = value
        } else {
          metrics.append((name, value))
        }
      } else if let seq = message["seq"]?.integerValue {
        displays[Int(seq)] = message
      }
    }
    channelScanned = buffer.count - start
    if start > 0 { buffer.removeSubrange(0..<start) }
    pending[3] = buffer
  }

  private func drainStream(_ fd: Int32) {
    guard var buffer = pending[fd] else { return }
    pending[fd] = nil
    if buffer.startIndex != 0 { buffer = Data(buffer) }  // offsets below are from 0
    var start = 0
    while start < buffer.count {
      guard let mark = Self.find(marker[0], in: buffer, from: start) else {
        append(fd, buffer[start...])
        start = buffer.count
        break
      }
      if mark > start { append(fd, buffer[start..<mark]) }
      start = mark
      let available = min(buffer.count - mark, marker.count)
      guard buffer[mark..<(mark + available)].elementsEqual(marker[0..<available]) else {
        // Not a marker: the byte is text.
        append(fd, buffer[mark..<(mark + 1)])
        start = mark + 1
        continue
      }
      // A marker (or the start of one): wait for its whole line.
      guard available == marker.count, let newline = Self.find(0x0A, in: buffer, from: mark + marker.count) else {
        break
      }
      let words = String(decoding: buffer[(mark + marker.count)..<newline], as: UTF8.self)
      handleMarker(fd, words.split(separator: " ").map(String.init))
      start = newline + 1
    }
    if start > 0 { buffer.removeSubrange(0..<start) }
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
    // The record is changed in place: no copy of what it holds already.
    cells[cell, default: CellRecord()].append(fd, bytes, cap: cap, tailCap: tailCap)
  }
}

extension OutputCollector.CellRecord {
  /// Adds `bytes` of stream `fd`, keeping the first `cap` bytes and the last `tailCap` or more.
  mutating func append(_ fd: Int32, _ bytes: Data, cap: Int, tailCap: Int) {
    var record = self
    self = Self()
    defer { self = record }
    let room = max(0, cap - record.kept[fd, default: 0])
    let keep = bytes.prefix(room)
    if !keep.isEmpty {
      if case .text(let s, var previous)? = record.items.last, s == fd {
        record.items[record.items.count - 1] = .display(-1)
        previous.append(keep)
        record.items[record.items.count - 1] = .text(stream: fd, previous)
      } else {
        record.items.append(.text(stream: fd, Data(keep)))
      }
      record.kept[fd, default: 0] += keep.count
    }
    if keep.count < bytes.count {
      var tail = record.tail[fd, default: Data()]
      tail.append(bytes.dropFirst(keep.count))
      if tail.count > 2 * tailCap {
        record.omitted[fd, default: 0] += tail.count - tailCap
        tail = Data(tail.suffix(tailCap))
      }
      record.tail[fd] = tail
    }
  }
}

extension OutputCollector {

  /// The kept end of stream `fd` of `record` (from a line start) and the bytes omitted before it.
  private func tail(_ record: CellRecord, _ fd: Int32) -> (text: String, omitted: Int)? {
    guard var tail = record.tail[fd], !tail.isEmpty else { return nil }
    var omitted = record.omitted[fd, default: 0]
    if tail.count > tailCap {
      omitted += tail.count - tailCap
      tail = Data(tail.suffix(tailCap))
    }
    if let newline = tail.firstIndex(of: 0x0A), newline - tail.startIndex < 4096 {
      omitted += newline - tail.startIndex + 1
      tail = Data(tail[(newline + 1)...])
    }
    return (String(decoding: tail, as: UTF8.self), omitted)
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
    if let (text, omitted) = tail(record, 1) { outputs.append(Output.stream("stdout", truncationNote(omitted) + text)) }
    if includeStderr && !stderrText.isEmpty {
      var text = String(decoding: stderrText, as: UTF8.self)
      if let (end, omitted) = tail(record, 2) { text += truncationNote(omitted) + end }
      outputs.append(Output.stream("stderr", text))
    }
    return outputs
  }

  /// The stderr text of cell `id`.
  func stderr(of id: String) -> String {
    guard let record = cells[id] else { return "" }
    var text = Data()
    for case .text(2, let data) in record.items { text.append(data) }
    return String(decoding: text, as: UTF8.self) + (tail(record, 2).map { "\n" + $0.text } ?? "")
  }

  func truncationNote(_ omitted: Int) -> String {
    "\n[… \(omitted) bytes not kept: a cell keeps the first \(Self.size(cap)) and the last \(Self.size(tailCap)) "
      + "of each stream …]\n"
  }

  static func size(_ bytes: Int) -> String {
    bytes % 1_048_576 == 0 ? "\(bytes / 1_048_576) MiB" : bytes % 1024 == 0 ? "\(bytes / 1024) KiB" : "\(bytes) bytes"
  }
}
