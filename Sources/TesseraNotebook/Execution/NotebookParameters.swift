import Foundation

/// The parameters cell (papermill's convention): a code cell tagged `parameters` whose lines
/// `let name = literal` (or `let name: Type = literal`) declare the run's parameters and their
/// defaults. Supported types: Int, Double, Float, String, Bool and arrays of them.
public struct NotebookParameters: Sendable {
  /// One declared parameter.
  public struct Declaration: Sendable, Equatable {
    public var name: String
    /// `Int`, `Double`, `Float`, `String`, `Bool`, or `[T]` of those.
    public var type: String
    /// The default as written in the cell.
    public var literal: String
    /// Line index inside the cell.
    public var line: Int
  }

  public var declarations: [Declaration]
  /// Index of the parameters cell among all cells, if there is one.
  public var cellIndex: Int?

  static let scalarTypes: Set<String> = ["Int", "Double", "Float", "String", "Bool"]

  /// Finds and parses the cell tagged `parameters`.
  public init(notebook: Notebook) {
    let cells = notebook.cells
    cellIndex = cells.firstIndex { $0.type == "code" && $0.tags.contains("parameters") }
    declarations = []
    guard let cellIndex else { return }
    for (i, line) in cells[cellIndex].source.components(separatedBy: "\n").enumerated() {
      if let d = Self.parse(line: line, index: i) { declarations.append(d) }
    }
  }

  /// `let name[: Type] = literal [// comment]` → a declaration, when the type is supported.
  static func parse(line: String, index: Int) -> Declaration? {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    guard trimmed.hasPrefix("let ") || trimmed.hasPrefix("var ") else { return nil }
    let rest = trimmed.dropFirst(4)
    guard let equals = rest.firstIndex(of: "=") else { return nil }
    let left = rest[..<equals].trimmingCharacters(in: .whitespaces)
    let literal = stripComment(String(rest[rest.index(after: equals)...])).trimmingCharacters(in: .whitespaces)
    let parts = left.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
    let name = parts[0]
    guard let first = name.unicodeScalars.first, CharacterSet.letters.contains(first) || first == "_",
      name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "_" }), !literal.isEmpty
    else { return nil }
    let type = parts.count == 2 ? parts[1].replacingOccurrences(of: " ", with: "") : inferType(literal)
    guard let type, isSupported(type) else { return nil }
    return Declaration(name: name, type: type, literal: literal, line: index)
  }

  static func isSupported(_ type: String) -> Bool {
    if type.hasPrefix("[") && type.hasSuffix("]") { return scalarTypes.contains(String(type.dropFirst().dropLast())) }
    return scalarTypes.contains(type)
  }

  /// The type Swift gives an unannotated literal.
  static func inferType(_ literal: String) -> String? {
    if literal == "true" || literal == "false" { return "Bool" }
    if literal.hasPrefix("\"") { return "String" }
    if literal.hasPrefix("[") {
      let inner = literal.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
      guard let firstElement = splitTopLevel(inner).first,
        let t = inferType(firstElement.trimmingCharacters(in: .whitespaces))
      else {
        return nil
      }
      let all = splitTopLevel(inner).compactMap { inferType($0.trimmingCharacters(in: .whitespaces)) }
      return all.contains("Double") && t == "Int" ? "[Double]" : "[\(t)]"
    }
    let number = literal.replacingOccurrences(of: "_", with: "")
    if Int(number) != nil { return "Int" }
    if Double(number) != nil { return "Double" }
    return nil
  }

  /// Splits `a, "b, c", d` at commas outside string literals.
  static func splitTopLevel(_ text: String) -> [String] {
    var parts: [String] = []
    var current = ""
    var inString = false
    var escaped = false
    for ch in text {
      if inString {
        current.append(ch)
        if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
      } else if ch == "\"" {
        inString = true
        current.append(ch)
      } else if ch == "," {
        parts.append(current)
        current = ""
      } else {
        current.append(ch)
      }
    }
    if !current.trimmingCharacters(in: .whitespaces).isEmpty { parts.append(current) }
    return parts
  }

  /// Drops a trailing `// comment` that is outside string literals.
  static func stripComment(_ text: String) -> String {
    var inString = false
    var escaped = false
    var previous: Character = " "
    var result = ""
    for ch in text {
      if inString {
        if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
      } else if ch == "\"" {
        inString = true
      } else if ch == "/" && previous == "/" {
        result.removeLast()
        return result
      }
      result.append(ch)
      previous = ch
    }
    return result
  }

  // MARK: - Overrides

  /// A value given on the command line or in a params file that does not fit.
  public struct OverrideError: Error, CustomStringConvertible {
    public let description: String
  }

  /// Checks overrides against the declarations and returns each as JSON text, by name.
  /// `commandLine` values are text (`-p steps 500`); `file` values are JSON (`-f params.json`).
  public func resolve(commandLine: [(String, String)], file: [(String, JSONValue)]) throws -> [(String, JSONValue)] {
    var resolved: [(String, JSONValue)] = []
    func declaration(_ name: String) throws -> Declaration {
      guard let d = declarations.first(where: { $0.name == name }) else {
        let known = declarations.map(\.name).joined(separator: ", ")
        throw OverrideError(
          description: cellIndex == nil
            ? "parameter \"\(name)\" given, but the notebook has no cell tagged \"parameters\""
            : "unknown parameter \"\(name)\"; the parameters cell declares: \(known.isEmpty ? "nothing" : known)")
      }
      return d
    }
    for (name, value) in file {
      let d = try declaration(name)
      guard let checked = Self.conform(value, to: d.type) else {
        throw OverrideError(
          description: "parameter \"\(name)\" is \(d.type); the params file gives \(JSONText.write(value).dropLast())")
      }
      resolved.removeAll { $0.0 == name }
      resolved.append((name, checked))
    }
    for (name, text) in commandLine {
      let d = try declaration(name)
      guard let checked = Self.parseText(text, as: d.type) else {
        let real = ["Double", "Float"].contains(d.type) && Double(text) != nil
        throw OverrideError(
          description: "parameter \"\(name)\" is \(d.type); \"\(text)\" is not "
            + (real ? "a finite \(d.type)" : "\(Self.article(d.type)) \(d.type)"))
      }
      resolved.removeAll { $0.0 == name }
      resolved.append((name, checked))
    }
    return resolved
  }

  static func article(_ type: String) -> String { "AEIOU[".contains(type.first ?? "x") ? "an" : "a" }

  /// Whether `value` is a finite `type` (Double or Float). NaN and the infinities have no JSON
  /// form: written into a notebook's metadata they would make the file unreadable.
  static func isFinite(_ value: Double, as type: String) -> Bool {
    type == "Float" ? Float(value).isFinite : value.isFinite
  }

  /// Parses command-line text as a value of `type`.
  static func parseText(_ text: String, as type: String) -> JSONValue? {
    switch type {
    case "Int": return Int64(text.replacingOccurrences(of: "_", with: "")).map { .integer($0) }
    case "Double", "Float": return Double(text).flatMap { isFinite($0, as: type) ? .real($0) : nil }
    case "Bool": return text == "true" ? .bool(true) : (text == "false" ? .bool(false) : nil)
    case "String": return .string(text)
    default:
      guard let value = try? JSONText.parse(text) else { return nil }
      return conform(value, to: type)
    }
  }

  /// `value` when it can be a `type` (integers are accepted for Double and Float).
  static func conform(_ value: JSONValue, to type: String) -> JSONValue? {
    switch (type, value) {
    case ("Int", .integer): return value
    case ("Double", .integer(let i)), ("Float", .integer(let i)): return .real(Double(i))
    case ("Double", .real(let d)), ("Float", .real(let d)): return isFinite(d, as: type) ? value : nil
    case ("Bool", .bool), ("String", .string): return value
    case (_, .array(let items)) where type.hasPrefix("["):
      let element = String(type.dropFirst().dropLast())
      var out: [JSONValue] = []
      for item in items {
        guard let c = conform(item, to: element) else { return nil }
        out.append(c)
      }
      return .array(out)
    default: return nil
    }
  }

  /// The first member of a params file's object whose value holds a bare `NaN`, `Infinity` or
  /// `-Infinity` (what Python's json module writes for non-finite floats; not JSON), and that
  /// token.
  public static func nonFiniteMember(in text: String) -> (name: String, token: String)? {
    var depth = 0
    var inString = false
    var escaped = false
    var string = ""
    var lastString = ""
    var key: String?
    var word = ""
    var sign = ""
    var previous: Character = " "
    for ch in text + " " {
      if inString {
        if escaped {
          escaped = false
        } else if ch == "\\" {
          escaped = true
        } else if ch == "\"" {
          inString = false
          lastString = string
          continue
        }
        string.append(ch)
        continue
      }
      if ch.isLetter {
        if word.isEmpty { sign = previous == "-" ? "-" : "" }
        word.append(ch)
        continue
      }
      if word == "NaN" || word == "Infinity", let key { return (key, sign + word) }
      word = ""
      previous = ch
      switch ch {
      case "\"":
        inString = true
        string = ""
      case "{", "[": depth += 1
      case "}", "]": depth -= 1
      case ":" where depth == 1: key = lastString
      default: break
      }
    }
    return nil
  }

  /// The parameters cell's source with each declaration reading its value at run time; lines
  /// keep their numbers.
  public func rewrittenSource(_ source: String) -> String {
    var lines = source.components(separatedBy: "\n")
    for d in declarations where d.line < lines.count {
      let original = lines[d.line]
      let indent = original.prefix { $0 == " " || $0 == "\t" }
      let keyword = original.trimmingCharacters(in: .whitespaces).hasPrefix("var") ? "var" : "let"
      lines[d.line] =
        "\(indent)\(keyword) \(d.name): \(d.type) = RunSettings.parameter(\"\(d.name)\", default: \(d.literal))"
    }
    return lines.joined(separator: "\n")
  }
}
