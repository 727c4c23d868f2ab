import Foundation

/// An ablation grid: parameter → list of values, crossed, plus explicit points, each run once
/// per seed.
///
/// `grid.json` is a JSON object. Every member but `points` is a parameter with a non-empty list
/// of values (numbers, strings, booleans); the grid is their cross product, in the order the
/// members are written. `points`, when present, is a list of objects, each one more point.
/// Example: `{"lr": [0.01, 0.1], "layers": [1, 2], "points": [{"lr": 0.5, "layers": 4}]}` has 5
/// points.
public struct SweepGrid: Sendable {
  /// The points, each an ordered list of (parameter, value).
  public var points: [[(String, JSONValue)]]

  public struct GridError: Error, CustomStringConvertible {
    public let description: String
  }

  /// Reads `path`; every error names the file and the JSON path.
  public init(contentsOf path: String) throws {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw GridError(description: "\(path): cannot read the grid file")
    }
    let value: JSONValue
    do { value = try JSONText.parse(text) } catch {
      throw GridError(description: "\(path): not JSON (\(error))")
    }
    try self.init(value, file: path)
  }

  public init(_ value: JSONValue, file: String = "grid") throws {
    guard let members = value.objectValue else {
      throw GridError(description: "\(file): the grid must be a JSON object of parameter → list of values")
    }
    var axes: [(String, [JSONValue])] = []
    var extra: [[(String, JSONValue)]] = []
    for (name, list) in members {
      if name == "points" {
        guard let items = list.arrayValue else {
          throw GridError(description: "\(file): $.points must be a list of objects")
        }
        for (i, item) in items.enumerated() {
          guard let point = item.objectValue, !point.isEmpty else {
            throw GridError(description: "\(file): $.points[\(i)] must be an object of parameter → value")
          }
          for (key, v) in point { try Self.check(v, at: "$.points[\(i)].\(key)", file: file) }
          extra.append(point)
        }
        continue
      }
      guard Self.isName(name) else {
        throw GridError(description: "\(file): $.\(name) is not a parameter name (letters, digits, _)")
      }
      guard let values = list.arrayValue, !values.isEmpty else {
        throw GridError(description: "\(file): $.\(name) must be a non-empty list of values")
      }
      for (i, v) in values.enumerated() { try Self.check(v, at: "$.\(name)[\(i)]", file: file) }
      axes.append((name, values))
    }
    var crossed: [[(String, JSONValue)]] = axes.isEmpty ? [] : [[]]
    for (name, values) in axes {
      crossed = crossed.flatMap { partial in values.map { partial + [(name, $0)] } }
    }
    points = crossed + extra
    if points.isEmpty { throw GridError(description: "\(file): the grid has no points") }
  }

  static func isName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
    return name.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
  }

  static func check(_ value: JSONValue, at path: String, file: String) throws {
    switch value {
    case .integer, .string, .bool: return
    case .real(let d) where d.isFinite: return
    case .array(let items):
      for (i, item) in items.enumerated() { try check(item, at: "\(path)[\(i)]", file: file) }
    default:
      throw GridError(description: "\(file): \(path) must be a finite number, a string, a boolean or a list of them")
    }
  }

  /// The folder name of a point and seed: `name=value_…_seed=S`, with characters other than
  /// letters, digits, `.`, `-`, `=` and `_` written as `~`.
  public static func folderName(_ point: [(String, JSONValue)], seed: UInt64) -> String {
    let parts = point.map { name, value in
      let text = value.stringValue ?? JSONText.writeCompact(value)
      return "\(name)=\(text)"
    }
    let raw = (parts + ["seed=\(seed)"]).joined(separator: "_")
    return String(
      String.UnicodeScalarView(
        raw.unicodeScalars.map { c in
          c.properties.isAlphabetic || ("0"..."9").contains(c) || ".-=_".unicodeScalars.contains(c) ? c : "~"
        }))
  }
}
