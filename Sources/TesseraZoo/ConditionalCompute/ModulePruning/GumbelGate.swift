import TesseraCore

/// Binary keep/skip gates trained with the Gumbel-softmax (Jang et al., 2017; Maddison et al.,
/// 2017), as the module-pruning gate predictor of Someki et al. ("Context-aware Dynamic Pruning for
/// Speech Foundation Models", ICLR 2025) uses them. Logits `[…, 2]` per gated module (class 1 =
/// keep, "gate on"); with Gumbel noise g:
///
///     soft:  y = softmax((logits + g) / τ)
///     hard:  y = onehot(argmax y) − sg(y) + y      (exactly 0/1 forward, the soft gradient backward)
///     sparsity = 1 − mean(y_hard[…, 1])            (the fraction of modules skipped)
///     loss = (sparsity − target)²  or  |sparsity − target|   (``SparsityPenalty``)
///
/// At inference the decision is the argmax of the logits (no noise) and a skipped module is not run.
public enum GumbelGate {
  /// Which sparsity loss drives the skipped fraction to its target. The paper reports that the
  /// squared term was needed.
  public enum SparsityPenalty: String, Codable, Sendable, CaseIterable {
    case squared
    case absolute
    case both
  }

  /// Gumbel(0, 1) noise of `shape`: −log(E), E ~ Exp(1) (as torch draws it: −log(−log U) would be the
  /// same law).
  public static func noise(_ shape: [Int], generator: inout RandomGenerator) -> Tensor {
    generator.gumbel(shape)
  }

  /// softmax((logits + noise) / τ) over the last axis.
  public static func soft(logits: Tensor, noise: Tensor, temperature: Float) -> Tensor {
    check(temperature > 0, "GumbelGate: the temperature must be positive, got \(temperature)")
    return ((logits + noise) / temperature).softmax(axis: -1)
  }

  /// The straight-through hard gate from soft probabilities `[…, C]`: the one-hot of the largest
  /// (first on ties), with the soft probabilities' gradient.
  public static func hard(_ soft: Tensor) -> Tensor {
    let classes = soft.shape.last!
    let choice = oneHot(soft.detached().argmax(axis: -1), classes: classes)
    return choice - soft.detached() + soft
  }

  /// 1 − mean of the keep column (`[…, 1]`) of gates `[…, 2]`: the fraction skipped.
  public static func sparsity(_ gates: Tensor) -> Tensor {
    check(gates.shape.last == 2, "GumbelGate.sparsity: gates must be [..., 2], got \(gates.shape)")
    return 1 - gates.select(axis: gates.rank - 1, index: 1).mean()
  }

  /// The penalty on `sparsity` (a scalar) away from `target`.
  public static func sparsityLoss(_ sparsity: Tensor, target: Float, penalty: SparsityPenalty) -> Tensor {
    let gap = sparsity - target
    switch penalty {
    case .squared: return gap.square()
    case .absolute: return gap.abs()
    case .both: return gap.square() + gap.abs()
    }
  }
}

extension GumbelGate.SparsityPenalty {
  /// Decoded from its name; any other string is refused with the names allowed.
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
