import TesseraCore

/// The next-token loss and answers of `output` on `batch`, or under a classification objective
/// the named heads' loss and answers.
func scoredOutput(_ output: ModelOutput, _ batch: TokenBatch, objective: Objective) -> (
  loss: Tensor, answers: [String: (correct: Int, total: Int)]
) {
  if case .classification(let heads) = objective {
    let loss = Objective.classificationLoss(heads: heads, logits: output.heads, labels: batch.labels)
    return (loss, Objective.headAccuracies(logits: output.heads, labels: batch.labels.filter { heads[$0.key] != nil }))
  }
  let loss = crossEntropy(output.logits, targets: batch.targets, ignoreIndex: TokenBatch.ignored)
  let scored = batch.scoredCount
  let correct = Int((answerAccuracy(logits: output.logits, targets: batch.targets) * Double(scored)).rounded())
  return (loss, ["lm": (correct, scored)])
}

/// Refuses an objective other than `.nextToken` and `.classification`, naming the model.
func checkNextTokenOrClassification(_ objective: Objective, _ label: String) {
  switch objective {
  case .nextToken, .classification: break
  default: checkFailed("train: \(label) trains toward .nextToken or .classification, not \(objective)")
  }
}

extension GraphPairClassifier: TrainableModel {
  public var label: String { "gnn pairs (\(encoder.spec.layer.rawValue))" }

  public func trainingLoss(_ batch: TokenBatch, objective: Objective, step: Int) -> (
    loss: Tensor, statistics: [LayerStatistic]
  ) {
    (scoredOutput(output(batch), batch, objective: objective).loss, [])
  }

  public func evaluationScore(_ batch: TokenBatch, objective: Objective) -> (
    loss: Double, answers: [String: (correct: Int, total: Int)]
  ) {
    withoutGradients {
      let scored = scoredOutput(output(batch), batch, objective: objective)
      return (Double(scored.loss.scalar), scored.answers)
    }
  }

  public func checkTraining(on task: SequenceTask, objective: Objective) {
    guard case .classification(let heads) = objective, heads.keys.sorted() == [head] else {
      checkFailed("train: \(label) trains toward .classification(heads: [\"\(head)\": 1]), not \(objective)")
    }
  }

  func output(_ batch: TokenBatch) -> ModelOutput {
    let logits = self(batch.inputs)
    return ModelOutput(logits: logits, auxiliaryLosses: [], statistics: [], heads: [head: logits])
  }
}

extension GraphPrefixLanguageModel: TrainableModel {
  public func trainingLoss(_ batch: TokenBatch, objective: Objective, step: Int) -> (
    loss: Tensor, statistics: [LayerStatistic]
  ) {
    let output = forward(batch.inputs, options: ForwardOptions(training: true, step: step))
    let loss = scoredOutput(output, batch, objective: objective).loss
    return (output.weightedAuxiliaryLoss.map { loss + $0 } ?? loss, output.statistics)
  }

  public func evaluationScore(_ batch: TokenBatch, objective: Objective) -> (
    loss: Double, answers: [String: (correct: Int, total: Int)]
  ) {
    withoutGradients {
      let scored = scoredOutput(forward(batch.inputs), batch, objective: objective)
      return (Double(scored.loss.scalar), scored.answers)
    }
  }

  public func checkTraining(on task: SequenceTask, objective: Objective) {
    checkNextTokenOrClassification(objective, label)
  }

  public func finishTrainingStep() { language.finishTrainingStep() }
}

extension TinyExpertMixture: TrainableModel {
  /// The answers' cross-entropy under the mixture, plus `routerLossWeight ×` the router's
  /// cross-entropy toward the batch's `"expert"` labels where it has them; each expert's share of
  /// the queries recorded as `router.expert_load`.
  public func trainingLoss(_ batch: TokenBatch, objective: Objective, step: Int) -> (
    loss: Tensor, statistics: [LayerStatistic]
  ) {
    let pass = forward(batch.inputs)
    var loss = crossEntropy(pass.logProbabilities, targets: batch.targets, ignoreIndex: TokenBatch.ignored)
    if let labels = batch.labels["expert"], spec.routerLossWeight > 0 {
      loss = loss + crossEntropy(pass.routerLogits, targets: labels) * Float(spec.routerLossWeight)
    }
    let load = (0..<experts.count).map { e in
      Double(pass.experts.filter { $0.contains(e) }.count) / Double(max(1, batch.batchSize))
    }
    return (loss, [LayerStatistic(name: "expert_load", layer: "router", values: load)])
  }

  public func evaluationScore(_ batch: TokenBatch, objective: Objective) -> (
    loss: Double, answers: [String: (correct: Int, total: Int)]
  ) {
    withoutGradients {
      let pass = forward(batch.inputs)
      let output = ModelOutput(logits: pass.logProbabilities, auxiliaryLosses: [], statistics: [])
      let scored = scoredOutput(output, batch, objective: .nextToken)
      var answers = scored.answers
      if let labels = batch.labels["expert"] {
        let right = zip(pass.experts, labels.values).filter { $0.first == $1 }.count
        answers["router"] = (right, labels.count)
      }
      return (Double(scored.loss.scalar), answers)
    }
  }

  public func checkTraining(on task: SequenceTask, objective: Objective) {
    guard case .nextToken = objective else {
      checkFailed(
        "train: \(label) trains toward .nextToken (its router toward the \"expert\" labels), not \(objective)")
    }
  }
}
