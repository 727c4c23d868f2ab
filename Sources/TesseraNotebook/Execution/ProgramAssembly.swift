/// Turns the code cells of a notebook into one Swift program (`main.swift`).
///
/// All cells share one top-level scope, in order. Each cell sits under
/// `#sourceLocation(file: "<notebook>#cell-<id>", line: 1)`, so compiler errors and runtime traps
/// name the cell and the line inside it, and is bracketed by calls that mark its start and end
/// on the output streams.
public struct ProgramAssembly: Sendable {
  /// `(cell index, cell id)` of each code cell in the program, in order.
  public let cells: [(index: Int, id: String)]
  /// The program text.
  public let source: String
  /// The `#sourceLocation` file name of each cell id.
  public let locationNames: [String: String]
  /// Each cell's source as written in the notebook, by id (for error excerpts).
  public let sources: [String: String]

  /// Assembles code cells `0..<limit` (all when nil) of `notebook`; `fileName` labels diagnostics.
  public init(notebook: Notebook, fileName: String, parameters: NotebookParameters, limit: Int? = nil) {
    var text = "import Tessera\n_NotebookChannel.start()\n"
    var cells: [(index: Int, id: String)] = []
    var names: [String: String] = [:]
    var sources: [String: String] = [:]
    for (index, cell) in notebook.cells.enumerated() where cell.type == "code" {
      if let limit, index >= limit { break }
      let id = cell.id ?? "cell-\(index)"
      var code = cell.source
      if index == parameters.cellIndex { code = parameters.rewrittenSource(code) }
      let location = "\(fileName)#cell-\(id)"
      names[id] = location
      sources[id] = cell.source
      text += "_NotebookChannel.beginCell(\"\(id)\")\n"
      text += "#sourceLocation(file: \"\(Self.escape(location))\", line: 1)\n"
      text += code
      if !code.hasSuffix("\n") { text += "\n" }
      text += "#sourceLocation()\n"
      text += "_NotebookChannel.endCell(\"\(id)\")\n"
      cells.append((index, id))
    }
    self.cells = cells
    self.source = text
    self.locationNames = names
    self.sources = sources
  }

  static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
  }
}
