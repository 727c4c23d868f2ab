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
    if text.isEmpty { throw ParseError(line: 1, column: 1, message: "empty text") }
    var error = json_error_t()
    var bytes = Array(text.utf8)
    let root: UnsafeMutablePointer<json_t>? = bytes.withUnsafeMutableBufferPointer { buffer in
      buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) { pointer in
        json_loadb(pointer, buffer.count, Int(JSON_DECODE_ANY | JSON_ALLOW_NUL), &error)
      }
    }
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
    var out = ""
    out.reserveCapacity(1 << 16)
    emit(value, level: 0, into: &out)
    out += "\n"
    return out
  }

  /// `value` on one line, with Python's default separators (`[1, 2]`, `{"a": 1}`).
  public static func writeCompact(_ value: JSONValue) -> String {
    var out = ""
    emit(value, level: 0, compact: true, into: &out)
    return out
  }

  private static func emit(_ value: JSONValue, level: Int, compact: Bool = false, into out: inout String) {
    switch value {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .integer(let i): out += String(i)
    case .real(let d): out += pythonRepr(d)
    case .string(let s): quote(s, into: &out)
    case .array(let items):
      if items.isEmpty {
        out += "[]"
        return
      }
      if compact {
        out += "["
        for (i, item) in items.enumerated() {
          if i > 0 { out += ", " }
          emit(item, level: 0, compact: true, into: &out)
        }
        out += "]"
        return
      }
      out += "[\n"
      for (i, item) in items.enumerated() {
        out += String(repeating: " ", count: level + 1)
        emit(item, level: level + 1, into: &out)
        out += i + 1 < items.count ? ",\n" : "\n"
      }
      out += String(repeating: " ", count: level) + "]"
    case .object(let members):
      if members.isEmpty {
        out += "{}"
        return
      }
      out += "{\n"
      let sorted = members.sorted {
        Array($0.0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.0.unicodeScalars.map(\.value))
      }
      if compact {
        out += "{"
        for (i, member) in sorted.enumerated() {
          if i > 0 { out += ", " }
          quote(member.0, into: &out)
          out += ": "
          emit(member.1, level: 0, compact: true, into: &out)
        }
        out += "}"
        return
      }
      for (i, member) in sorted.enumerated() {
        out += String(repeating: " ", count: level + 1)
        quote(member.0, into: &out)
        out += ": "
        emit(member.1, level: level + 1, into: &out)
        out += i + 1 < sorted.count ? ",\n" : "\n"
      }
      out += String(repeating: " ", count: level) + "}"
    }
  }

  /// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
  static func pythonRepr(_ d: Double) -> String {
    if d.isNaN { return "NaN" }
    if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
    // Swift's description is the shortest round-trip form with the same exponent thresholds.
    return d.description
  }

  private static let hex: [Character] = Array("0123456789abcdef")

  private static func quote(_ s: String, into out: inout String) {
    out += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      default:
        if scalar.value < 0x20 {
          out += "\\u00"
          out.append(hex[Int(scalar.value >> 4)])
          out.append(hex[Int(scalar.value & 0xF)])
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }

  /// Python's `str.splitlines(keepends=True)`: breaks after `\n`, `\r\n`, `\r`, `\v`, `\f`,
  /// `\x1c`–`\x1e`, `\x85`, U+2028 and U+2029.
  public static func splitLines(_ text: String) -> [String] {
    var lines: [String] = []
    var current = String.UnicodeScalarView()
    var iterator = text.unicodeScalars.makeIterator()
    var pending = iterator.next()
    while let scalar = pending {
      pending = iterator.next()
      current.append(scalar)
      switch scalar.value {
      case 0x0D:
        if pending == "\n" {
          current.append("\n")
          pending = iterator.next()
        }
        lines.append(String(current))
        current = String.UnicodeScalarView()
      case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
        lines.append(String(current))
        current = String.UnicodeScalarView()
      default:
        break
      }
    }
    if !current.isEmpty { lines.append(String(current)) }
    return lines
  }
}
