import TesseraCore

/// What a model is trained to do: the loss of one batch. The total loss is the objective's plus
/// `Σ weight × auxiliary loss` over what the layers reported (weights from their options).
public enum Objective: Sendable, Equatable {
  /// Cross-entropy of each next token where the target is not ``ignoredTarget``.
  case nextToken
  /// A masked-diffusion language model (a bidirectional model): the batch's `inputs` are the clean
  /// sequences, corrupted afresh at every step, and the model predicts the masked tokens (see
  /// ``MaskedDiffusionObjective``).
  case maskedDiffusion(MaskedDiffusionObjective)
  /// Early exit: `Σ_k weights[k] · CE(exit head k)` over the model's exit heads in block order,
  /// then `weights.last · CE(final head)` (the weighted loss of the early-exit BERTs and CALM's
  /// training); one weight per exit head and one for the final head.
  case earlyExit(weights: [Double])
  /// Knowledge distillation from a teacher (``DistillationObjective``: Hinton's loss at every
  /// scored position, optionally at every exit head).
  case distill(DistillationObjective)
  /// Multi-head classification: `Σ_h weight_h · CE(head h, labels[h])` over the named
  /// classification heads (``HeadSpec/classifier(_:_:classes:pooling:)``), the labels of each head
  /// given by name with the batch (``ignoredTarget`` where a position is not scored). Heads
  /// not named are not trained.
  case classification(heads: [String: Double])

  /// A target that does not count in the loss.
  public static let ignoredTarget = -100

  /// The training loss of `model` on `inputs` `[B, T]` against `targets` `[B, T]` (a training
  /// pass: see ``ForwardOptions/training``) at optimizer step `step` (the masked-diffusion
  /// corruption of each step is its own stream of the objective's seed), with one context id per
  /// sequence where the model's gate predictor reads them, and the classification heads' labels by
  /// head name.
  public func loss(
    _ model: LanguageModel, inputs: IndexTensor, targets: IndexTensor, step: Int = 0, contexts: [Int]? = nil,
    labels: [String: IndexTensor] = [:]
  ) -> (
    total: Tensor, objective: Tensor, output: ModelOutput
  ) {
    let output: ModelOutput
    let objective: Tensor
    switch self {
    case .nextToken:
      output = model.forward(inputs, options: ForwardOptions(training: true, step: step, contexts: contexts))
      objective = crossEntropy(output.logits, targets: targets, ignoreIndex: Self.ignoredTarget)
    case .maskedDiffusion(let diffusion):
      (objective, output) = diffusion.loss(model, inputs: inputs, targets: targets, step: step)
    case .earlyExit(let weights):
      (objective, output) = model.headWeightedLoss(
        inputs, weights: weights, step: step, contexts: contexts, objective: "Objective.earlyExit"
      ) { crossEntropy($0, targets: targets, ignoreIndex: Self.ignoredTarget) }
    case .distill(let distillation):
      (objective, output) = distillation.loss(model, inputs: inputs, targets: targets, step: step, contexts: contexts)
    case .classification(let heads):
      output = model.forward(inputs, options: ForwardOptions(training: true, step: step, contexts: contexts))
      objective = Self.classificationLoss(heads: heads, logits: output.heads, labels: labels)
    }
    let total = output.weightedAuxiliaryLoss.map { objective + $0 } ?? objective
    return (total, objective, output)
  }
}

extension Objective {
  /// `Σ_h weight_h · CE(logits[h], labels[h])` over `heads` in name order (the order the sum is
  /// taken in, so the bits do not depend on a dictionary's order). Fails naming the head when its
  /// logits or its labels are missing or its labels' shape is not the logits' without the class
  /// axis.
  public static func classificationLoss(
    heads: [String: Double], logits: [String: Tensor], labels: [String: IndexTensor]
  ) -> Tensor {
    check(!heads.isEmpty, "Objective.classification: name at least one head and its weight")
    var total: Tensor?
    for name in heads.keys.sorted() {
      guard let scores = logits[name] else {
        checkFailed(
          "Objective.classification: the model has no head \"\(name)\"; its heads are "
            + logits.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", "))
      }
      guard let target = labels[name] else {
        checkFailed(
          "Objective.classification: the batch has no labels for head \"\(name)\"; it has labels for "
            + (labels.isEmpty ? "no head" : labels.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")))
      }
      check(
        Array(scores.shape.dropLast()) == target.shape,
        "Objective.classification: head \"\(name)\" has logits \(scores.shape) but labels \(target.shape)")
      let term = crossEntropy(scores, targets: target, ignoreIndex: ignoredTarget) * Float(heads[name]!)
      total = total.map { $0 + term } ?? term
    }
    return total!
  }

  /// Accuracy of each head's arg-max over its scored labels (positions labelled
  /// ``ignoredTarget`` aside), by head name.
  public static func headAccuracies(logits: [String: Tensor], labels: [String: IndexTensor]) -> [String: (
    correct: Int, total: Int
  )] {
    var out: [String: (Int, Int)] = [:]
    for (name, target) in labels {
      guard let scores = logits[name] else { continue }
      let predicted = scores.detached().argmax(axis: -1).values
      var correct = 0, total = 0
      for (p, t) in zip(predicted, target.values) where t != ignoredTarget {
        total += 1
        if p == t { correct += 1 }
      }
      out[name] = (correct, total)
    }
    return out
  }
}

/// The masked-diffusion objective: LLaDA's loss (every token maskable), LLaDA's SFT loss (only
/// answer tokens maskable, the rest a prompt that is always seen) or MDLM's SUBS loss. A task's
/// batches are next-token batches; the clean sequence (``cleanSequence(inputs:targets:)``) is the
/// inputs with each scored next-token target written at the position it predicts: position `p ≥ 1`
/// holds `targets[p − 1]` where that target is scored (an *answer*: the tokens the evaluation
/// fills in), `inputs[p]` elsewhere. For language modelling that is the inputs themselves; for a
/// recall task it puts each answer where the input has only a placeholder.
///
/// `maskID` is the `[MASK]` token: a token of the model's vocabulary that the task never uses
/// (a vocabulary of `task + 1`, the mask last). The model must be bidirectional.
public struct MaskedDiffusionObjective: Sendable, Equatable, Codable {
  public enum Loss: String, Sendable, Equatable, Codable {
    case llada, lladaSFT, mdlm
  }

  public var loss: Loss
  public var maskID: Int
  /// The corruption's stream: step `n` draws from `RandomGenerator(seed).fork("masked-diffusion").fork(n)`.
  public var seed: UInt64

  public init(loss: Loss = .llada, maskID: Int, seed: UInt64 = 0) {
    (self.loss, self.maskID, self.seed) = (loss, maskID, seed)
  }

  /// The clean sequences `[B, T]` of a next-token batch (see the type's description).
  public static func cleanSequence(inputs: IndexTensor, targets: IndexTensor) -> IndexTensor {
    let (b, t) = (inputs.shape[0], inputs.shape[1])
    var out = inputs.values
    for row in 0..<b {
      for p in 1..<max(1, t) where targets.values[row * t + p - 1] != Objective.ignoredTarget {
        out[row * t + p] = targets.values[row * t + p - 1]
      }
    }
    return IndexTensor(out, shape: inputs.shape)
  }

  /// Which positions of the clean sequence are answers (see the type's description).
  public static func answers(targets: IndexTensor) -> [Bool] {
    let (b, t) = (targets.shape[0], targets.shape[1])
    var out = [Bool](repeating: false, count: b * t)
    for row in 0..<b {
      for p in 1..<max(1, t) where targets.values[row * t + p - 1] != Objective.ignoredTarget {
        out[row * t + p] = true
      }
    }
    return out
  }

  /// Checks that `model` can be trained with this objective: bidirectional, with `maskID` in its
  /// vocabulary and outside the task's tokens (`taskVocabulary`).
  public func check(_ model: LanguageModel, taskVocabulary: Int) throws {
    if model.spec.direction != .bidirectional {
      throw ModelSpecError(
        "direction",
        "is causal, but a masked-diffusion model predicts each masked token from both sides: build it with "
          + "direction .bidirectional")
    }
    if maskID < taskVocabulary || maskID >= model.spec.vocabulary {
      throw ModelSpecError(
        "vocabulary",
        "\(model.spec.vocabulary) must hold the [MASK] token \(maskID) beside the task's \(taskVocabulary) tokens "
          + "(e.g. a vocabulary of \(taskVocabulary + 1) with the mask last)")
    }
  }

  func loss(_ model: LanguageModel, inputs: IndexTensor, targets: IndexTensor, step: Int) -> (Tensor, ModelOutput) {
    let (b, t) = (inputs.shape[0], inputs.shape[1])
    let clean = Self.cleanSequence(inputs: inputs, targets: targets)
    var generator = RandomGenerator(seed: seed).fork("masked-diffusion").fork(step)
    let corruptible = loss == .lladaSFT ? Self.answers(targets: targets) : nil
    let tValues = generator.uniform([b]).scalars
    let draws = generator.uniform([b, t]).scalars
    // LLaDA's p = (1 − ε)t + ε; MDLM's move chance (1 − ε)t with weight 1/t, t = (1 − ε)u + ε.
    let times = loss == .mdlm ? tValues.map { (1 - MaskedDiffusion.epsilon) * $0 + MaskedDiffusion.epsilon } : tValues
    let rates =
      loss == .mdlm ? times.map { (1 - MaskedDiffusion.epsilon) * $0 } : MaskedDiffusion.maskProbability(t: times)
    var noisy = clean.values
    var masked = [Float](repeating: 0, count: b * t)
    for i in 0..<(b * t) where draws[i] < rates[i / t] && (corruptible?[i] ?? true) {
      noisy[i] = maskID
      masked[i] = 1
    }
    let output = model.forward(IndexTensor(noisy, shape: [b, t]), options: ForwardOptions(training: true, step: step))
    let mask = Tensor(masked, shape: [b, t])
    switch loss {
    case .llada:
      return (lladaLoss(logits: output.logits, targets: clean, masked: mask, maskProbability: rates), output)
    case .mdlm:
      return (
        mdlmLoss(logits: output.logits, targets: clean, masked: mask, weights: times.map { 1 / $0 }, maskID: maskID),
        output
      )
    case .lladaSFT:
      // Each sequence divided by its own answer count (LLaDA's L − prompt length), then by B.
      let answerCounts = (0..<b).map { row in max(1, (0..<t).filter { corruptible![row * t + $0] }.count) }
      let weights = (0..<(b * t)).map { i in
        masked[i] == 0 ? 0 : 1 / rates[i / t] / Float(answerCounts[i / t]) / Float(b)
      }
      return (weightedCrossEntropySum(output.logits, targets: clean, weights: weights), output)
    }
  }
}

extension LanguageModel {
  /// Mean cross-entropy of next-token predictions where `targets` is not `ignoreIndex`.
  public func loss(_ tokens: IndexTensor, targets: IndexTensor, ignoreIndex: Int = Objective.ignoredTarget) -> Tensor {
    crossEntropy(self(tokens), targets: targets, ignoreIndex: ignoreIndex)
  }
}
