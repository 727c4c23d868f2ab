extension ModelSpec {
  /// Checks the whole spec against `registry` before anything is built: every kind registered
  /// and in its slot, every option known and well typed, capabilities that fit the direction.
  /// The first problem is thrown with its JSON path.
  public func validate(registry: FamilyRegistry = Zoo.families) throws {
    if vocabulary < 1 { throw ModelSpecError("vocabulary", "must be at least 1, got \(vocabulary)") }
    if width < 1 { throw ModelSpecError("width", "must be at least 1, got \(width)") }
    if stages.isEmpty { throw ModelSpecError("stages", "a model needs at least one stage") }
    for (s, stage) in stages.enumerated() {
      if let resample = stage.resample {
        try check(
          .layer(kind: resample.kind, options: resample.options), slot: .resample, path: "stages[\(s)].resample",
          registry: registry)
      }
      if stage.blocks.isEmpty { throw ModelSpecError("stages[\(s)].blocks", "a stage needs at least one block") }
      for (b, block) in stage.blocks.enumerated() {
        let path = "stages[\(s)].blocks[\(b)]"
        if block.repeats < 1 { throw ModelSpecError("\(path).repeats", "must be at least 1, got \(block.repeats)") }
        try check(block.mixer, slot: .sequence, path: "\(path).mixer", registry: registry)
        if let gate = block.gate {
          if gating == nil {
            throw ModelSpecError(
              "\(path).gate", "a gated block needs the model's gate predictor: add \"gating\" to the model spec")
          }
          if !gate.mixer && !gate.channel {
            throw ModelSpecError("\(path).gate", "gates neither the mixer nor the channel layer")
          }
          if gate.channel && block.channel == nil {
            throw ModelSpecError("\(path).gate.channel", "the block has no channel layer to gate")
          }
        }
        if let channel = block.channel {
          try check(channel, slot: .channel, path: "\(path).channel", registry: registry)
        }
        if block.exit != nil {
          if stage.resample != nil {
            throw ModelSpecError(
              "\(path).exit", "an exit head reads token-level states: it cannot sit inside a token-to-concept stage")
          }
          if gating != nil {
            throw ModelSpecError("\(path).exit", "early exit and module pruning in one model are not supported")
          }
          if s == stages.count - 1 && b == stage.blocks.count - 1 && block.repeats == 1 {
            throw ModelSpecError(
              "\(path).exit",
              "the last block is followed by the model's own head; an exit head belongs to an earlier block")
          }
        }
      }
    }
    if let gating {
      if let problem = gating.problems().first { throw ModelSpecError("gating.\(problem.key)", problem.message) }
      if !stages.contains(where: { $0.blocks.contains { $0.gate != nil } }) {
        throw ModelSpecError("gating", "no block has a gate: give the blocks to prune a \"gate\"")
      }
    }
    if heads.isEmpty { throw ModelSpecError("heads", "a model needs an output head") }
    var names: Set<String> = []
    for (i, head) in heads.enumerated() {
      let path = "heads[\(i)]"
      if head.kind == .languageModel {
        if i > 0 { throw ModelSpecError("\(path).kind", "the language-model head comes first, and there is one") }
        if head.classes != nil {
          throw ModelSpecError("\(path).classes", "a language-model head predicts the vocabulary; it has no classes")
        }
      } else {
        if head.name.isEmpty {
          throw ModelSpecError("\(path).name", "a classification head needs a name (its labels' key)")
        }
        guard let classes = head.classes, classes >= 2 else {
          throw ModelSpecError("\(path).classes", "a \(head.kind.rawValue) head needs at least 2 classes")
        }
        if head.tied {
          throw ModelSpecError("\(path).tied", "only the language-model head can be tied to the embedding")
        }
        if head.kind == .sequence, head.pooling != .last, direction == .causal {
          throw ModelSpecError(
            "\(path).pooling",
            "\"\(head.pooling.rawValue)\" pooling in a causal model reads positions that have not seen the whole sequence; use \"last\" or a bidirectional model"
          )
        }
      }
      if !names.insert(head.name).inserted { throw ModelSpecError("\(path).name", "\"\(head.name)\" names two heads") }
    }
    if heads[0].kind != .languageModel, let exit = blocks.first(where: { $0.block.exit != nil }) {
      throw ModelSpecError("\(exit.path).exit", "early exit needs a language-model head (heads[0]) to mirror")
    }
  }

  func check(_ spec: MixerSpec, slot: LayerSlot, path: String, registry: FamilyRegistry) throws {
    switch spec {
    case .parallel(let branches, _):
      if slot != .sequence {
        throw ModelSpecError(path, "parallel branches fill a sequence slot (an intra-layer hybrid of mixers)")
      }
      if branches.isEmpty { throw ModelSpecError("\(path).parallel", "needs at least one branch") }
      for (i, branch) in branches.enumerated() {
        try check(branch, slot: slot, path: "\(path).parallel[\(i)]", registry: registry)
      }
    case .layer(let kind, let options):
      let entry = try Self.entry(kind, slot: slot, path: path, registry: registry)
      let needed: LayerCapabilities = direction == .causal ? .causal : .bidirectional
      if !entry.capabilities.contains(needed) {
        let fitting = registry.entries.filter { $0.slot == slot && $0.capabilities.contains(needed) }.map(\.kind)
        let reason = direction == .causal ? entry.notCausalBecause.map { " (\($0))" } ?? "" : ""
        throw ModelSpecError(
          "\(path).kind",
          "\"\(kind)\" has no \(direction.rawValue) form\(reason); a \(direction.rawValue) model takes "
            + (fitting.isEmpty ? "no registered layer here" : fitting.map { "\"\($0)\"" }.joined(separator: ", ")))
      }
      try entry.resolve(options, width, path)
    }
  }

  /// The registered family `kind`, which must fill `slot`.
  static func entry(_ kind: String, slot: LayerSlot, path: String, registry: FamilyRegistry) throws -> FamilyEntry {
    let allowed = registry.kinds(in: slot).map { "\"\($0)\"" }.joined(separator: ", ")
    guard let entry = registry[kind] else {
      throw ModelSpecError(
        "\(path).kind", "no layer family is registered as \"\(kind)\"; a \(slot) slot takes \(allowed)")
    }
    guard entry.slot == slot else {
      throw ModelSpecError(
        "\(path).kind", "\"\(kind)\" is a \(entry.slot) layer; a \(slot) slot takes \(allowed)")
    }
    return entry
  }
}
