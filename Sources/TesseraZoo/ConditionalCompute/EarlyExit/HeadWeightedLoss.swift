import TesseraCore

extension LanguageModel {
  /// A training pass scored at every head: `Σ_k weights[k] · loss(logits of head k)` over the exit
  /// heads in block order, then the final head — one weight each (`objective` names the caller in
  /// the message when they do not match); with `weights` nil, the final head's loss alone. What
  /// ``Objective/earlyExit(weights:)`` and a distillation with head weights share.
  func headWeightedLoss(
    _ inputs: IndexTensor, weights: [Double]?, step: Int, contexts: [Int]?, objective: String,
    _ loss: (Tensor) -> Tensor
  ) -> (loss: Tensor, output: ModelOutput) {
    if let weights {
      check(
        weights.count == exits.count + 1,
        "\(objective): \(weights.count) head weights for \(exits.count) exit heads and the final head (give \(exits.count + 1))"
      )
    }
    let output = forward(
      inputs, options: ForwardOptions(training: true, step: step, contexts: contexts, exitHeads: weights != nil))
    guard let weights else { return (loss(output.logits), output) }
    let total = zip(output.exitLogits + [output.logits], weights).map { logits, weight in loss(logits) * Float(weight) }
      .reduce(Tensor.zeros([]), +)
    return (total, output)
  }
}
