/// Turns the code cells of a notebook into one Swift program (`main.swift`).
///
/// All cells share one top-level scope, in order. Each cell sits under
/// `#sourceLocation(file: "<notebook>#cell-<index>", line: 1)`, so compiler errors and runtime
/// traps name the cell (by its position in the notebook) and the line inside it, and is
/// bracketed by calls that mark its start and end on the output streams.
///
/// Cell ids never reach the program text: the program, the compiler's diagnostics and the output
/// channel know a cell only by its key, the decimal index of the cell in the notebook, and
/// ``ids`` maps a key back to the cell's id for messages.
public struct ProgramAssembly: Sendable {
  /// `(cell index, cell key)` of each code cell in the program, in order.
  public let cells: [(index: Int, id: String)]
  /// The program text.
  public let source: String
  /// The `#sourceLocation` file name of each cell key.
  public let locationNames: [String: String]
  /// Each cell's source as written in the notebook, by key (for error excerpts).
  public let sources: [String: String]
  /// The notebook's id of each cell key.
  public let ids: [String: String]
  /// The file name that labels diagnostics.
  public let fileName: String

  /// The key of the cell at `index` in the notebook: what the program and its output use.
  public static func key(_ index: Int) -> String { String(index) }

  /// The same program with each cell's runs of plain statements moved into functions of their
  /// own (see ``CellChunks``), which compiles in time close to linear in the number of cells; nil
  /// when nothing could be moved. Line locations are those of ``source``.
  public let chunkedSource: String?

  /// Assembles code cells `0..<limit` (all when nil) of `notebook`; `fileName` labels diagnostics.
  public init(notebook: Notebook, fileName: String, parameters: NotebookParameters, limit: Int? = nil) {
    var text = "import Tessera\n_NotebookChannel.start()\n"
    var chunked = "_NotebookChannel.start()\n"  // its statement functions and the import go before it
    var functions = ""  // the cut program's statement functions, placed before its top-level code
    var functionOpen = false  // the last function is not closed yet: it ended its cell
    func closeFunction() {
      if functionOpen { functions += "}\n" }
      functionOpen = false
    }
    /// Marks a cell's start: at the end of the function that ended the cell before, if open.
    func startCell(_ begin: String) {
      if functionOpen {
        functions += begin
        closeFunction()
      } else {
        chunked += begin
      }
    }
    var movedAny = false
    var cells: [(index: Int, id: String)] = []
    var names: [String: String] = [:]
    var sources: [String: String] = [:]
    var ids: [String: String] = [:]
    var codes: [(index: Int, key: String, code: String, items: [CellChunks.Item]?)] = []
    for (index, cell) in notebook.cells.enumerated() where cell.type == "code" {
      if let limit, index >= limit { break }
      var code = cell.source
      if index == parameters.cellIndex { code = parameters.rewrittenSource(code) }
      codes.append((index, Self.key(index), code, CellChunks.items(code)))
      sources[Self.key(index)] = cell.source
      ids[Self.key(index)] = cell.id ?? "cell-\(index)"
    }
    // Where each variable name is first declared, counting items across cells.
    var firstDeclared: [String: Int] = [:]
    var position = 0
    for code in codes {
      for item in code.items ?? [] {
        for name in item.declares where firstDeclared[name] == nil { firstDeclared[name] = position }
        position += 1
      }
    }
    position = 0
    for code in codes {
      let key = code.key
      let location = "\(fileName)#cell-\(key)"
      let escaped = Self.escape(location)
      names[key] = location
      var plain = code.code
      if !plain.hasSuffix("\n") { plain += "\n" }
      let begin = "_NotebookChannel.beginCell(\(code.index))\n"
      let end = "_NotebookChannel.endCell(\(code.index))\n"
      text += begin + "#sourceLocation(file: \"\(escaped)\", line: 1)\n" + plain + "#sourceLocation()\n" + end
      if let items = code.items {
        let start = position
        let segments = CellChunks.segments(items, text: code.code) { words, index in
          words.allSatisfy { firstDeclared[$0].map { $0 < start + index } ?? true }
        }
        position += items.count
        let lines = code.code.split(separator: "\n", omittingEmptySubsequences: false)
        if segments.first?.movable != true { startCell(begin) }
        for (n, segment) in segments.enumerated() {
          let body = lines[segment.lines].joined(separator: "\n") + "\n"
          let located = "#sourceLocation(file: \"\(escaped)\", line: \(segment.lines.lowerBound + 1))\n"
          if segment.movable {
            // Declared before all top-level code, where looking up names is cheapest. A cell that
            // starts with statements marks its start inside the function; one that ends with
            // statements marks its end there, and the next cell's start when that cell starts
            // with a declaration (each top-level statement makes later lookups slower).
            movedAny = true
            let function = "__cell_\(key)_\(n)"
            closeFunction()
            functions +=
              "@inline(never) func \(function)() \(segment.usesAwait ? "async " : "")throws {\n"
              + (n == 0 ? begin : "") + located + body + "#sourceLocation()\n"
            if n == segments.count - 1 {
              functions += end
              functionOpen = true
            } else {
              functions += "}\n"
            }
            chunked += "try \(segment.usesAwait ? "await " : "")\(function)()\n"
          } else {
            chunked += located + body + "#sourceLocation()\n"
          }
        }
        if segments.last?.movable != true { chunked += end }
      } else {
        startCell(begin)
        chunked += "#sourceLocation(file: \"\(escaped)\", line: 1)\n" + plain + "#sourceLocation()\n" + end
      }
      cells.append((code.index, key))
    }
    self.cells = cells
    self.source = text
    closeFunction()
    self.chunkedSource = movedAny ? "import Tessera\n" + functions + chunked : nil
    self.locationNames = names
    self.sources = sources
    self.ids = ids
    self.fileName = fileName
  }

  /// The notebook id of the cell with `key` (the key itself when unknown).
  public func id(of key: String) -> String { ids[key] ?? key }

  /// `line` with every cell location (`<notebook>#cell-<index>:`) written with the cell's id.
  public func readable(_ line: String) -> String {
    guard line.contains("#cell-") else { return line }
    var line = line
    for (key, location) in locationNames {
      line = line.replacingOccurrences(of: location + ":", with: "\(fileName)#cell-\(id(of: key)):")
    }
    return line
  }

  static func escape(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
      switch c {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      default: out.unicodeScalars.append(c)
      }
    }
    return out
  }
}
