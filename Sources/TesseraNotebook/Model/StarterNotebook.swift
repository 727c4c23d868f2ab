/// The notebook `tessera new` writes: a Markdown introduction, a parameters cell, and a cell
/// that builds a tensor and shows it (no training).
public enum StarterNotebook {
  public static func make(title: String, path: String) -> Notebook {
    let cells = [
      Cell.make(
        type: "markdown", id: "intro",
        source: """
          # \(title)

          A Tessera notebook: code cells are Swift and share one scope. Run it headless with
          `tessera run \(path)`; override parameters with `-p rows 8`.
          """),
      Cell.make(type: "code", id: "parameters", source: "let rows = 4\nlet columns = 3", tags: ["parameters"]),
      Cell.make(
        type: "code", id: "first-tensor",
        source: """
          import Tessera

          var rng = RunSettings.random("demo")
          let x = rng.normal([rows, columns])
          print("a \\(rows)×\\(columns) tensor drawn with seed \\(RunSettings.seed):")
          display(x)
          display(Table(columns: ["statistic", "value"], rows: [["mean", x.mean().scalar], ["max", x.max().scalar]]))
          """),
    ]
    let document: JSONValue = .object([
      ("cells", .array(cells.map(\.json))),
      (
        "metadata",
        .object([
          (
            "kernelspec",
            .object([("display_name", .string("Swift")), ("language", .string("swift")), ("name", .string("swift"))])
          ),
          ("language_info", .object([("file_extension", .string(".swift")), ("name", .string("swift"))])),
        ])
      ),
      ("nbformat", .integer(4)),
      ("nbformat_minor", .integer(5)),
    ])
    return Notebook(document: document, path: path)
  }
}
