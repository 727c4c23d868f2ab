import TesseraCore

/// Known hybrids as plain ``ModelSpec``s (inter-layer: the layer kinds alternate along the depth).
extension ModelSpec {
  /// Jamba (Lieber et al., "Jamba: A Hybrid Transformer-Mamba Language Model", 2024): Mamba layers
  /// with one attention layer in every `attentionEvery` (the paper's 1 : 7 is `attentionEvery: 8`,
  /// the attention layer in the middle of each period, as its Figure 1 places it), and a mixture
  /// of experts (`experts`, top-`topK`) in the channel slot of every `moeEvery`-th block (the paper:
  /// every other block, 16 experts, top-2), SwiGLU elsewhere. RMS norms as the paper's blocks.
  public static func jamba(
    vocabulary: Int, width: Int, blocks: Int = 8, attentionEvery: Int = 8, moeEvery: Int = 2, experts: Int = 16,
    topK: Int = 2, heads: Int = 4, direction: Direction = .causal
  ) throws -> ModelSpec {
    try checkPreset(
      "jamba", blocks >= 1 && attentionEvery >= 1 && moeEvery >= 1,
      "blocks, attentionEvery and moeEvery must be at least 1")
    let pattern = (0..<blocks).map { i -> String in
      let mixer = i % attentionEvery == attentionEvery / 2 ? "attn" : "mamba"
      let channel = i % moeEvery == moeEvery - 1 ? "moe-topk" : "swiglu"
      return "\(mixer)|\(channel)"
    }.joined(separator: ",")
    return try ModelSpec(
      pattern: pattern, vocabulary: vocabulary, width: width, norm: .rmsNorm, direction: direction,
      options: ["heads": .number(Double(heads)), "experts": .number(Double(experts)), "topK": .number(Double(topK))])
  }

  /// The GLA + FoX + TTT hybrid of the workbench's second seed (a "Genesis"-style model): blocks of
  /// gated linear attention (Yang et al., 2024), the Forgetting Transformer (Lin et al., 2025) and
  /// TTT-Linear (Sun et al., 2024) in turn, each followed by SwiGLU. The seed describes FoX and TTT
  /// loosely; these are the zoo's real layers, with their authors' definitions.
  public static func glaFoxTTT(
    vocabulary: Int, width: Int, blocks: Int = 6, heads: Int = 4, direction: Direction = .causal
  ) throws -> ModelSpec {
    try checkPreset("glaFoxTTT", blocks >= 1, "blocks must be at least 1")
    let cycle = ["gla", "fox", "ttt-linear"]
    let pattern = (0..<blocks).map { "\(cycle[$0 % 3])|swiglu" }.joined(separator: ",")
    return try ModelSpec(
      pattern: pattern, vocabulary: vocabulary, width: width, norm: .rmsNorm, direction: direction,
      options: ["heads": .number(Double(heads))])
  }

  /// A Hymba-style model (Dong et al., 2024): every block an intra-layer hybrid of attention and
  /// Mamba-2 heads reading the same input (``ParallelMixer``, learned per-channel combination),
  /// followed by SwiGLU. As in the paper, only the first, middle and last blocks attend globally;
  /// the others attend over a sliding window of `window` tokens (the paper: 1,024), so their KV
  /// caches stop growing. `window: nil` gives every block global attention. (The paper's meta
  /// tokens and cross-layer KV sharing are not modelled.)
  public static func hymba(
    vocabulary: Int, width: Int, blocks: Int = 4, heads: Int = 4, window: Int? = 1024,
    combine: MixerSpec.Combine = .learned
  ) throws -> ModelSpec {
    try checkPreset("hymba", blocks >= 1, "blocks must be at least 1")
    try checkPreset("hymba", window.map { $0 >= 1 } ?? true, "window must be at least 1")
    let global: Set = [0, blocks / 2, blocks - 1]
    let pattern = (0..<blocks).map { i -> String in
      let attention = global.contains(i) ? "attn" : window.map { "swa:\($0)" } ?? "attn"
      return "(\(attention)+mamba2)|swiglu"
    }.joined(separator: ",")
    return try ModelSpec(
      pattern: pattern, vocabulary: vocabulary, width: width, norm: .rmsNorm, options: ["heads": .number(Double(heads))]
    ).combiningParallelBranches(combine)
  }

  /// This spec with every parallel block combined by `combine` (a pattern's `"(a+b)"` is `.learned`).
  public func combiningParallelBranches(_ combine: MixerSpec.Combine) -> ModelSpec {
    var spec = self
    for s in spec.stages.indices {
      for b in spec.stages[s].blocks.indices {
        if case .parallel(let branches, _) = spec.stages[s].blocks[b].mixer {
          spec.stages[s].blocks[b].mixer = .parallel(branches, combine: combine)
        }
      }
    }
    return spec
  }

  private static func checkPreset(_ name: String, _ condition: Bool, _ message: String) throws {
    if !condition { throw ModelSpecError("", "ModelSpec.\(name): \(message)") }
  }
}
