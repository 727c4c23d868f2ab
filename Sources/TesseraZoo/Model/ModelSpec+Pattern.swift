import Foundation

// The layer pattern: sugar for a ModelSpec of one stage.
//
//     pattern := block ("," block)*
//     block   := mixer ("|" layer)? ("*" count)?       mixer|channel, repeated count times
//     mixer   := layer | "(" layer ("+" layer)+ ")"     parallel branches (an intra-layer hybrid)
//     layer   := kind (":" integer)?                    the family's pattern argument (swa:64 → window 64)
//
// `"gla,attn"`, `"mamba2*3,attn"`, `"attn|swiglu"`, `"(attn+mamba2)"`.

extension ModelSpec {
  /// A one-stage spec from a layer pattern. Blocks without `|channel` get `channel` (nil: none).
  /// `options` are shared: each key goes to every layer whose family has that option (a layer's own
  /// value wins), so one set of options serves a loop over patterns; a key that no registered
  /// family has is an error (so a typo never builds a different model).
  public init(
    pattern: String, vocabulary: Int, width: Int, channel: String? = "mlp", norm: NormKind = .layerNorm,
    direction: Direction = .causal, options: [String: JSONValue] = [:], tiedEmbeddings: Bool = true,
    registry: FamilyRegistry = Zoo.families
  ) throws {
    var blocks = try Self.parsePattern(pattern)
    for i in blocks.indices {
      if blocks[i].channel == nil, let channel { blocks[i].channel = .layer(channel) }
      blocks[i].norm = norm
    }
    var used = Set<String>()
    func share(_ spec: MixerSpec) -> MixerSpec {
      switch spec {
      case .layer(let kind, var own):
        guard let entry = registry[kind] else { return spec }
        for (key, value) in options where entry.optionKeys.contains(key) && own[key] == nil {
          own[key] = value
          used.insert(key)
        }
        return .layer(kind: kind, options: own)
      case .parallel(let branches, let combine):
        return .parallel(branches.map(share), combine: combine)
      }
    }
    for i in blocks.indices {
      blocks[i].mixer = share(blocks[i].mixer)
      blocks[i].channel = blocks[i].channel.map(share)
    }
    let known = Set(registry.entries.flatMap(\.optionKeys))
    if let unknown = options.keys.sorted().first(where: { !used.contains($0) && !known.contains($0) }) {
      throw ModelSpecError("options.\(unknown)", "no registered layer family has an option \"\(unknown)\"")
    }
    self.init(
      vocabulary: vocabulary, width: width, direction: direction, stages: [StageSpec(blocks: blocks)],
      heads: [HeadSpec(tied: tiedEmbeddings)], norm: norm)
  }

  /// The blocks of a layer pattern (kinds are checked when the model is built).
  public static func parsePattern(_ pattern: String, registry: FamilyRegistry = Zoo.families) throws -> [BlockSpec] {
    func fail(_ message: String) -> ModelSpecError { ModelSpecError("pattern", "\"\(pattern)\": \(message)") }
    func layer(_ text: Substring) throws -> MixerSpec {
      let parts = text.split(separator: ":", omittingEmptySubsequences: false)
      let kind = parts[0].trimmingCharacters(in: .whitespaces)
      guard !kind.isEmpty, parts.count <= 2 else { throw fail("\"\(text)\" is not a layer (kind or kind:number)") }
      guard parts.count == 2 else { return .layer(kind) }
      guard let argument = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
        throw fail("\"\(parts[1])\" after \"\(kind):\" is not an integer")
      }
      guard let key = registry[kind]?.patternArgument else {
        throw fail("\"\(kind)\" takes no argument after a colon")
      }
      return .layer(kind, [key: .number(Double(argument))])
    }
    let trimmed = pattern.trimmingCharacters(in: .whitespaces)
    guard !trimmed.isEmpty else { throw fail("the pattern is empty") }
    return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map { item in
      var text = Substring(item.trimmingCharacters(in: .whitespaces))
      guard !text.isEmpty else { throw fail("an empty block between commas") }
      var repeats = 1
      if let star = text.lastIndex(of: "*") {
        guard let count = Int(text[text.index(after: star)...].trimmingCharacters(in: .whitespaces)), count >= 1 else {
          throw fail("\"\(text)\": a repeat count after * must be a positive integer")
        }
        repeats = count
        text = text[..<star]
      }
      let halves = text.split(separator: "|", omittingEmptySubsequences: false)
      guard halves.count <= 2 else { throw fail("\"\(text)\" has more than one |") }
      let mixerText = halves[0].trimmingCharacters(in: .whitespaces)
      let mixer: MixerSpec
      if mixerText.hasPrefix("(") {
        guard mixerText.hasSuffix(")") else { throw fail("\"\(mixerText)\" opens a parenthesis it does not close") }
        let branches = try mixerText.dropFirst().dropLast().split(separator: "+", omittingEmptySubsequences: false)
          .map(layer)
        guard branches.count >= 2 else { throw fail("\"\(mixerText)\": parallel branches need at least two layers") }
        mixer = .parallel(branches, combine: .learned)
      } else {
        mixer = try layer(Substring(mixerText))
      }
      let channel = try halves.count == 2 ? layer(halves[1]) : nil
      return BlockSpec(mixer: mixer, channel: channel, repeats: repeats)
    }
  }

  /// The layer pattern of a one-stage spec (options other than a pattern argument are not part
  /// of a pattern); nil where none exists (several stages, resampling).
  public func pattern(registry: FamilyRegistry = Zoo.families) -> String? {
    guard stages.count == 1, stages[0].resample == nil else { return nil }
    func layer(_ spec: MixerSpec) -> String {
      switch spec {
      case .layer(let kind, let options):
        if let key = registry[kind]?.patternArgument, let value = options[key], case .number(let n) = value {
          return "\(kind):\(Int(n))"
        }
        return kind
      case .parallel(let branches, _):
        return "(" + branches.map(layer).joined(separator: "+") + ")"
      }
    }
    return stages[0].blocks.map { block in
      layer(block.mixer) + (block.channel.map { "|" + layer($0) } ?? "")
        + (block.repeats > 1 ? "*\(block.repeats)" : "")
    }.joined(separator: ",")
  }
}
