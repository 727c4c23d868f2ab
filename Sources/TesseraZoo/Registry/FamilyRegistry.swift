import Foundation
import TesseraCore
import TesseraNN

/// One registered layer family, its type erased: what a ``ModelSpec`` needs to check options and
/// build the layer without naming its type.
public struct FamilyEntry: Sendable {
  public let kind: String
  public let slot: LayerSlot
  public let capabilities: LayerCapabilities
  public let summary: String
  public let patternArgument: String?
  /// Why the layer has no causal form, where it says.
  public let notCausalBecause: String?
  /// The forms the layer runs its op in (its `form` option).
  public let forms: [Form]
  /// The option keys the family understands, in declaration order.
  public let optionKeys: [String]
  /// The default options as JSON.
  public let defaultOptions: JSONValue
  /// Whether the layer conforms to ``RecurrentLayer``.
  public let decodesRecurrently: Bool
  let resolve: @Sendable (_ given: [String: JSONValue], _ width: Int, _ path: String) throws -> Void
  let build:
    @Sendable (_ given: [String: JSONValue], _ width: Int, _ path: String, _ generator: inout RandomGenerator) throws ->
      any LayerFamily

  /// Builds the layer from options given as JSON over the defaults; errors name `path`.
  public func make(
    _ options: [String: JSONValue] = [:], width: Int, path: String = "layer", generator: inout RandomGenerator
  ) throws -> any LayerFamily {
    try build(options, width, path, &generator)
  }

  /// The entry of family `L`.
  public init<L: LayerFamily>(_ family: L.Type) {
    kind = L.kind
    slot = L.slot
    capabilities = L.capabilities
    summary = L.summary
    patternArgument = L.patternArgument
    notCausalBecause = L.notCausalBecause
    forms = L.forms
    optionKeys = Mirror(reflecting: L.Options()).children.compactMap(\.label)
    defaultOptions = (try? JSONValue(encoding: L.Options())) ?? .object([:])
    decodesRecurrently = L.self is any RecurrentLayer.Type
    let keys = optionKeys
    let kind = L.kind
    resolve = { given, width, path in
      _ = try Self.options(L.self, given, width: width, path: path, keys: keys, kind: kind)
    }
    build = { given, width, path, generator in
      let options = try Self.options(L.self, given, width: width, path: path, keys: keys, kind: kind)
      return L(options, width: width, generator: &generator)
    }
  }

  /// `given` laid over the defaults and decoded, every key known, every value of the right type,
  /// no problem at `width`; errors name the JSON path under `path` (the layer's spec).
  static func options<L: LayerFamily>(
    _ family: L.Type, _ given: [String: JSONValue], width: Int, path: String, keys: [String], kind: String
  ) throws -> L.Options {
    for key in given.keys.sorted() where !keys.contains(key) {
      throw ModelSpecError(
        "\(path).options.\(key)",
        "\"\(kind)\" has no option \"\(key)\"; its options are " + keys.map { "\"\($0)\"" }.joined(separator: ", "))
    }
    guard case .object(var merged) = try JSONValue(encoding: L.Options()) else {
      throw ModelSpecError(path, "the options of \"\(kind)\" do not encode as a JSON object")
    }
    for (key, value) in given { merged[key] = value }
    let options: L.Options
    do {
      options = try JSONValue.object(merged).decode(L.Options.self)
    } catch let error as DecodingError {
      throw ModelSpecError(decoding: error, under: "\(path).options")
    }
    if let problem = L.problems(options, width: width).first {
      throw ModelSpecError("\(path).options.\(problem.key)", problem.message)
    }
    return options
  }
}

/// The registered layer families, keyed by kind. Built once from a list of types; a kind listed
/// twice is refused.
public struct FamilyRegistry: Sendable {
  public let entries: [FamilyEntry]
  let byKind: [String: FamilyEntry]

  /// The registry of `families`, in order; fails (naming the kind) when two share a kind.
  public init(_ families: [any LayerFamily.Type]) throws {
    try self.init(entries: families.map { FamilyEntry($0) })
  }

  init(entries: [FamilyEntry]) throws {
    var byKind: [String: FamilyEntry] = [:]
    for entry in entries {
      if byKind[entry.kind] != nil { throw ModelSpecError("", "two families register the kind \"\(entry.kind)\"") }
      byKind[entry.kind] = entry
    }
    self.entries = entries
    self.byKind = byKind
  }

  /// This registry with more families (tests, notebooks that define a layer of their own).
  public func adding(_ families: [any LayerFamily.Type]) throws -> FamilyRegistry {
    try FamilyRegistry(entries: entries + families.map { FamilyEntry($0) })
  }

  public subscript(kind: String) -> FamilyEntry? { byKind[kind] }

  /// Every kind, in registration order.
  public var kinds: [String] { entries.map(\.kind) }

  /// The kinds that fill `slot`.
  public func kinds(in slot: LayerSlot) -> [String] { entries.filter { $0.slot == slot }.map(\.kind) }
}

extension LayerFamily {
  /// The layer built from options given as JSON (over the defaults), with errors naming `path`.
  public static func make(
    _ given: [String: JSONValue] = [:], width: Int, generator: inout RandomGenerator, path: String = "layer"
  ) throws -> Self {
    let entry = FamilyEntry(Self.self)
    return try entry.build(given, width, path, &generator) as! Self
  }
}
