import Foundation

/// The JSON of the messages a notebook program sends the runner: one line per message, keys
/// sorted. Strings are escaped a run of bytes at a time, so a `display` of 100 MB is written in
/// a fraction of a second (Foundation's `JSONSerialization` takes about ten).
enum ChannelJSON {
  /// `value` as one line of JSON (no newline). Strings, integers, reals, booleans, dictionaries
  /// with string keys and arrays are written here; any other value through `JSONSerialization`.
  static func encode(_ value: Any) -> [UInt8] {
    var out: [UInt8] = []
    append(value, to: &out)
    return out
  }

  static func append(_ value: Any, to out: inout [UInt8]) {
    switch value {
    case let string as String: quote(string, into: &out)
    case let flag as Bool: out.append(contentsOf: (flag ? "true" : "false").utf8)
    case let integer as Int: out.append(contentsOf: String(integer).utf8)
    case let real as Double where real.isFinite: out.append(contentsOf: "\(real)".utf8)
    case let real as Float where real.isFinite: out.append(contentsOf: "\(Double(real))".utf8)
    case let object as [String: Any]:
      out.append(0x7B)
      for (i, key) in object.keys.sorted().enumerated() {
        if i > 0 { out.append(0x2C) }
        quote(key, into: &out)
        out.append(0x3A)
        append(object[key]!, to: &out)
      }
      out.append(0x7D)
    case let array as [Any]:
      out.append(0x5B)
      for (i, item) in array.enumerated() {
        if i > 0 { out.append(0x2C) }
        append(item, to: &out)
      }
      out.append(0x5D)
    default:
      let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
      out.append(contentsOf: data ?? Data("null".utf8))
    }
  }

  private static let hex = Array("0123456789abcdef".utf8)

  /// `string` as a JSON string literal.
  static func quote(_ string: String, into out: inout [UInt8]) {
    var string = string
    out.append(0x22)
    string.withUTF8 { bytes in
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
        default: out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
        }
      }
      if bytes.count > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<bytes.count])) }
    }
    out.append(0x22)
  }
}
