import ArgumentParser
import Foundation
import TesseraNotebook
import TesseraPlot

/// `tessera collect runs/<sweep>`: every task's recorded metrics (`record(_:_:)` in the notebook,
/// `metadata.tessera.metrics` of its executed notebook) in one table, mean ± std over seeds, and
/// a figure of each metric against one parameter.
struct CollectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "collect",
    abstract: "Gather a sweep's recorded metrics into one table (Markdown + JSON) and a figure.",
    discussion: """
      Reads FOLDER/*/task.json and the executed notebook.ipynb beside it. Rows are the points (tasks that
      differ only in their seed are one row): each metric as mean ± sample std over the seeds that finished
      ok, and the count. Writes FOLDER/collected.md, collected.json, collected.svg and collected.png (each
      metric against --by, one line per combination of the other parameters, a band of ± std).
      """
  )

  @Argument(help: "The sweep's folder (runs/<sweep>).")
  var folder: String

  @Option(help: "The parameter on the figure's x axis (default: the first of the grid).")
  var by: String?

  struct Row {
    var point: [(String, JSONValue)]
    var values: [String: [Double]] = [:]
    var seeds = 0
    var notOK = 0
  }

  func run() throws {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    let tasks = entries.sorted().compactMap { try? SweepTask.load(folder + "/" + $0).task }
    guard !tasks.isEmpty else { throw ValidationError("\(folder): no sweep tasks (folders with task.json)") }
    var rows: [Row] = []
    var rowOfPoint: [String: Int] = [:]  // a point's values as compact JSON → its row
    var metricNames: [String] = []
    for task in tasks {
      let key = JSONText.writeCompact(.object(task.point))
      var index = rowOfPoint[key]
      if index == nil {
        rows.append(Row(point: task.point))
        index = rows.count - 1
        rowOfPoint[key] = index
      }
      guard task.readStatus()?.state == "ok", let notebook = try? Notebook.read(task.notebookPath),
        let metrics = notebook.metadata["tessera"]?["metrics"]?.objectValue
      else {
        rows[index!].notOK += 1
        continue
      }
      rows[index!].seeds += 1
      for (name, value) in metrics {
        if !metricNames.contains(name) { metricNames.append(name) }
        if let number = value.doubleValue { rows[index!].values[name, default: []].append(number) }
      }
    }
    // Rows in the order of their values (numbers as numbers), parameter by parameter.
    rows.sort { a, b in
      for ((_, x), (_, y)) in zip(a.point, b.point) where x != y {
        if let u = x.doubleValue, let v = y.doubleValue { return u < v }
        return JSONText.writeCompact(x) < JSONText.writeCompact(y)
      }
      return false
    }
    let parameters = rows.first?.point.map(\.0) ?? []
    let stats = rows.map { row in metricNames.map { Self.meanStd(row.values[$0] ?? []) } }
    // Markdown and JSON tables.
    var markdown = "| " + (parameters + ["seeds"] + metricNames).joined(separator: " | ") + " |\n"
    markdown += "|" + String(repeating: "---|", count: parameters.count + 1 + metricNames.count) + "\n"
    var json: [JSONValue] = []
    for (row, stat) in zip(rows, stats) {
      let values = row.point.map { $0.1.stringValue ?? JSONText.writeCompact($0.1) }
      let seedText = row.notOK > 0 ? "\(row.seeds) (+\(row.notOK) not ok)" : "\(row.seeds)"
      let cells = stat.map { s in s.map { String(format: "%.4g ± %.2g", $0.mean, $0.std) } ?? "–" }
      markdown += "| " + (values + [seedText] + cells).joined(separator: " | ") + " |\n"
      json.append(
        .object(
          row.point + [("seeds", .integer(Int64(row.seeds))), ("not_ok", .integer(Int64(row.notOK)))]
            + zip(metricNames, stat).map { name, s in
              (
                name,
                s.map { .object([("mean", .real($0.mean)), ("std", .real($0.std)), ("n", .integer(Int64($0.n)))]) }
                  ?? .null
              )
            }))
    }
    try markdown.write(toFile: folder + "/collected.md", atomically: true, encoding: .utf8)
    try Data(JSONText.writeBytes(.array(json))).write(to: URL(fileURLWithPath: folder + "/collected.json"))
    print(markdown, terminator: "")
    // The figure: each metric against one parameter, a line per combination of the others.
    guard !metricNames.isEmpty, let axis = by ?? parameters.first else {
      FileHandle.standardError.write(Data("no metrics recorded: no figure (notebooks call record(name, value))\n".utf8))
      return
    }
    guard parameters.contains(axis) else {
      throw ValidationError("--by \(axis): the sweep's parameters are \(parameters)")
    }
    // Parameters with one value in the whole sweep do not tell lines apart.
    let varying = Set(
      parameters.filter { name in
        Set(rows.map { row in JSONText.writeCompact(row.point.first { $0.0 == name }?.1 ?? .null) }).count > 1
      })
    let figure = Figure(rows: 1, columns: metricNames.count, title: "\((folder as NSString).lastPathComponent)")
    let xs = rows.map { row in row.point.first { $0.0 == axis }!.1 }
    let numeric = xs.allSatisfy { $0.doubleValue != nil }
    let categories = Array(Set(xs.map { JSONText.writeCompact($0) })).sorted()
    for (m, name) in metricNames.enumerated() {
      let panel = figure[0, m]
      panel.title = name
      panel.xLabel = axis
      var groups: [String: [(x: Double, mean: Double, std: Double)]] = [:]
      var order: [String] = []
      for (r, row) in rows.enumerated() {
        guard let s = stats[r][m] else { continue }
        let others = row.point.filter { $0.0 != axis && varying.contains($0.0) }.map {
          "\($0.0)=\($0.1.stringValue ?? JSONText.writeCompact($0.1))"
        }
        let label = others.isEmpty ? name : others.joined(separator: ", ")
        if groups[label] == nil { order.append(label) }
        let x = numeric ? xs[r].doubleValue! : Double(categories.firstIndex(of: JSONText.writeCompact(xs[r]))!)
        groups[label, default: []].append((x, s.mean, s.std))
      }
      for (i, label) in order.enumerated() {
        let points = groups[label]!.sorted { $0.x < $1.x }
        panel.line(
          x: points.map(\.x), y: points.map(\.mean), label: order.count > 1 ? label : nil, color: .series(i),
          band: (points.map { $0.mean - $0.std }, points.map { $0.mean + $0.std }))
        panel.scatter(x: points.map(\.x), y: points.map(\.mean), color: .series(i))
      }
    }
    let written = try figure.save(folder + "/collected")
    FileHandle.standardError.write(
      Data(
        "wrote \(folder)/collected.md, collected.json, \(written.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))\n"
          .utf8))
  }

  static func meanStd(_ values: [Double]) -> (mean: Double, std: Double, n: Int)? {
    guard !values.isEmpty else { return nil }
    let mean = values.reduce(0, +) / Double(values.count)
    let variance =
      values.count > 1 ? values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1) : 0
    return (mean, variance.squareRoot(), values.count)
  }
}
