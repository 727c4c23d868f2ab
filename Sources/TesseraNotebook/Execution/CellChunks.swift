/// A cell's code cut into runs of top-level lines that must stay in the program's top-level code
/// (declarations, `guard`, `defer`, compiler directives) and runs of plain statements, which the
/// program can run from a function of their own.
///
/// All cells share one top-level scope, so the generated `main.swift` holds every cell's code in
/// one `main` function, and the optimiser's work on one function grows faster than its size: a
/// notebook of 400 small cells took 80 s to compile, 1,000 cells many minutes. Moving each run
/// of statements into an `@inline(never)` function keeps `main` to the declarations and calls.
///
/// The cut is made on lines, from the first word of each top-level line (``CellSyntax`` says which
/// lines start at the top level); a line that continues an expression (starts with `.`, a closing
/// bracket, an operator, `else`, `catch`, …) stays with the line before. Statements are moved only
/// when every name they use that a cell declares with `let`, `var` or `guard` is declared before
/// them: a function could otherwise read a global before the line that sets it. The cut never
/// changes what a program means when it compiles; when a cut program does not compile (a case
/// this reading gets wrong), the runner compiles the plain program instead.
public enum CellChunks {
  /// Lines `lines` of the cell (0-based, end exclusive); `movable` when they are statements only.
  public struct Segment: Equatable, Sendable {
    public var lines: Range<Int>
    public var movable: Bool
    /// The statements use `await`: their function is `async`.
    public var usesAwait = false
  }

  /// A top-level item: its first line, its last line + 1, what kind it is.
  public struct Item: Equatable, Sendable {
    public var lines: Range<Int>
    public var isDeclaration: Bool
    /// Names a `let`, `var` or `guard` item declares (an over-approximation: every identifier
    /// before the `=` of its first line, or after `let`/`var` in a `guard`).
    public var declares: [String]
  }

  static let declarationWords: Set<String> = [
    "let", "var", "func", "struct", "class", "enum", "protocol", "extension", "typealias", "import", "actor",
    "precedencegroup", "operator", "infix", "prefix", "postfix", "macro", "associatedtype", "subscript", "init",
    "deinit", "guard", "defer", "private", "fileprivate", "internal", "public", "open", "final", "static", "lazy",
    "nonisolated", "weak", "unowned", "mutating", "nonmutating", "indirect", "dynamic", "optional", "required",
    "convenience", "override", "package", "consuming", "borrowing", "isolated", "distributed",
  ]
  static let continuationWords: Set<String> = ["else", "catch", "where", "in", "as", "is"]

  /// The items of `text`, or nil when its delimiters do not close (then nothing is moved).
  public static func items(_ text: String) -> [Item]? {
    guard let top = CellSyntax.topLevelLines(in: text) else { return nil }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    var items: [Item] = []
    var ifDepth = 0  // open `#if` blocks at the top level: kept whole
    for (i, raw) in lines.enumerated() {
      let line = raw.drop { $0 == " " || $0 == "\t" }
      let first = firstWord(line)
      let atTop = i < top.count && top[i]
      if atTop && line.hasPrefix("#") {
        if first == "#if" { ifDepth += 1 }
        let opensItem = ifDepth <= 1 && !(first == "#else" || first == "#elseif" || first == "#endif")
        if first == "#endif" { ifDepth = max(0, ifDepth - 1) }
        if opensItem || items.isEmpty {
          items.append(Item(lines: i..<(i + 1), isDeclaration: true, declares: []))
        } else {
          items[items.count - 1].lines = items[items.count - 1].lines.lowerBound..<(i + 1)
        }
        continue
      }
      let neutral = line.isEmpty || line.hasPrefix("//") || line.hasPrefix("/*")
      let continues = !atTop || ifDepth > 0 || neutral || isContinuation(line, first: first)
      if continues && !items.isEmpty {
        items[items.count - 1].lines = items[items.count - 1].lines.lowerBound..<(i + 1)
        continue
      }
      let word = firstWord(line.drop { $0 == "@" })
      let isDeclaration = line.hasPrefix("@") || declarationWords.contains(word)
      items.append(
        Item(lines: i..<(i + 1), isDeclaration: isDeclaration, declares: isDeclaration ? declared(line) : []))
    }
    return items
  }

  /// The segments of `text`: runs of statements (movable when `canMove` accepts their
  /// identifiers and the item's position) and runs of everything else.
  public static func segments(_ items: [Item], text: String, canMove: (Set<String>, Int) -> Bool) -> [Segment] {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    var segments: [Segment] = []
    for (position, item) in items.enumerated() {
      var movable = !item.isDeclaration
      var usesAwait = false
      if movable {
        let words = Set(item.lines.flatMap { identifiers(lines[$0]) })
        movable = canMove(words, position)
        usesAwait = words.contains("await")
      }
      if let last = segments.last, last.movable == movable, last.lines.upperBound == item.lines.lowerBound {
        segments[segments.count - 1].lines = last.lines.lowerBound..<item.lines.upperBound
        segments[segments.count - 1].usesAwait = last.usesAwait || usesAwait
      } else {
        segments.append(Segment(lines: item.lines, movable: movable, usesAwait: usesAwait))
      }
    }
    return segments
  }

  static func firstWord(_ line: Substring) -> String {
    var word = ""
    for c in line.unicodeScalars {
      if c == "#" && word.isEmpty || c == "_" || c.properties.isAlphabetic
        || (!word.isEmpty && c.properties.numericType != nil)
      {
        word.unicodeScalars.append(c)
      } else {
        break
      }
    }
    return word
  }

  /// Whether a top-level line continues the item before it rather than starting one.
  static func isContinuation(_ line: Substring, first: String) -> Bool {
    guard let c = line.unicodeScalars.first else { return true }
    if continuationWords.contains(first) { return true }
    return ".)]}+-*/%=&|^<>!?~:,".unicodeScalars.contains(c)
  }

  /// Identifier-like words of `line` (in code, strings and comments alike).
  static func identifiers(_ line: Substring) -> [String] {
    var words: [String] = []
    var word = String.UnicodeScalarView()
    for c in line.unicodeScalars {
      if c == "_" || c.properties.isAlphabetic || (!word.isEmpty && c.properties.numericType != nil) {
        word.append(c)
      } else if !word.isEmpty {
        words.append(String(word))
        word = String.UnicodeScalarView()
      }
    }
    if !word.isEmpty { words.append(String(word)) }
    return words
  }

  /// Names a declaration line declares as variables: for `let`/`var`, the words before its first
  /// `=`; for `guard`, the word after each `let`/`var`.
  public static func declared(_ line: Substring) -> [String] {
    let words = identifiers(line)
    if let guardIndex = words.firstIndex(of: "guard") {
      return words.indices.dropFirst(guardIndex).compactMap { k in
        k > 0 && (words[k - 1] == "let" || words[k - 1] == "var") ? words[k] : nil
      }
    }
    guard words.contains("let") || words.contains("var") else { return [] }
    let head = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? line
    return identifiers(head).filter { !declarationWords.contains($0) }
  }
}
