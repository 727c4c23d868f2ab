import Foundation

/// A paper's table as `papers/<slug>/reference.json` states it (DESIGN.md §4): the citation, the
/// paper's setting and ours, and one row per number or claim, each with what counts as reproduced.
///
/// ```json
/// { "slug": "flash-memory", "title": "…", "citation": "…",
///   "paperSetting": "…", "ourSetting": "…", "why": "…",
///   "rows": [ { "id": "exact", "claim": "…", "source": "§3.1", "paper": "exact",
///               "unit": "max |Δ|", "criterion": { "atMost": 1e-5 } } ] }
/// ```
public struct PaperReference: Codable, Sendable {
  public var slug: String
  public var title: String
  public var citation: String
  /// The setting the paper measured in (hardware, sizes, budget).
  public var paperSetting: String
  /// The scaled-down CPU setting the notebook uses.
  public var ourSetting: String
  /// Why the scaled-down setting still tests the claims.
  public var why: String
  public var rows: [Row]

  /// One number or claim of the paper.
  public struct Row: Codable, Sendable {
    public var id: String
    /// The claim in words.
    public var claim: String
    /// Where in the paper (section, table, figure).
    public var source: String
    /// The paper's number or claim, as the paper states it.
    public var paper: String
    /// The unit of our measurement, when it has one.
    public var unit: String?
    public var criterion: Criterion
  }

  /// Reads and checks `path`: every row id is unique, and every row a criterion compares against exists.
  public static func load(_ path: String) throws -> PaperReference {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw PaperError("\(path): cannot be read")
    }
    let reference: PaperReference
    do {
      reference = try JSONDecoder().decode(PaperReference.self, from: data)
    } catch let error as DecodingError {
      throw PaperError("\(path): not a paper reference: \(PaperError.describe(error))")
    }
    var seen = Set<String>()
    for row in reference.rows {
      guard seen.insert(row.id).inserted else { throw PaperError("\(path): row \"\(row.id)\" appears twice") }
    }
    for row in reference.rows {
      if let other = row.criterion.otherRow, !seen.contains(other) {
        throw PaperError("\(path): row \"\(row.id)\" compares with \"\(other)\", which is not a row")
      }
    }
    return reference
  }
}

/// What counts as reproduced for one row: a bound or a tolerance on our number, an ordering
/// between two of our numbers, or a claim that holds (our value is `true`).
public enum Criterion: Codable, Sendable, Equatable {
  case atLeast(Double)
  case atMost(Double)
  case between(Double, Double)
  /// `|ours − value| ≤ tolerance` (× |value| when `relative`).
  case near(Double, tolerance: Double, relative: Bool)
  /// Ours exceeds our number for another row (by at least `margin`).
  case greaterThan(row: String, margin: Double)
  case lessThan(row: String, margin: Double)
  /// Our value for this row is a claim checked in the notebook (`true` reproduces it).
  case holds

  enum Key: String, CodingKey {
    case atLeast, atMost, between, near, tolerance, relative, greaterThan, lessThan, margin, holds
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: Key.self)
    let margin = try c.decodeIfPresent(Double.self, forKey: .margin) ?? 0
    if let x = try c.decodeIfPresent(Double.self, forKey: .atLeast) {
      self = .atLeast(x)
    } else if let x = try c.decodeIfPresent(Double.self, forKey: .atMost) {
      self = .atMost(x)
    } else if let x = try c.decodeIfPresent([Double].self, forKey: .between) {
      guard x.count == 2, x[0] <= x[1] else {
        throw DecodingError.dataCorruptedError(forKey: .between, in: c, debugDescription: "expected [low, high]")
      }
      self = .between(x[0], x[1])
    } else if let x = try c.decodeIfPresent(Double.self, forKey: .near) {
      guard let tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) else {
        throw DecodingError.keyNotFound(
          Key.tolerance, .init(codingPath: c.codingPath, debugDescription: "\"near\" needs a \"tolerance\""))
      }
      self = .near(x, tolerance: tolerance, relative: try c.decodeIfPresent(Bool.self, forKey: .relative) ?? false)
    } else if let row = try c.decodeIfPresent(String.self, forKey: .greaterThan) {
      self = .greaterThan(row: row, margin: margin)
    } else if let row = try c.decodeIfPresent(String.self, forKey: .lessThan) {
      self = .lessThan(row: row, margin: margin)
    } else if try c.decodeIfPresent(Bool.self, forKey: .holds) == true {
      self = .holds
    } else {
      throw DecodingError.dataCorrupted(
        .init(
          codingPath: c.codingPath,
          debugDescription:
            "a criterion is one of atLeast, atMost, between, near (+tolerance), greaterThan, lessThan, holds"
        ))
    }
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: Key.self)
    switch self {
    case .atLeast(let x): try c.encode(x, forKey: .atLeast)
    case .atMost(let x): try c.encode(x, forKey: .atMost)
    case .between(let a, let b): try c.encode([a, b], forKey: .between)
    case .near(let x, let tolerance, let relative):
      try c.encode(x, forKey: .near)
      try c.encode(tolerance, forKey: .tolerance)
      if relative { try c.encode(true, forKey: .relative) }
    case .greaterThan(let row, let margin):
      try c.encode(row, forKey: .greaterThan)
      if margin != 0 { try c.encode(margin, forKey: .margin) }
    case .lessThan(let row, let margin):
      try c.encode(row, forKey: .lessThan)
      if margin != 0 { try c.encode(margin, forKey: .margin) }
    case .holds: try c.encode(true, forKey: .holds)
    }
  }

  /// The other row an ordering compares with.
  public var otherRow: String? {
    switch self {
    case .greaterThan(let row, _), .lessThan(let row, _): row
    default: nil
    }
  }

  /// Whether `ours` meets the criterion; `other` is our number for ``otherRow``.
  public func isMet(by ours: Double, other: Double? = nil) -> Bool {
    guard ours.isFinite || self == .holds else { return false }
    switch self {
    case .atLeast(let x): return ours >= x
    case .atMost(let x): return ours <= x
    case .between(let a, let b): return ours >= a && ours <= b
    case .near(let x, let tolerance, let relative): return abs(ours - x) <= (relative ? tolerance * abs(x) : tolerance)
    case .greaterThan(_, let margin): return other.map { $0.isFinite && ours >= $0 + margin } ?? false
    case .lessThan(_, let margin): return other.map { $0.isFinite && ours <= $0 - margin } ?? false
    case .holds: return ours == 1
    }
  }

  /// The criterion in words, e.g. `≤ 1e-05` or `> ours for "naive-slope"`.
  public var summary: String {
    func n(_ x: Double) -> String { formatNumber(x) }
    switch self {
    case .atLeast(let x): return "≥ \(n(x))"
    case .atMost(let x): return "≤ \(n(x))"
    case .between(let a, let b): return "in [\(n(a)), \(n(b))]"
    case .near(let x, let tolerance, let relative):
      return relative ? "\(n(x)) ± \(n(100 * tolerance))%" : "\(n(x)) ± \(n(tolerance))"
    case .greaterThan(let row, let margin): return "> \(row)" + (margin != 0 ? " + \(n(margin))" : "")
    case .lessThan(let row, let margin): return "< \(row)" + (margin != 0 ? " − \(n(margin))" : "")
    case .holds: return "holds"
    }
  }
}

/// A problem with a paper's files or a reproduction, naming the file.
public struct PaperError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }

  static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
      return p.isEmpty ? "" : " at \(p)"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing \"\(key.stringValue)\"\(path(context))"
    case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
    case .valueNotFound(let type, let context): return "expected \(type)\(path(context))"
    case .dataCorrupted(let context): return context.debugDescription + path(context)
    @unknown default: return "\(error)"
    }
  }
}

/// A number in a table: integers plainly, others with four significant digits or in e-notation.
func formatNumber(_ x: Double) -> String {
  if !x.isFinite { return "\(x)" }
  if x == x.rounded(), abs(x) < 1e7 { return String(Int(x)) }
  let a = abs(x)
  return a >= 1e-3 && a < 1e5 ? String(format: "%.4g", x) : String(format: "%.2e", x)
}
