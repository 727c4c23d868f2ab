import Foundation

/// A model described as data: the only way models are named (sweeps, paper tables and
/// checkpoints carry it as JSON), built by ``LanguageModel/init(_:generator:registry:)``.
///
///     ModelSpec(vocabulary: 256, width: 64, stages: [StageSpec(blocks: [
///       BlockSpec(mixer: .layer("gla", ["heads": 1])), BlockSpec(mixer: .layer("attn"), channel: .layer("swiglu")),
///     ])])
///
/// or, as sugar, from a layer pattern: `try ModelSpec(pattern: "gla,attn|swiglu", vocabulary: 256, width: 64)`.
/// Unknown kinds, unknown or mistyped options, a layer in the wrong slot and capability clashes
/// are errors at build time that name the JSON path; nothing falls back to a default silently.
public struct ModelSpec: Codable, Sendable, Equatable {
  public var vocabulary: Int
  /// The model width `D`.
  public var width: Int
  public var direction: Direction
  public var stages: [StageSpec]
  /// Output heads: a language-model head, classification heads, or both (the language-model head
  /// first).
  public var heads: [HeadSpec]
  /// The norm before the output heads.
  public var norm: NormKind
  /// The gate predictor of module pruning: one per model, reading each sequence's context and
  /// deciding for every module its blocks' ``BlockSpec/gate`` names whether it runs.
  public var gating: GatingSpec?

  public init(
    vocabulary: Int, width: Int, direction: Direction = .causal, stages: [StageSpec],
    heads: [HeadSpec] = [HeadSpec()], norm: NormKind = .layerNorm, gating: GatingSpec? = nil
  ) {
    self.vocabulary = vocabulary
    self.width = width
    self.direction = direction
    self.stages = stages
    self.heads = heads
    self.norm = norm
    self.gating = gating
  }

  /// Every block, repeats expanded, with its JSON path: `stages[0].blocks[2]`.
  public var blocks: [(path: String, block: BlockSpec)] {
    var out: [(String, BlockSpec)] = []
    for (s, stage) in stages.enumerated() {
      for (b, block) in stage.blocks.enumerated() {
        for _ in 0..<max(0, block.repeats) { out.append(("stages[\(s)].blocks[\(b)]", block)) }
      }
    }
    return out
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case vocabulary, width, direction, stages, heads, norm, gating }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    vocabulary = try c.decode(Int.self, forKey: .vocabulary)
    width = try c.decode(Int.self, forKey: .width)
    direction = try c.decodeIfPresent(Direction.self, forKey: .direction) ?? .causal
    stages = try c.decode([StageSpec].self, forKey: .stages)
    heads = try c.decodeIfPresent([HeadSpec].self, forKey: .heads) ?? [HeadSpec()]
    norm = try c.decodeIfPresent(NormKind.self, forKey: .norm) ?? .layerNorm
    gating = try c.decodeIfPresent(GatingSpec.self, forKey: .gating)
  }

  /// The spec in `json`, with errors naming the JSON path.
  public static func decode(json: Data) throws -> ModelSpec {
    do {
      return try JSONDecoder().decode(ModelSpec.self, from: json)
    } catch let error as DecodingError {
      throw ModelSpecError(decoding: error, under: "")
    }
  }

  /// The spec in `json` text.
  public static func decode(json: String) throws -> ModelSpec { try decode(json: Data(json.utf8)) }

  /// Pretty-printed JSON, keys sorted.
  public var json: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
  }
}

/// A run of blocks at one resolution; `resample` (token-to-concept chunking) shortens the
/// sequence before the blocks and restores it after.
public struct StageSpec: Codable, Sendable, Equatable {
  public var resample: ResampleSpec?
  public var blocks: [BlockSpec]

  public init(resample: ResampleSpec? = nil, blocks: [BlockSpec]) {
    self.resample = resample
    self.blocks = blocks
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case resample, blocks }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    resample = try c.decodeIfPresent(ResampleSpec.self, forKey: .resample)
    blocks = try c.decode([BlockSpec].self, forKey: .blocks)
  }
}

/// A resampling module around a stage, named by the kind its family registers (`"chunk"`).
public struct ResampleSpec: Codable, Sendable, Equatable {
  public var kind: String
  public var options: [String: JSONValue]

  public init(kind: String, options: [String: JSONValue] = [:]) {
    self.kind = kind
    self.options = options
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case kind, options }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    kind = try c.decode(String.self, forKey: .kind)
    options = try c.decodeIfPresent([String: JSONValue].self, forKey: .options) ?? [:]
  }
}

/// One pre-norm residual block: `x + mixer(norm(x))`, then `x + channel(norm(x))` when there
/// is a channel layer; `repeats` stacks that many copies (each with its own parameters).
public struct BlockSpec: Codable, Sendable, Equatable {
  public var mixer: MixerSpec
  public var channel: MixerSpec?
  public var norm: NormKind
  public var repeats: Int
  /// Module pruning: which of the block's modules the model's gate predictor (``ModelSpec/gating``)
  /// may skip.
  public var gate: GateSpec?
  /// Early exit: a prediction head after the block (after each copy when it repeats).
  public var exit: ExitSpec?

  public init(
    mixer: MixerSpec, channel: MixerSpec? = nil, norm: NormKind = .layerNorm, repeats: Int = 1, gate: GateSpec? = nil,
    exit: ExitSpec? = nil
  ) {
    self.mixer = mixer
    self.channel = channel
    self.norm = norm
    self.repeats = repeats
    self.gate = gate
    self.exit = exit
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case mixer, channel, norm, repeats, gate, exit }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    mixer = try c.decode(MixerSpec.self, forKey: .mixer)
    channel = try c.decodeIfPresent(MixerSpec.self, forKey: .channel)
    norm = try c.decodeIfPresent(NormKind.self, forKey: .norm) ?? .layerNorm
    repeats = try c.decodeIfPresent(Int.self, forKey: .repeats) ?? 1
    gate = try c.decodeIfPresent(GateSpec.self, forKey: .gate)
    exit = try c.decodeIfPresent(ExitSpec.self, forKey: .exit)
  }
}

/// The layer in a slot: one registered family with its options, or several side by side
/// reading the same input (an intra-layer hybrid).
public indirect enum MixerSpec: Codable, Sendable, Equatable {
  /// The family registered under `kind`, its options over the defaults.
  case layer(kind: String, options: [String: JSONValue])
  /// Branches reading the same input, combined.
  case parallel([MixerSpec], combine: Combine)

  /// How parallel branches are combined.
  public enum Combine: String, Codable, Sendable, CaseIterable {
    case mean, concat, learned
  }

  /// The family `kind` with `options` over its defaults.
  public static func layer(_ kind: String, _ options: [String: JSONValue] = [:]) -> MixerSpec {
    .layer(kind: kind, options: options)
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case kind, options, parallel, combine }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    if c.contains(.parallel) {
      try decoder.rejectUnknownKeys(["parallel", "combine"])
      let branches = try c.decode([MixerSpec].self, forKey: .parallel)
      let combine = try c.decodeIfPresent(Combine.self, forKey: .combine) ?? .learned
      self = .parallel(branches, combine: combine)
    } else {
      try decoder.rejectUnknownKeys(["kind", "options"])
      self = .layer(
        kind: try c.decode(String.self, forKey: .kind),
        options: try c.decodeIfPresent([String: JSONValue].self, forKey: .options) ?? [:])
    }
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    switch self {
    case .layer(let kind, let options):
      try c.encode(kind, forKey: .kind)
      if !options.isEmpty { try c.encode(options, forKey: .options) }
    case .parallel(let branches, let combine):
      try c.encode(branches, forKey: .parallel)
      try c.encode(combine, forKey: .combine)
    }
  }
}

/// An output head of the model: next-token logits over the vocabulary, or a classifier over
/// `classes` for each sequence (pooled over positions) or for each position. A model has at most
/// one language-model head, first; classification heads are named, and their labels come by name
/// (``Objective/classification(heads:)``).
public struct HeadSpec: Codable, Sendable, Equatable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    /// Next-token (or masked-token) logits over the vocabulary: `[B, T, vocabulary]`.
    case languageModel
    /// One label per sequence: `[B, classes]` from the final hidden states pooled over positions.
    case sequence
    /// One label per position: `[B, T, classes]`.
    case token
  }

  /// How a sequence head pools the final hidden states `[B, T, D]` into `[B, D]`.
  public enum Pooling: String, Codable, Sendable, CaseIterable {
    case mean, first, last
  }

  public var kind: Kind
  /// The head's name (its labels' and its logits' key): `"lm"` for the language-model head.
  public var name: String
  /// Classes of a classification head.
  public var classes: Int?
  public var pooling: Pooling
  /// The language-model head reuses the embedding matrix (Press & Wolf, 2017).
  public var tied: Bool

  public init(kind: Kind = .languageModel, tied: Bool = true) {
    self.kind = kind
    self.name = "lm"
    self.classes = nil
    self.pooling = .mean
    self.tied = tied
  }

  /// A classification head `name` over `classes`: per sequence (`.sequence`, pooled by
  /// `pooling`) or per position (`.token`).
  public static func classifier(_ name: String, _ kind: Kind, classes: Int, pooling: Pooling = .mean) -> HeadSpec {
    var head = HeadSpec(kind: kind, tied: false)
    head.name = name
    head.classes = classes
    head.pooling = pooling
    return head
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case kind, name, classes, pooling, tied }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .languageModel
    name = try c.decodeIfPresent(String.self, forKey: .name) ?? (kind == .languageModel ? "lm" : "")
    classes = try c.decodeIfPresent(Int.self, forKey: .classes)
    pooling = try c.decodeIfPresent(Pooling.self, forKey: .pooling) ?? .mean
    tied = try c.decodeIfPresent(Bool.self, forKey: .tied) ?? (kind == .languageModel)
  }
}

/// The normalisation of a block or before the heads.
public enum NormKind: String, Codable, Sendable, CaseIterable {
  /// Layer norm with scale and shift (Ba et al., 2016).
  case layerNorm
  /// RMS norm with a scale (Zhang & Sennrich, 2019).
  case rmsNorm
}

/// A coding key for any string, to list the keys an object holds.
struct AnyCodingKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

extension Decoder {
  /// Fails on a key of this object that is not in `allowed`, naming it and the allowed keys.
  func rejectUnknownKeys(_ allowed: [String]) throws {
    let c = try container(keyedBy: AnyCodingKey.self)
    for key in c.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !allowed.contains(key.stringValue) {
      throw DecodingError.dataCorrupted(
        .init(
          codingPath: codingPath + [key],
          debugDescription: "unknown key; the keys here are " + allowed.map { "\"\($0)\"" }.joined(separator: ", ")))
    }
  }
}

/// Enums decoded from strings name the allowed values when the string is none of them.
extension RawRepresentable where Self: CaseIterable, RawValue == String {
  static func decodeChoice(from decoder: Decoder) throws -> Self {
    let c = try decoder.singleValueContainer()
    let raw = try c.decode(String.self)
    guard let value = Self(rawValue: raw) else {
      throw DecodingError.dataCorrupted(
        .init(
          codingPath: decoder.codingPath,
          debugDescription: "\"\(raw)\" is not one of " + allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
      )
    }
    return value
  }
}

extension NormKind {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

extension MixerSpec.Combine {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

extension HeadSpec.Kind {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

extension HeadSpec.Pooling {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

extension Direction {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
