/// The delimiters of one cell's Swift text: whether every brace, bracket, parenthesis, string
/// literal and block comment the cell opens is closed in the cell.
///
/// Cells share one top-level scope in the generated program, so a cell that leaves a `{` or a
/// `/*` open swallows the cells after it, and the compiler reports the problem at the end of the
/// program or inside the runner's own lines. When a program does not compile, the runner asks
/// this scanner first and blames the cell that left something open, at the line where it was
/// opened. It understands comments (nested `/* */`), string literals (`"…"`, `"""…"""`, raw
/// `#"…"#` with any number of `#`, escapes and `\(…)` interpolation, nested) and extended regex
/// literals (`#/…/#`); it is used only to explain a failed compile, never to refuse a cell.
public enum CellSyntax {
  /// Something a cell opens and does not close (or closes without opening).
  public struct Problem: Equatable, Sendable, CustomStringConvertible {
    /// 1-based line and column (in UTF-8 bytes) inside the cell.
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
  }

  /// The first delimiter problem of `text`, or nil when everything it opens is closed.
  public static func problem(in text: String) -> Problem? {
    var scanner = Scanner(bytes: Array(text.utf8))
    return scanner.scan()
  }

  /// For each line of `text` (split at `\n`), whether it starts at the top level of the cell:
  /// outside every bracket, string literal and block comment. Nil when the cell has a problem.
  public static func topLevelLines(in text: String) -> [Bool]? {
    var scanner = Scanner(bytes: Array(text.utf8))
    guard scanner.scan() == nil else { return nil }
    return scanner.lineStarts
  }

  struct Scanner {
    let bytes: [UInt8]
    var i = 0
    var line = 1
    var lineStart = 0

    /// An open bracket and where it was opened.
    struct Open {
      var byte: UInt8
      var line: Int
      var column: Int
    }
    enum Context {
      /// Code; `base` is the bracket depth at which an interpolation ends (0 at top level).
      case code(base: Int)
      /// A string literal with `hashes` `#`s, opened at `open`.
      case string(hashes: Int, multiline: Bool, open: Open)
    }
    var brackets: [Open] = []
    var contexts: [Context] = [.code(base: 0)]
    var inComment = false
    /// Whether each line started at the top level (the first always does).
    var lineStarts: [Bool] = [true]

    init(bytes: [UInt8]) { self.bytes = bytes }

    var column: Int { i - lineStart + 1 }
    func at(_ k: Int) -> UInt8? { k < bytes.count ? bytes[k] : nil }

    mutating func advance() {
      if bytes[i] == 0x0A {
        line += 1
        lineStart = i + 1
        lineStarts.append(contexts.count == 1 && brackets.isEmpty && !inComment)
      }
      i += 1
    }

    /// Number of `#` starting at `k`.
    func hashes(from k: Int) -> Int {
      var n = 0
      while at(k + n) == 0x23 { n += 1 }
      return n
    }

    static func name(_ byte: UInt8) -> String { "`\(String(UnicodeScalar(byte)))`" }
    static func closer(of byte: UInt8) -> UInt8 {
      switch byte {
      case 0x28: return 0x29
      case 0x5B: return 0x5D
      default: return 0x7D
      }
    }

    mutating func scan() -> Problem? {
      while i < bytes.count {
        switch contexts[contexts.count - 1] {
        case .code(let base):
          if let problem = scanCode(base: base) { return problem }
        case .string(let hashes, let multiline, let open):
          if let problem = scanString(hashes: hashes, multiline: multiline, open: open) { return problem }
        }
      }
      for context in contexts.reversed() {
        if case .string(_, let multiline, let open) = context {
          return Problem(
            line: open.line, column: open.column,
            message: "the \(multiline ? "multi-line " : "")string literal opened here is never closed in this cell")
        }
      }
      if let open = brackets.first {
        return Problem(
          line: open.line, column: open.column,
          message: "\(Self.name(open.byte)) opened here is never closed in this cell "
            + "(each cell must close the braces, brackets and parentheses it opens)")
      }
      return nil
    }

    mutating func scanCode(base: Int) -> Problem? {
      let c = bytes[i]
      switch c {
      case 0x2F where at(i + 1) == 0x2F:  // line comment
        while i < bytes.count && bytes[i] != 0x0A { advance() }
      case 0x2F where at(i + 1) == 0x2A:  // block comment, nested
        let open = (line, column)
        var depth = 0
        inComment = true
        defer { inComment = false }
        while i < bytes.count {
          if bytes[i] == 0x2F && at(i + 1) == 0x2A {
            depth += 1
            advance()
          } else if bytes[i] == 0x2A && at(i + 1) == 0x2F {
            depth -= 1
            advance()
          }
          advance()
          if depth == 0 { return nil }
        }
        return Problem(
          line: open.0, column: open.1, message: "the `/*` comment opened here is never closed in this cell")
      case 0x23, 0x22:  // `#…"`, `"`, `#/…/#`
        let n = hashes(from: i)
        if at(i + n) == 0x22 {
          let open = Open(byte: 0x22, line: line, column: column)
          let multiline = at(i + n + 1) == 0x22 && at(i + n + 2) == 0x22
          for _ in 0..<(n + (multiline ? 3 : 1)) { advance() }
          contexts.append(.string(hashes: n, multiline: multiline, open: open))
        } else if n > 0 && at(i + n) == 0x2F {
          return skipRegex(hashes: n)
        } else {
          for _ in 0..<max(n, 1) { advance() }
        }
      case 0x28, 0x5B, 0x7B:
        brackets.append(Open(byte: c, line: line, column: column))
        advance()
      case 0x29, 0x5D, 0x7D:
        if brackets.count == base {
          if contexts.count > 1 && c == 0x29 {  // the `)` that ends an interpolation
            contexts.removeLast()
            advance()
            return nil
          }
          return Problem(
            line: line, column: column, message: "\(Self.name(c)) here closes nothing this cell opened")
        }
        let open = brackets.removeLast()
        if Self.closer(of: open.byte) != c {
          return Problem(
            line: line, column: column,
            message: "\(Self.name(c)) here does not match \(Self.name(open.byte)) opened on line \(open.line)")
        }
        advance()
      default:
        advance()
      }
      return nil
    }

    mutating func scanString(hashes n: Int, multiline: Bool, open: Open) -> Problem? {
      let c = bytes[i]
      if c == 0x5C && hashes(from: i + 1) == n {  // an escape with the literal's delimiter
        for _ in 0..<(1 + n) { advance() }
        if at(i) == 0x28 {
          advance()
          contexts.append(.code(base: brackets.count))
        } else if i < bytes.count {
          advance()
        }
        return nil
      }
      if c == 0x22 {
        let quotes = multiline ? 3 : 1
        if (0..<quotes).allSatisfy({ at(i + $0) == 0x22 }) && hashes(from: i + quotes) >= n {
          for _ in 0..<(quotes + n) { advance() }
          contexts.removeLast()
          return nil
        }
      }
      if c == 0x0A && !multiline {
        return Problem(
          line: open.line, column: open.column, message: "the string literal opened here is not closed on its line")
      }
      advance()
      return nil
    }

    mutating func skipRegex(hashes n: Int) -> Problem? {
      let open = (line, column)
      for _ in 0..<(n + 1) { advance() }
      while i < bytes.count {
        if bytes[i] == 0x2F && hashes(from: i + 1) >= n {
          for _ in 0..<(n + 1) { advance() }
          return nil
        }
        advance()
      }
      return Problem(
        line: open.0, column: open.1, message: "the regex literal opened here is never closed in this cell")
    }
  }
}
