import TesseraCore

/// What a model is trained to do: the loss of one batch. The total loss is the objective's plus
/// `Σ weight × auxiliary loss` over what the layers reported (weights from their options).
public enum Objective: Sendable, Equatable {
  /// Cross-entropy of each next token where the target is not ``ignoredTarget``.
  case nextToken

  /// A target that does not count in the loss.
  public static let ignoredTarget = -100

  /// The training loss of `model` on `inputs` `[B, T]` against `targets` `[B, T]` (a training
  /// pass: see ``ForwardOptions/training``).
  public func loss(_ model: LanguageModel, inputs: IndexTensor, targets: IndexTensor) -> (
    total: Tensor, objective: Tensor, output: ModelOutput
  ) {
    switch self {
    case .nextToken:
      let output = model.forward(inputs, options: ForwardOptions(training: true))
      let objective = crossEntropy(output.logits, targets: targets, ignoreIndex: Self.ignoredTarget)
      let total = output.weightedAuxiliaryLoss.map { objective + $0 } ?? objective
      return (total, objective, output)
    }
  }
}

extension LanguageModel {
  /// Mean cross-entropy of next-token predictions where `targets` is not `ignoreIndex`.
  public func loss(_ tokens: IndexTensor, targets: IndexTensor, ignoreIndex: Int = Objective.ignoredTarget) -> Tensor {
    crossEntropy(self(tokens), targets: targets, ignoreIndex: ignoreIndex)
  }
}
