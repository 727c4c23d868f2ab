/// A JSON document as a value: what notebooks are made of.
///
/// Objects keep their members in an array of pairs; the writer sorts keys, as Jupyter's does, so
/// the order held in memory does not matter. Integers and reals are kept apart so that `1` and
/// `1.0` round-trip unchanged.
public enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case integer(Int64)
  case real(Double)
  case string(String)
  case array([JSONValue])
  case object([(String, JSONValue)])

  public static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.integer(let x), .integer(let y)): return x == y
    case (.real(let x), .real(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)):
      return x.count == y.count
        && zip(x.sorted { $0.0 < $1.0 }, y.sorted { $0.0 < $1.0 }).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: return false
    }
  }

  /// The member `key` of an object (nil for other values or a missing key).
  public subscript(key: String) -> JSONValue? {
    get {
      guard case .object(let members) = self else { return nil }
      return members.first { $0.0 == key }?.1
    }
    set {
      guard case .object(var members) = self else { return }
      if let i = members.firstIndex(where: { $0.0 == key }) {
        if let newValue { members[i].1 = newValue } else { members.remove(at: i) }
      } else if let newValue {
        members.append((key, newValue))
      }
      self = .object(members)
    }
  }

  public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
  public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o } else { return nil } }
  public var integerValue: Int64? { if case .integer(let i) = self { return i } else { return nil } }
  public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  public var doubleValue: Double? {
    switch self {
    case .integer(let i): return Double(i)
    case .real(let d): return d
    default: return nil
    }
  }

  /// A multi-line string stored either whole or as a list of lines (nbformat allows both).
  public var joinedText: String? {
    switch self {
    case .string(let s): return s
    case .array(let parts):
      var out = ""
      for part in parts {
        guard case .string(let s) = part else { return nil }
        out += s
      }
      return out
    default: return nil
    }
  }

  /// `text` as Jupyter stores multi-line strings: a list of lines, each keeping its line ending
  /// (Python's `str.splitlines(keepends=True)`).
  public static func lines(_ text: String) -> JSONValue {
    .array(JSONText.splitLines(text).map { .string($0) })
  }

  /// An object from literal pairs.
  public static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
    .object(pairs.map { ($0.key, $0.value) })
  }
}
