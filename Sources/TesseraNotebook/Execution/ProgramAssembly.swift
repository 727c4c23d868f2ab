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

  /// Assembles code cells `0..<limit` (all when nil) of `notebook`; `fileName` labels diagnostics.
  public init(notebook: Notebook, fileName: String, parameters: NotebookParameters, limit: Int? = nil) {
    var text = "import Tessera\n_NotebookChannel.start()\n"
    var cells: [(index: Int, id: String)] = []
    var names: [String: String] = [:]
    var sources: [String: String] = [:]
    var ids: [String: String] = [:]
    for (index, cell) in notebook.cells.enumerated() where cell.type == "code" {
      if let limit, index >= limit { break }
      let key = Self.key(index)
      var code = cell.source
      if index == parameters.cellIndex { code = parameters.rewrittenSource(code) }
      let location = "\(fileName)#cell-\(key)"
      names[key] = location
      sources[key] = cell.source
      ids[key] = cell.id ?? "cell-\(index)"
      text += "_NotebookChannel.beginCell(\"\(key)\")\n"
      text += "#sourceLocation(file: \"\(Self.escape(location))\", line: 1)\n"
      text += code
      if !code.hasSuffix("\n") { text += "\n" }
      text += "#sourceLocation()\n"
      text += "_NotebookChannel.endCell(\"\(key)\")\n"
      cells.append((index, key))
    }
    self.cells = cells
    self.source = text
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
