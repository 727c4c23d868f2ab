import Foundation

/// A table of results, shown as Markdown, static HTML and aligned plain text (GitHub and
/// JupyterLab render the first two; terminals and `text/plain` readers the third).
///
/// ```swift
/// display(Table(columns: ["model", "accuracy"], rows: [["attention", 0.99], ["gla", 0.74]]))
/// ```
public struct Table: CustomStringConvertible {
  public var columns: [String]
  public var rows: [[String]]

  /// Cells are formatted with `description`; floats with 4 significant digits.
  public init(columns: [String], rows: [[Any]]) {
    self.columns = columns
    self.rows = rows.map { $0.map(Table.format) }
  }

  static func format(_ value: Any) -> String {
    switch value {
    case let d as Double: return String(format: "%.4g", d)
    case let f as Float: return String(format: "%.4g", Double(f))
    default: return String(describing: value)
    }
  }

  /// GitHub-flavoured Markdown.
  public var markdown: String {
    func row(_ cells: [String]) -> String { "| " + cells.map { $0.replacingPipes }.joined(separator: " | ") + " |" }
    return ([row(columns), "|" + columns.map { _ in "---|" }.joined()] + rows.map(row)).joined(separator: "\n")
  }

  /// A static HTML table.
  public var html: String {
    var out =
      "<table>\n<thead><tr>" + columns.map { "<th>\($0.htmlEscaped)</th>" }.joined() + "</tr></thead>\n<tbody>\n"
    for r in rows { out += "<tr>" + r.map { "<td>\($0.htmlEscaped)</td>" }.joined() + "</tr>\n" }
    return out + "</tbody>\n</table>"
  }

  /// Columns padded to equal width.
  public var description: String {
    let widths = columns.indices.map { c in
      ([columns[c]] + rows.map { c < $0.count ? $0[c] : "" }).map(\.count).max() ?? 0
    }
    func line(_ cells: [String]) -> String {
      columns.indices.map { c in
        let text = c < cells.count ? cells[c] : ""
        return text + String(repeating: " ", count: widths[c] - text.count)
      }.joined(separator: "  ")
    }
    return ([line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
      .joined(separator: "\n")
  }

}

extension String {
  var htmlEscaped: String {
    replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }
  var replacingPipes: String { replacingOccurrences(of: "|", with: "\\|") }
}
