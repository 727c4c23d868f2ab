import Foundation

/// The parameters cell (papermill's convention): a code cell tagged `parameters` whose top-level
/// lines `let name = literal` (or `let name: Type = literal`, or `var`) declare the run's
/// parameters and their defaults.
///
/// The reading is conservative: a line is a parameter only when it stands at the top level of
/// the cell (not inside a block, a closure, a multi-line string or a comment), holds nothing but
/// the declaration and an optional `// comment`, and its literal is one the runner fully
/// understands: an integer (decimal, or `0x`, `0o`, `0b`, with `_` separators), a decimal
/// floating-point number, a one-line string without interpolation, `true`/`false`, or an array
/// of those. Every other line runs byte for byte as written; a `-p` naming one of its constants
/// is refused with the reason. Supported types: Int, Double, Float, String, Bool and arrays of
/// them.
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
  /// Constants and variables of the parameters cell that are not parameters, with the reason.
  public var unsupported: [(name: String, reason: String)] = []
  /// Index of the parameters cell among all cells, if there is one.
  public var cellIndex: Int?

  static let scalarTypes: Set<String> = ["Int", "Double", "Float", "String", "Bool"]

  /// Finds and parses the cell tagged `parameters`.
  public init(notebook: Notebook) {
    let cells = notebook.cells
    cellIndex = cells.firstIndex { $0.type == "code" && $0.tags.contains("parameters") }
    declarations = []
    guard let cellIndex else { return }
    var scanner = SwiftLineScanner()
    for (i, line) in Self.lines(cells[cellIndex].source).enumerated() {
      let topLevel = scanner.isAtTopLevel
      let found = scanner.scan(line.text)
      if topLevel && scanner.isAtTopLevel, let d = Self.parse(line: line.text, index: i) {
        declarations.append(d)
        continue
      }
      for (name, nested) in found where !unsupported.contains(where: { $0.name == name }) {
        unsupported.append(
          (
            name,
            nested
              ? "it is declared inside a block (line \(i + 1) of the parameters cell)"
              : "line \(i + 1) of the parameters cell is not `let \(name) = <literal>` with a literal tessera run "
                + "can set (an integer, a decimal number, a one-line string without interpolation, true or false, "
                + "or an array of those)"
          ))
      }
    }
  }

  /// The lines of `source` without their ends (`\n`, `\r\n` or `\r`), and those ends.
  static func lines(_ source: String) -> [(text: String, end: String)] {
    var result: [(String, String)] = []
    let scalars = Array(source.unicodeScalars)
    var start = 0
    var i = 0
    func text(_ range: Range<Int>) -> String {
      var s = String.UnicodeScalarView()
      s.append(contentsOf: scalars[range])
      return String(s)
    }
    while i < scalars.count {
      if scalars[i] == "\n" || scalars[i] == "\r" {
        let endLength = scalars[i] == "\r" && i + 1 < scalars.count && scalars[i + 1] == "\n" ? 2 : 1
        result.append((text(start..<i), text(i..<(i + endLength))))
        i += endLength
        start = i
      } else {
        i += 1
      }
    }
    result.append((text(start..<scalars.count), ""))
    return result
  }

  /// `let name[: Type] = literal [// comment]` → a declaration, when the whole line is that
  /// and the literal is one of the supported kinds (of the annotated type, when there is one).
  static func parse(line: String, index: Int) -> Declaration? {
    var p = LiteralParser(line)
    p.skipSpaces()
    guard p.keyword("let") || p.keyword("var") else { return nil }
    p.skipSpaces()
    guard let name = p.identifier() else { return nil }
    p.skipSpaces()
    var annotation: String?
    if p.take(":") {
      p.skipSpaces()
      guard let type = p.typeName() else { return nil }
      annotation = type
      p.skipSpaces()
    }
    guard p.take("=") else { return nil }
    p.skipSpaces()
    let start = p.position
    guard let kind = p.literal() else { return nil }
    let literal = p.text(from: start)
    p.skipSpaces()
    guard p.atEnd || p.startsComment else { return nil }
    let type: String
    if let annotation {
      guard isSupported(annotation), kind.fits(annotation) else { return nil }
      type = annotation
    } else {
      guard let inferred = kind.inferredType else { return nil }
      type = inferred
    }
    return Declaration(name: name, type: type, literal: literal, line: index)
  }

  static func isSupported(_ type: String) -> Bool {
    if type.hasPrefix("[") && type.hasSuffix("]") { return scalarTypes.contains(String(type.dropFirst().dropLast())) }
    return scalarTypes.contains(type)
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
        if let (_, reason) = unsupported.first(where: { $0.name == name }) {
          throw OverrideError(
            description: "\"\(name)\" cannot be set with -p or -f: it is not a parameter, because \(reason); "
              + "the parameters cell declares: "
              + (declarations.isEmpty ? "nothing" : declarations.map(\.name).joined(separator: ", ")))
        }
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

  /// The parameters cell's source with each declaration reading its value at run time; every
  /// other line, and every line end, is kept byte for byte, so lines keep their numbers.
  public func rewrittenSource(_ source: String) -> String {
    var lines = Self.lines(source)
    for d in declarations where d.line < lines.count {
      let original = lines[d.line].text
      let indent = original.prefix { $0 == " " || $0 == "\t" }
      let keyword = original.trimmingCharacters(in: .whitespaces).hasPrefix("var") ? "var" : "let"
      lines[d.line].text =
        "\(indent)\(keyword) \(d.name): \(d.type) = RunSettings.parameter(\"\(d.name)\", default: \(d.literal))"
    }
    return lines.map { $0.text + $0.end }.joined()
  }
}

/// What a supported literal is.
indirect enum LiteralKind {
  case int, double, string, bool
  case array([LiteralKind])

  /// The type Swift gives the literal without an annotation (nil: none the runner supports).
  var inferredType: String? {
    switch self {
    case .int: return "Int"
    case .double: return "Double"
    case .string: return "String"
    case .bool: return "Bool"
    case .array(let items):
      let types = Set(items.map(\.inferredType))
      if types == ["Int"] || types == ["Double"] || types == ["Int", "Double"] {
        return types.contains("Double") ? "[Double]" : "[Int]"
      }
      guard types.count == 1, let t = types.first!, NotebookParameters.scalarTypes.contains(t) else { return nil }
      return "[\(t)]"
    }
  }

  /// Whether the literal can be a `type`.
  func fits(_ type: String) -> Bool {
    switch self {
    case .int: return ["Int", "Double", "Float"].contains(type)
    case .double: return ["Double", "Float"].contains(type)
    case .string: return type == "String"
    case .bool: return type == "Bool"
    case .array(let items):
      guard type.hasPrefix("[") && type.hasSuffix("]") else { return false }
      let element = String(type.dropFirst().dropLast())
      return items.allSatisfy { $0.fits(element) }
    }
  }
}

/// Reads one line of a parameters cell: keywords, names, types and supported literals.
struct LiteralParser {
  let s: [Unicode.Scalar]
  var position = 0

  init(_ line: String) { s = Array(line.unicodeScalars) }

  var atEnd: Bool { position >= s.count }
  var current: Unicode.Scalar? { position < s.count ? s[position] : nil }
  var startsComment: Bool { peek("//") }

  func peek(_ text: String) -> Bool {
    let t = Array(text.unicodeScalars)
    return position + t.count <= s.count && Array(s[position..<(position + t.count)]) == t
  }

  mutating func take(_ text: String) -> Bool {
    guard peek(text) else { return false }
    position += text.unicodeScalars.count
    return true
  }

  func text(from start: Int) -> String {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: s[start..<position])
    return String(view)
  }

  mutating func skipSpaces() { while let c = current, c == " " || c == "\t" { position += 1 } }

  static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
  static func isIdentifierPart(_ c: Unicode.Scalar) -> Bool {
    isIdentifierStart(c) || ("0"..."9").contains(c)
  }

  mutating func keyword(_ word: String) -> Bool {
    let start = position
    guard take(word) else { return false }
    if let c = current, Self.isIdentifierPart(c) {
      position = start
      return false
    }
    return true
  }

  mutating func identifier() -> String? {
    guard let c = current, Self.isIdentifierStart(c) else { return nil }
    let start = position
    while let c = current, Self.isIdentifierPart(c) { position += 1 }
    return text(from: start)
  }

  /// `T` or `[T]`, without spaces.
  mutating func typeName() -> String? {
    if take("[") {
      skipSpaces()
      guard let element = identifier() else { return nil }
      skipSpaces()
      return take("]") ? "[\(element)]" : nil
    }
    return identifier()
  }

  mutating func literal() -> LiteralKind? {
    guard let c = current else { return nil }
    if c == "\"" { return string() }
    if c == "[" { return array() }
    if keyword("true") || keyword("false") { return .bool }
    return number()
  }

  /// A one-line string literal whose escapes are simple ones (no interpolation).
  mutating func string() -> LiteralKind? {
    guard take("\""), !peek("\"\"") else { return nil }
    while let c = current {
      position += 1
      if c == "\"" { return .string }
      if c == "\\" {
        guard let e = current else { return nil }
        position += 1
        switch e {
        case "n", "t", "r", "0", "\\", "\"", "'": continue
        case "u":
          guard take("{") else { return nil }
          let start = position
          while let h = current, h.properties.isASCIIHexDigit { position += 1 }
          guard (1...8).contains(position - start), take("}") else { return nil }
        default: return nil
        }
      }
    }
    return nil
  }

  mutating func array() -> LiteralKind? {
    guard take("[") else { return nil }
    var items: [LiteralKind] = []
    skipSpaces()
    if take("]") { return .array(items) }
    while true {
      skipSpaces()
      guard let item = literal() else { return nil }
      items.append(item)
      skipSpaces()
      if take("]") { return .array(items) }
      guard take(",") else { return nil }
      skipSpaces()
      if take("]") { return .array(items) }
    }
  }

  /// Integer literals in any base (with `_` separators) and decimal floating-point literals.
  mutating func number() -> LiteralKind? {
    _ = take("-")
    func digits(_ isDigit: (Unicode.Scalar) -> Bool) -> Bool {
      guard let first = current, isDigit(first) else { return false }
      while let c = current, isDigit(c) || c == "_" { position += 1 }
      return true
    }
    let decimal: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
    var kind = LiteralKind.int
    if take("0x") {
      guard digits({ $0.properties.isASCIIHexDigit }) else { return nil }
    } else if take("0o") {
      guard digits({ ("0"..."7").contains($0) }) else { return nil }
    } else if take("0b") {
      guard digits({ $0 == "0" || $0 == "1" }) else { return nil }
    } else {
      guard digits(decimal) else { return nil }
      if peek("."), position + 1 < s.count, decimal(s[position + 1]) {
        position += 1
        _ = digits(decimal)
        kind = .double
      }
      if let e = current, e == "e" || e == "E" {
        position += 1
        if let sign = current, sign == "+" || sign == "-" { position += 1 }
        guard digits(decimal) else { return nil }
        kind = .double
      }
    }
    if let c = current, Self.isIdentifierPart(c) || c == "." { return nil }
    return kind
  }
}

/// Follows a cell's code line by line: the nesting of brackets, block comments (which nest)
/// and multi-line strings, so that a line is known to start and end at the top level, and the
/// names that `let` and `var` declare on it.
struct SwiftLineScanner {
  var depth = 0
  var commentDepth = 0
  /// The number of `#` of the open multi-line string, if one is open.
  var multilineHashes: Int?

  var isAtTopLevel: Bool { depth == 0 && commentDepth == 0 && multilineHashes == nil }

  /// Scans `line` and returns the names declared by `let` or `var` in its code, each with
  /// whether it is inside brackets.
  mutating func scan(_ line: String) -> [(name: String, nested: Bool)] {
    let s = Array(line.unicodeScalars)
    var found: [(String, Bool)] = []
    var i = 0
    func at(_ k: Int, _ text: String) -> Bool {
      let t = Array(text.unicodeScalars)
      return k + t.count <= s.count && Array(s[k..<(k + t.count)]) == t
    }
    func hashes(at k: Int, _ n: Int) -> Bool { k + n <= s.count && s[k..<(k + n)].allSatisfy { $0 == "#" } }
    while i < s.count {
      if commentDepth > 0 {
        if at(i, "*/") {
          commentDepth -= 1
          i += 2
        } else if at(i, "/*") {
          commentDepth += 1
          i += 2
        } else {
          i += 1
        }
        continue
      }
      if let h = multilineHashes {
        if s[i] == "\\" && hashes(at: i + 1, h) {
          i += 2 + h
        } else if at(i, "\"\"\"") && hashes(at: i + 3, h) {
          multilineHashes = nil
          i += 3 + h
        } else {
          i += 1
        }
        continue
      }
      let c = s[i]
      if at(i, "//") { break }
      if at(i, "/*") {
        commentDepth += 1
        i += 2
        continue
      }
      if c == "#" || c == "\"" {
        var h = 0
        while i + h < s.count && s[i + h] == "#" { h += 1 }
        let quote = i + h
        if at(quote, "\"\"\"") {
          multilineHashes = h
          i = quote + 3
        } else if quote < s.count && s[quote] == "\"" {
          i = Self.endOfString(s, from: quote + 1, hashes: h)
        } else {
          i = quote
        }
        continue
      }
      switch c {
      case "{", "(", "[":
        depth += 1
        i += 1
        continue
      case "}", ")", "]":
        depth = max(0, depth - 1)
        i += 1
        continue
      default: break
      }
      if LiteralParser.isIdentifierStart(c) {
        let start = i
        while i < s.count && LiteralParser.isIdentifierPart(s[i]) { i += 1 }
        let word = String(String.UnicodeScalarView(s[start..<i]))
        if word == "let" || word == "var" {
          var k = i
          while k < s.count && (s[k] == " " || s[k] == "\t") { k += 1 }
          let nameStart = k
          while k < s.count && LiteralParser.isIdentifierPart(s[k]) { k += 1 }
          if k > nameStart && LiteralParser.isIdentifierStart(s[nameStart]) {
            found.append((String(String.UnicodeScalarView(s[nameStart..<k])), depth > 0))
          }
        }
        continue
      }
      i += 1
    }
    return found
  }

  /// The position after the closing quote of a one-line string opened before `from` (the end
  /// of the line when it is not closed there). Interpolations are skipped with their brackets.
  static func endOfString(_ s: [Unicode.Scalar], from: Int, hashes: Int) -> Int {
    var k = from
    func closes(_ k: Int) -> Bool {
      s[k] == "\"" && (0..<hashes).allSatisfy { k + 1 + $0 < s.count && s[k + 1 + $0] == "#" }
    }
    while k < s.count {
      if s[k] == "\\" && (0..<hashes).allSatisfy({ k + 1 + $0 < s.count && s[k + 1 + $0] == "#" }) {
        k += 1 + hashes
        if k < s.count && s[k] == "(" {
          var level = 0
          while k < s.count {
            if s[k] == "(" { level += 1 }
            if s[k] == ")" {
              level -= 1
              if level == 0 { break }
            }
            k += 1
          }
        }
        k += 1
        continue
      }
      if closes(k) { return k + 1 + hashes }
      k += 1
    }
    return s.count
  }
}
