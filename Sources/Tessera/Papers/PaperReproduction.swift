import Foundation

/// Our side of a paper's table: a notebook records one measurement per row of
/// `papers/<slug>/reference.json`, and this renders "paper vs ours vs verdict" into the notebook
/// and into `papers/<slug>/result.md` (with `result.json` for `tessera reproduce`).
///
/// ```swift
/// let paper = PaperReproduction("flash-memory")
/// paper.record("tiled-slope", slope, as: String(format: "slope %.2f", slope))
/// paper.record("scales-past-naive", tiledRan16k, as: "T 16384 in 97 MiB")
/// display(paper)      // the table
/// try paper.write()   // result.md + result.json beside reference.json
/// ```
public final class PaperReproduction {
  public let reference: PaperReference
  /// The folder `papers/<slug>`.
  public let folder: String
  private var measured: [String: Measurement] = [:]

  /// Our measurement for one row.
  public struct Measurement: Codable, Sendable {
    /// The number the criterion is checked on (1 or 0 for a claim that holds or not).
    public var value: Double
    /// How the table shows it.
    public var text: String
  }

  /// The outcome of one row.
  public enum Verdict: String, Codable, Sendable {
    case reproduced = "reproduced"
    case notReproduced = "not reproduced"
    case notMeasured = "not measured"

    var mark: String {
      switch self {
      case .reproduced: "✅ reproduced"
      case .notReproduced: "❌ not reproduced"
      case .notMeasured: "— not measured"
      }
    }
  }

  /// Loads `papers/<slug>/reference.json`, looked for under `TESSERA_PAPERS_DIR` when set, else in
  /// the current folder and its parents. A missing or malformed file stops the cell with its reason.
  public convenience init(_ slug: String) {
    do {
      try self.init(slug: slug, papersDirectory: Self.papersDirectory(containing: slug))
    } catch {
      fatalError("\(error)")
    }
  }

  public init(slug: String, papersDirectory: String) throws {
    folder = (papersDirectory as NSString).appendingPathComponent(slug)
    reference = try PaperReference.load((folder as NSString).appendingPathComponent("reference.json"))
    guard reference.slug == slug else {
      throw PaperError("\(folder)/reference.json: its slug is \"\(reference.slug)\", not \"\(slug)\"")
    }
  }

  static func papersDirectory(containing slug: String) throws -> String {
    if let dir = ProcessInfo.processInfo.environment["TESSERA_PAPERS_DIR"] { return dir }
    var folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    for _ in 0..<6 {
      let candidate = folder.appendingPathComponent("papers")
      if FileManager.default.fileExists(atPath: candidate.appendingPathComponent(slug + "/reference.json").path) {
        return candidate.path
      }
      folder.deleteLastPathComponent()
    }
    throw PaperError(
      "papers/\(slug)/reference.json: not found in \(FileManager.default.currentDirectoryPath) or its parents"
        + " (set TESSERA_PAPERS_DIR)")
  }

  /// Records our number for row `id`, shown as `text` (default: the number).
  public func record(_ id: String, _ value: Double, as text: String? = nil) {
    let row = self.row(id)
    if row.criterion == .holds {
      fatalError("\(reference.slug): row \"\(id)\" is a claim; record it as true or false")
    }
    measured[id] = Measurement(value: value, text: text ?? formatNumber(value) + (row.unit.map { " " + $0 } ?? ""))
  }

  /// Records whether the claim of row `id` holds in our run, with what shows it.
  public func record(_ id: String, _ holds: Bool, as text: String) {
    let row = self.row(id)
    if row.criterion != .holds {
      fatalError(
        "\(reference.slug): row \"\(id)\" is checked on a number (\(row.criterion.summary)); record the number")
    }
    measured[id] = Measurement(value: holds ? 1 : 0, text: text)
  }

  /// The row `id` of reference.json; an unknown id stops the cell, naming the rows there are.
  func row(_ id: String) -> PaperReference.Row {
    guard let row = reference.rows.first(where: { $0.id == id }) else {
      fatalError(
        "\(reference.slug): no row \"\(id)\" in reference.json (rows: \(reference.rows.map(\.id).joined(separator: ", ")))"
      )
    }
    return row
  }

  /// Our measurement for row `id`, if recorded.
  public func measurement(_ id: String) -> Measurement? { measured[id] }

  /// The verdict of row `id`.
  public func verdict(_ id: String) -> Verdict {
    guard let row = reference.rows.first(where: { $0.id == id }), let ours = measured[id] else { return .notMeasured }
    if let other = row.criterion.otherRow, measured[other] == nil { return .notMeasured }
    return row.criterion.isMet(by: ours.value, other: row.criterion.otherRow.flatMap { measured[$0]?.value })
      ? .reproduced : .notReproduced
  }

  /// Every row measured and reproduced.
  public var allReproduced: Bool { reference.rows.allSatisfy { verdict($0.id) == .reproduced } }

  /// Paper vs ours vs verdict, one line per row.
  public var table: Table {
    Table(
      columns: ["row", "claim", "paper", "ours", "reproduced if", "verdict"],
      rows: reference.rows.map { row in
        [
          row.id, row.claim, "\(row.paper) (\(row.source))", measured[row.id]?.text ?? "—",
          criterionText(row), verdict(row.id).mark,
        ]
      })
  }

  func criterionText(_ row: PaperReference.Row) -> String {
    let unit = row.unit.map { " " + $0 } ?? ""
    switch row.criterion {
    case .holds, .greaterThan, .lessThan: return row.criterion.summary
    default: return row.criterion.summary + unit
    }
  }

  /// `result.md`: the title, citation, both settings, and the table.
  public var markdown: String {
    let r = reference
    let passed = r.rows.filter { verdict($0.id) == .reproduced }.count
    return """
      # \(r.title)

      \(r.citation)

      - **Paper's setting:** \(r.paperSetting)
      - **Our setting:** \(r.ourSetting)
      - **Why it still tests the claims:** \(r.why)

      \(table.markdown)

      **\(passed) of \(r.rows.count) rows reproduced.** Generated by `tessera reproduce \(r.slug)` from \
      `notebooks/\(r.slug).ipynb` (\(Provenance.current.summary)).

      """
  }

  /// Writes `result.md` and `result.json` (rows, measurements, verdicts) beside `reference.json`.
  public func write() throws {
    struct Row: Codable {
      var id: String
      var ours: Measurement?
      var verdict: Verdict
    }
    struct Result: Codable {
      var slug: String
      var allReproduced: Bool
      var rows: [Row]
      var provenance: Provenance
    }
    let result = Result(
      slug: reference.slug, allReproduced: allReproduced,
      rows: reference.rows.map { Row(id: $0.id, ours: measured[$0.id], verdict: verdict($0.id)) },
      provenance: Provenance.current)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try atomicWrite(Data(markdown.utf8), to: folder + "/result.md")
    try atomicWrite(encoder.encode(result) + Data("\n".utf8), to: folder + "/result.json")
  }

  func atomicWrite(_ data: Data, to path: String) throws {
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
  }
}

extension PaperReproduction: Displayable {
  public var mimeBundle: MimeBundle {
    let t = table
    let passed = reference.rows.filter { verdict($0.id) == .reproduced }.count
    let caption = "\(reference.title) — \(reference.citation). \(passed) of \(reference.rows.count) rows reproduced."
    let escaped = caption.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
    return MimeBundle([
      ("text/markdown", "**\(caption)**\n\n" + t.markdown),
      ("text/html", "<p><b>\(escaped)</b></p>\n" + t.html),
      ("text/plain", caption + "\n" + t.description),
    ])
  }
}

/// What a result was computed with: the GEMM mode and instruction set (with `portable`, the bits do
/// not depend on the instruction set), the CPU, the threads and the seed.
public struct Provenance: Codable, Sendable {
  public var gemm: String
  public var isa: String
  public var cpu: String
  public var threads: Int
  public var seed: UInt64

  public static var current: Provenance {
    let kernel = GEMMKernel.current
    return Provenance(
      gemm: kernel.mode.rawValue, isa: kernel.instructionSet, cpu: BLASCore.cpuName, threads: Runtime.threadCount,
      seed: RunSettings.seed)
  }

  public var summary: String { "GEMM \(gemm) on \(isa), \(threads) threads, seed \(seed)" }
}
