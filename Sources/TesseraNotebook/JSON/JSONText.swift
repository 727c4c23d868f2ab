internal import CJansson

/// Reading JSON text (jansson) and writing it the way Jupyter does.
///
/// The writer reproduces Python's `json.dumps(value, indent=1, sort_keys=True,
/// ensure_ascii=False, separators=(",", ": "))` plus a trailing newline, which is what
/// `nbformat.write` produces: one-space indentation, keys sorted by code point, raw UTF-8,
/// `\uXXXX` (lower-case hex) only for control characters, reals in Python's shortest
/// round-trip form. jansson prints reals with 17 significant digits (`0.1` becomes
/// `0.10000000000000001`), so it parses but does not write.
public enum JSONText {
  /// A parse failure with jansson's position and message.
  public struct ParseError: Error, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let message: String
    public var description: String { "line \(line), column \(column): \(message)" }
  }

  /// Parses JSON text.
  public static func parse(_ text: String) throws -> JSONValue {
    var text = text
    return try text.withUTF8 { try parse(bytes: UnsafeRawBufferPointer($0)) }
  }

  /// Parses JSON text given as UTF-8 bytes.
  public static func parse(bytes: UnsafeRawBufferPointer) throws -> JSONValue {
    if bytes.isEmpty { throw ParseError(line: 1, column: 1, message: "empty text") }
    var error = json_error_t()
    let root = json_loadb(
      bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count, Int(JSON_DECODE_ANY | JSON_ALLOW_NUL),
      &error)
    guard let root else {
      let message = withUnsafeBytes(of: error.text) { raw in
        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
      }
      throw ParseError(line: Int(error.line), column: Int(error.column), message: message)
    }
    defer { json_decref(root) }
    return convert(root)
  }

  private static func convert(_ node: UnsafeMutablePointer<json_t>) -> JSONValue {
    switch node.pointee.type {
    case JSON_OBJECT:
      var members: [(String, JSONValue)] = []
      var iterator = json_object_iter(node)
      while let it = iterator {
        let keyPointer = json_object_iter_key(it)!
        let keyLength = json_object_iter_key_len(it)
        let key = String(decoding: UnsafeRawBufferPointer(start: keyPointer, count: keyLength), as: UTF8.self)
        members.append((key, convert(json_object_iter_value(it)!)))
        iterator = json_object_iter_next(node, it)
      }
      return .object(members)
    case JSON_ARRAY:
      return .array((0..<json_array_size(node)).map { convert(json_array_get(node, $0)!) })
    case JSON_STRING:
      let length = json_string_length(node)
      return .string(
        String(decoding: UnsafeRawBufferPointer(start: json_string_value(node), count: length), as: UTF8.self))
    case JSON_INTEGER: return .integer(Int64(json_integer_value(node)))
    case JSON_REAL: return .real(json_real_value(node))
    case JSON_TRUE: return .bool(true)
    case JSON_FALSE: return .bool(false)
    default: return .null
    }
  }

  /// `value` laid out as Jupyter writes notebooks, with a trailing newline.
  public static func write(_ value: JSONValue) -> String {
    String(decoding: writeBytes(value), as: UTF8.self)
  }

  /// ``write(_:)`` as UTF-8 bytes (what a file gets; no second copy of a large notebook).
  public static func writeBytes(_ value: JSONValue) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(1 << 16)
    emit(value, level: 0, into: &out)
    out.append(0x0A)
    return out
  }

  /// `value` on one line, with Python's default separators (`[1, 2]`, `{"a": 1}`).
  public static func writeCompact(_ value: JSONValue) -> String {
    var out: [UInt8] = []
    emit(value, level: 0, compact: true, into: &out)
    return String(decoding: out, as: UTF8.self)
  }

  private static func emit(_ value: JSONValue, level: Int, compact: Bool = false, into out: inout [UInt8]) {
    func indent(_ n: Int) { out.append(contentsOf: repeatElement(0x20, count: n)) }
    switch value {
    case .null: out.append(contentsOf: "null".utf8)
    case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case .integer(let i): out.append(contentsOf: String(i).utf8)
    case .real(let d): out.append(contentsOf: pythonRepr(d).utf8)
    case .string(let s): quote(s, into: &out)
    case .array(let items):
      if items.isEmpty {
        out.append(contentsOf: "[]".utf8)
        return
      }
      if compact {
        out.append(0x5B)
        for (i, item) in items.enumerated() {
          if i > 0 { out.append(contentsOf: ", ".utf8) }
          emit(item, level: 0, compact: true, into: &out)
        }
        out.append(0x5D)
        return
      }
      out.append(contentsOf: "[\n".utf8)
      for (i, item) in items.enumerated() {
        indent(level + 1)
        emit(item, level: level + 1, into: &out)
        out.append(contentsOf: (i + 1 < items.count ? ",\n" : "\n").utf8)
      }
      indent(level)
      out.append(0x5D)
    case .object(let members):
      if members.isEmpty {
        out.append(contentsOf: "{}".utf8)
        return
      }
      let sorted = members.sorted {
        Array($0.0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.0.unicodeScalars.map(\.value))
      }
      if compact {
        out.append(0x7B)
        for (i, member) in sorted.enumerated() {
          if i > 0 { out.append(contentsOf: ", ".utf8) }
          quote(member.0, into: &out)
          out.append(contentsOf: ": ".utf8)
          emit(member.1, level: 0, compact: true, into: &out)
        }
        out.append(0x7D)
        return
      }
      out.append(contentsOf: "{\n".utf8)
      for (i, member) in sorted.enumerated() {
        indent(level + 1)
        quote(member.0, into: &out)
        out.append(contentsOf: ": ".utf8)
        emit(member.1, level: level + 1, into: &out)
        out.append(contentsOf: (i + 1 < sorted.count ? ",\n" : "\n").utf8)
      }
      indent(level)
      out.append(0x7D)
    }
  }

  /// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
  static func pythonRepr(_ d: Double) -> String {
    if d.isNaN { return "NaN" }
    if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
    // Swift's description is the shortest round-trip form with the same exponent thresholds.
    return d.description
  }

  private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

  /// `s` as a JSON string: `"`, `\\` and control characters escaped, everything else raw UTF-8
  /// (runs without anything to escape are copied whole).
  private static func quote(_ s: String, into out: inout [UInt8]) {
    var s = s
    out.append(0x22)
    s.withUTF8 { bytes in
      var run = 0
      for i in 0..<bytes.count {
        let c = bytes[i]
        if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
        if i > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i])) }
        run = i + 1
        switch c {
        case 0x22: out.append(contentsOf: [0x5C, 0x22])
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: out.append(contentsOf: [0x5C, 0x72])
        case 0x09: out.append(contentsOf: [0x5C, 0x74])
        case 0x08: out.append(contentsOf: [0x5C, 0x62])
        case 0x0C: out.append(contentsOf: [0x5C, 0x66])
        default: out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
        }
      }
      if bytes.count > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<bytes.count])) }
    }
    out.append(0x22)
  }

  /// Python's `str.splitlines(keepends=True)`: breaks after `\n`, `\r\n`, `\r`, `\v`, `\f`,
  /// `\x1c`–`\x1e`, `\x85`, U+2028 and U+2029.
  public static func splitLines(_ text: String) -> [String] {
    var text = text
    return text.withUTF8 { b in
      var lines: [String] = []
      var start = 0
      var i = 0
      let n = b.count
      while i < n {
        var end = -1
        switch b[i] {
        case 0x0D: end = i + 1 < n && b[i + 1] == 0x0A ? i + 2 : i + 1
        case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E: end = i + 1
        case 0xC2 where i + 1 < n && b[i + 1] == 0x85: end = i + 2  // U+0085
        case 0xE2 where i + 2 < n && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9): end = i + 3
        default: break
        }
        if end < 0 {
          i += 1
          continue
        }
        lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self))
        start = end
        i = end
      }
      if start < n { lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<n]), as: UTF8.self)) }
      return lines
    }
  }

}
