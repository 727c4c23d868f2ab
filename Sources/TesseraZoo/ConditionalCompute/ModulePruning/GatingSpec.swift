import Foundation

/// Which modules of a block may be skipped (``BlockSpec/gate``): its mixer, its channel layer.
public struct GateSpec: Codable, Sendable, Equatable {
  public var mixer: Bool
  public var channel: Bool

  public init(mixer: Bool = true, channel: Bool = true) {
    self.mixer = mixer
    self.channel = channel
  }

  enum CodingKeys: String, CodingKey, CaseIterable { case mixer, channel }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    mixer = try c.decodeIfPresent(Bool.self, forKey: .mixer) ?? true
    channel = try c.decodeIfPresent(Bool.self, forKey: .channel) ?? true
  }
}

/// The gate predictor of context-aware module pruning (Someki et al., "Context-aware Dynamic
/// Pruning for Speech Foundation Models", ICLR 2025): a small network reads each sequence's
/// context — an id (task, language) embedded, the mean of its input embeddings, or both — and
/// gives every gated module keep/skip logits; Gumbel-softmax straight-through gates while training
/// (temperature annealed from `initialTemperature` to `finalTemperature` over `temperatureSteps`
/// steps, exponentially), the logits' argmax at inference, where a skipped module is not run for
/// that sequence. The sparsity loss (``GumbelGate/SparsityPenalty``, weight `sparsityWeight`)
/// drives the skipped fraction of the gated modules toward `targetSparsity`.
public struct GatingSpec: Codable, Sendable, Equatable {
  public enum Inputs: String, Codable, Sendable, CaseIterable {
    case context, pooled, both
  }

  public var inputs: Inputs
  /// Context ids are `0..<contexts`.
  public var contexts: Int
  public var hidden: Int
  /// Pool only the first `pooledPrefix` tokens (a prompt); nil pools every token.
  public var pooledPrefix: Int?
  public var targetSparsity: Double
  public var penalty: GumbelGate.SparsityPenalty
  public var sparsityWeight: Double
  public var initialTemperature: Double
  public var finalTemperature: Double
  public var temperatureSteps: Int
  /// The Gumbel noise's stream: step `n` draws from `RandomGenerator(seed).fork("gates").fork(n)`.
  public var seed: UInt64

  public init(
    inputs: Inputs = .context, contexts: Int = 1, hidden: Int = 32, pooledPrefix: Int? = nil,
    targetSparsity: Double = 0.5, penalty: GumbelGate.SparsityPenalty = .squared, sparsityWeight: Double = 1,
    initialTemperature: Double = 1, finalTemperature: Double = 0.1, temperatureSteps: Int = 1000, seed: UInt64 = 0
  ) {
    self.inputs = inputs
    self.contexts = contexts
    self.hidden = hidden
    self.pooledPrefix = pooledPrefix
    self.targetSparsity = targetSparsity
    self.penalty = penalty
    self.sparsityWeight = sparsityWeight
    self.initialTemperature = initialTemperature
    self.finalTemperature = finalTemperature
    self.temperatureSteps = temperatureSteps
    self.seed = seed
  }

  enum CodingKeys: String, CodingKey, CaseIterable {
    case inputs, contexts, hidden, pooledPrefix, targetSparsity, penalty, sparsityWeight, initialTemperature,
      finalTemperature, temperatureSteps, seed
  }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = GatingSpec()
    inputs = try c.decodeIfPresent(Inputs.self, forKey: .inputs) ?? d.inputs
    contexts = try c.decodeIfPresent(Int.self, forKey: .contexts) ?? d.contexts
    hidden = try c.decodeIfPresent(Int.self, forKey: .hidden) ?? d.hidden
    pooledPrefix = try c.decodeIfPresent(Int.self, forKey: .pooledPrefix)
    targetSparsity = try c.decodeIfPresent(Double.self, forKey: .targetSparsity) ?? d.targetSparsity
    penalty = try c.decodeIfPresent(GumbelGate.SparsityPenalty.self, forKey: .penalty) ?? d.penalty
    sparsityWeight = try c.decodeIfPresent(Double.self, forKey: .sparsityWeight) ?? d.sparsityWeight
    initialTemperature = try c.decodeIfPresent(Double.self, forKey: .initialTemperature) ?? d.initialTemperature
    finalTemperature = try c.decodeIfPresent(Double.self, forKey: .finalTemperature) ?? d.finalTemperature
    temperatureSteps = try c.decodeIfPresent(Int.self, forKey: .temperatureSteps) ?? d.temperatureSteps
    seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
  }

  /// The temperature at optimizer step `step`: initial · (final / initial)^(min(step, steps) / steps).
  public func temperature(step: Int) -> Float {
    let fraction = temperatureSteps <= 0 ? 1 : Double(min(max(step, 0), temperatureSteps)) / Double(temperatureSteps)
    return Float(initialTemperature * pow(finalTemperature / initialTemperature, fraction))
  }

  /// Problems, each with its key under `gating`.
  func problems() -> [(key: String, message: String)] {
    var out: [(String, String)] = []
    if inputs != .pooled && contexts < 1 {
      out.append(("contexts", "must be at least 1 when the inputs include a context id, got \(contexts)"))
    }
    if hidden < 1 { out.append(("hidden", "must be at least 1, got \(hidden)")) }
    if let p = pooledPrefix, p < 1 { out.append(("pooledPrefix", "must be at least 1, got \(p)")) }
    if !(0..<1).contains(targetSparsity) { out.append(("targetSparsity", "must be in [0, 1), got \(targetSparsity)")) }
    if !(sparsityWeight >= 0) { out.append(("sparsityWeight", "must be at least 0, got \(sparsityWeight)")) }
    if !(initialTemperature > 0) { out.append(("initialTemperature", "must be positive, got \(initialTemperature)")) }
    if !(finalTemperature > 0) { out.append(("finalTemperature", "must be positive, got \(finalTemperature)")) }
    if temperatureSteps < 0 { out.append(("temperatureSteps", "must be at least 0, got \(temperatureSteps)")) }
    return out
  }
}

extension GatingSpec.Inputs {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
