import TesseraCore

/// Whether positions read only the past (a decoder) or the whole sequence (an encoder).
public enum Direction: String, Codable, Sendable, CaseIterable {
  case causal
  case bidirectional
}

/// An auxiliary loss a layer adds during a forward pass (load balance, router z-loss, chunk
/// ratio, gate sparsity), with the weight its spec gives it.
public struct AuxiliaryLoss {
  /// The loss's name: `"load_balance"`, `"z_loss"`.
  public var name: String
  /// The dotted path of the layer that added it: `"layers.3.channel"`.
  public var layer: String
  /// A scalar tensor (differentiable).
  public var value: Tensor
  public var weight: Float
}

/// A per-layer statistic recorded during a forward pass, for figures and tables (expert load,
/// dropped tokens, attended-key fraction, …).
public struct LayerStatistic: Sendable {
  public var name: String
  public var layer: String
  public var values: [Double]

  public init(name: String, layer: String, values: [Double]) {
    (self.name, self.layer, self.values) = (name, layer, values)
  }
}

/// Per-call choices of a forward pass.
public struct ForwardOptions: Sendable {
  /// A training pass: router jitter is drawn, and loss-free balancing counts the experts' loads
  /// for the update after the optimizer step; module gates are Gumbel-softmax straight-through
  /// gates (every module runs), not hard decisions that skip. ``Objective`` sets it; evaluation
  /// leaves it off.
  public var training: Bool
  /// The optimizer step of a training pass (the gates' temperature and noise stream).
  public var step: Int
  /// One context id per sequence (task, language) for a gate predictor that reads them.
  public var contexts: [Int]?
  /// Early exit at inference: examples leave at the first exit head where they are confident
  /// enough, and the blocks after it never see them (``ModelOutput/exitLayers``).
  public var exit: ExitPolicy?
  /// Every exit head's logits for every example (``ModelOutput/exitLogits``): what
  /// ``Objective/earlyExit(weights:)`` trains.
  public var exitHeads: Bool

  public init(
    training: Bool = false, step: Int = 0, contexts: [Int]? = nil, exit: ExitPolicy? = nil, exitHeads: Bool = false
  ) {
    self.training = training
    self.step = step
    self.contexts = contexts
    self.exit = exit
    self.exitHeads = exitHeads
  }
}

/// What a forward pass carries through the layers: the direction, per-call options, the path of
/// the layer running, and what layers report back (auxiliary losses, statistics).
public struct ForwardContext {
  public var direction: Direction
  public var options: ForwardOptions
  /// Dotted path of the layer running now (`"layers.2.mixer"`); set by the model.
  public var layer: String
  public private(set) var auxiliaryLosses: [AuxiliaryLoss] = []
  public private(set) var statistics: [LayerStatistic] = []

  public init(direction: Direction = .causal, options: ForwardOptions = ForwardOptions(), layer: String = "") {
    self.direction = direction
    self.options = options
    self.layer = layer
  }

  /// Adds an auxiliary loss of the running layer.
  public mutating func addLoss(_ name: String, _ value: Tensor, weight: Float) {
    auxiliaryLosses.append(AuxiliaryLoss(name: name, layer: layer, value: value, weight: weight))
  }

  /// Records a statistic of the running layer.
  public mutating func record(_ name: String, _ values: [Double]) {
    statistics.append(LayerStatistic(name: name, layer: layer, values: values))
  }
}

/// The result of a model's forward pass: logits, the auxiliary losses and the statistics the
/// layers reported.
public struct ModelOutput {
  /// The first head's logits: `[B, T, vocabulary]` for a language-model head.
  public var logits: Tensor
  public var auxiliaryLosses: [AuxiliaryLoss]
  public var statistics: [LayerStatistic]
  /// Each exit head's logits `[B, T, vocabulary]`, in block order, when the pass asked for them
  /// (``ForwardOptions/exitHeads``).
  public var exitLogits: [Tensor] = []
  /// Under an ``ExitPolicy``: the blocks each example ran (1-based: the block it exited after, or
  /// every block).
  public var exitLayers: [Int]? = nil
  /// Every head's logits by name (``HeadSpec/name``): `[B, T, vocabulary]` for the language-model
  /// head, `[B, classes]` for a sequence head, `[B, T, classes]` for a token head.
  public var heads: [String: Tensor] = [:]

  public init(
    logits: Tensor, auxiliaryLosses: [AuxiliaryLoss] = [], statistics: [LayerStatistic] = [], exitLogits: [Tensor] = [],
    exitLayers: [Int]? = nil, heads: [String: Tensor] = [:]
  ) {
    self.logits = logits
    self.auxiliaryLosses = auxiliaryLosses
    self.statistics = statistics
    self.exitLogits = exitLogits
    self.exitLayers = exitLayers
    self.heads = heads
  }

  /// `Σ weight × loss` over the auxiliary losses; nil when there are none.
  public var weightedAuxiliaryLoss: Tensor? {
    auxiliaryLosses.reduce(nil as Tensor?) { total, loss in
      let term = loss.value * loss.weight
      return total.map { $0 + term } ?? term
    }
  }
}
