import Foundation

/// Settings of ``train(_:on:settings:label:)``.
public struct TrainingSettings: Codable, Sendable {
  public var steps: Int
  public var batchSize: Int
  /// Peak learning rate of the warmup + cosine schedule.
  public var learningRate: Float
  public var warmupSteps: Int
  /// The learning rate at the last step, as a fraction of the peak.
  public var finalLearningRateFraction: Float
  public var weightDecay: Float
  public var beta2: Float
  /// Clip gradients to this global norm (nil: no clipping).
  public var gradientClip: Float?
  public var evaluateEvery: Int
  public var evaluationBatches: Int
  /// Print a progress line every this many steps in a notebook (a live bar on a terminal).
  public var logEvery: Int
  /// Stop early once an evaluation reaches this accuracy.
  public var targetAccuracy: Double?
  /// Parameters left as they are, by dotted-name prefix (`"layers.0.channel.experts.1."`): the
  /// optimizer never moves them and they do not count in the gradient's clipping norm. Every
  /// prefix must name at least one parameter.
  public var frozenParameters: [String]

  public init(
    steps: Int, batchSize: Int = 32, learningRate: Float = 1e-3, warmupSteps: Int? = nil,
    finalLearningRateFraction: Float = 0.1, weightDecay: Float = 0.1, beta2: Float = 0.99, gradientClip: Float? = 1,
    evaluateEvery: Int? = nil, evaluationBatches: Int = 4, logEvery: Int? = nil, targetAccuracy: Double? = nil,
    frozenParameters: [String] = []
  ) {
    self.steps = steps
    self.batchSize = batchSize
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps ?? max(1, steps / 20)
    self.finalLearningRateFraction = finalLearningRateFraction
    self.weightDecay = weightDecay
    self.beta2 = beta2
    self.gradientClip = gradientClip
    self.evaluateEvery = evaluateEvery ?? max(1, steps / 10)
    self.evaluationBatches = evaluationBatches
    self.logEvery = logEvery ?? max(1, steps / 10)
    self.targetAccuracy = targetAccuracy
    self.frozenParameters = frozenParameters
  }
}

/// Trains `model` on `task` toward `objective` with AdamW and a warmup + cosine schedule; the loss
/// minimised is the objective's plus `Σ weight × auxiliary loss` of the layers. After each
/// optimizer step the layers that update themselves outside the gradient do so
/// (``LanguageModel/finishTrainingStep()``: loss-free balancing); the layers' statistics are kept at
/// every evaluation step (``TrainingResult/statistics``). Evaluates on
/// held-out batches every `evaluateEvery` steps (loss and answer accuracy). Batches come from the
/// task's seeded stream, so a run is reproducible bit for bit. Shows progress (a live bar on a
/// terminal, a line every `logEvery` steps in a notebook) and returns the curves and timings.
public func train<Model: TrainableModel>(
  _ model: Model, on task: SequenceTask, objective: Objective = .nextToken, settings: TrainingSettings,
  label: String? = nil
) -> TrainingResult {
  let optimizer = AdamW(learningRate: settings.learningRate, beta2: settings.beta2, weightDecay: settings.weightDecay)
  let names = model.namedParameters().map(\.name)
  for prefix in settings.frozenParameters {
    check(
      names.contains { $0.hasPrefix(prefix) },
      "train: frozenParameters: \"\(prefix)\" is the prefix of no parameter of \(model.label) (they are named like \"\(names.first ?? "")\")"
    )
  }
  model.checkTraining(on: task, objective: objective)
  let frozen = Set(names.filter { name in settings.frozenParameters.contains { name.hasPrefix($0) } })
  optimizer.isFrozen = { frozen.contains($0) }
  let schedule = WarmupCosineSchedule(
    peak: settings.learningRate, warmupSteps: settings.warmupSteps, totalSteps: settings.steps,
    floor: settings.learningRate * settings.finalLearningRateFraction)
  let name = label ?? model.label
  var result = TrainingResult(
    label: name, losses: [], evaluations: [], parameterCount: model.parameterCount, wallSeconds: 0, tokensPerSecond: 0)
  let progress = TrainingProgress(label: name, steps: settings.steps, every: settings.logEvery)
  let start = Date()
  var tokens = 0
  for step in 0..<settings.steps {
    let batch = task.batch(step, size: settings.batchSize)
    var statistics: [LayerStatistic] = []
    var (loss, gradients) = valueAndGradient(of: model) {
      let pass = $0.trainingLoss(batch, objective: objective, step: step)
      statistics = pass.statistics
      return pass.loss
    }
    for name in frozen { gradients[name] = nil }
    if let clip = settings.gradientClip { gradients = clipByGlobalNorm(gradients, maxNorm: clip).gradients }
    optimizer.learningRate = schedule.learningRate(at: step)
    optimizer.update(model, gradients: gradients)
    model.finishTrainingStep()
    tokens += batch.batchSize * batch.length
    result.losses.append(Double(loss.scalar))
    let done = step + 1
    var reached = false
    if done % settings.evaluateEvery == 0 || done == settings.steps {
      let evaluation = evaluate(
        model, on: task, batches: settings.evaluationBatches, size: settings.batchSize, objective: objective)
      result.evaluations.append(.init(step: done, loss: evaluation.loss, accuracy: evaluation.accuracy))
      if !statistics.isEmpty {
        result.statistics.append(
          .init(
            step: done,
            values: Dictionary(statistics.map { ("\($0.layer).\($0.name)", $0.values) }) { first, _ in first }))
      }
      reached = settings.targetAccuracy.map { evaluation.accuracy >= $0 } ?? false
    }
    let elapsed = Date().timeIntervalSince(start)
    progress.update(
      step: done, loss: Double(loss.scalar), tokensPerSecond: Double(tokens) / elapsed, elapsed: elapsed,
      evaluation: result.evaluations.last.flatMap { $0.step == done ? $0 : nil }, final: reached)
    if reached { break }
  }
  result.wallSeconds = Date().timeIntervalSince(start)
  result.tokensPerSecond = Double(tokens) / result.wallSeconds
  progress.finish()
  return result
}

/// Mean loss and answer accuracy of `model` over `batches` held-out batches of `task`: the
/// accuracy of each head over its scored answers, averaged over the heads (one head, `"lm"`, for
/// next-token answers; see ``headAccuracies(_:on:batches:size:objective:)``). For a
/// masked-diffusion objective: every answer token masked at once (the rest of the sequence seen),
/// one forward pass, the cross-entropy and arg-max accuracy of the answers.
public func evaluate<Model: TrainableModel>(
  _ model: Model, on task: SequenceTask, batches: Int, size: Int, objective: Objective = .nextToken
) -> (loss: Double, accuracy: Double) {
  if case .maskedDiffusion(let diffusion) = objective, let model = model as? LanguageModel {
    return evaluateMaskedAnswers(model, on: task, batches: batches, size: size, maskID: diffusion.maskID)
  }
  let (loss, accuracies) = scoreHeads(model, on: task, batches: batches, size: size, objective: objective)
  return (
    loss,
    accuracies.isEmpty ? 0 : accuracies.keys.sorted().reduce(0) { $0 + accuracies[$1]! } / Double(accuracies.count)
  )
}

/// Each head's answer accuracy over `batches` held-out batches of `task`, by head name.
public func headAccuracies<Model: TrainableModel>(
  _ model: Model, on task: SequenceTask, batches: Int, size: Int, objective: Objective = .nextToken
) -> [String: Double] {
  scoreHeads(model, on: task, batches: batches, size: size, objective: objective).accuracies
}

func scoreHeads<Model: TrainableModel>(
  _ model: Model, on task: SequenceTask, batches: Int, size: Int, objective: Objective
) -> (loss: Double, accuracies: [String: Double]) {
  var loss = 0.0
  var counts: [String: (correct: Int, total: Int)] = [:]
  for i in 0..<batches {
    let score = model.evaluationScore(task.evaluationBatch(i, size: size), objective: objective)
    loss += score.loss
    for (head, answers) in score.answers {
      let sum = counts[head] ?? (0, 0)
      counts[head] = (sum.correct + answers.correct, sum.total + answers.total)
    }
  }
  return (
    loss / Double(max(1, batches)),
    counts.mapValues { $0.total > 0 ? Double($0.correct) / Double($0.total) : 0 }
  )
}

/// ``evaluate(_:on:batches:size:objective:)`` for a masked-diffusion model.
func evaluateMaskedAnswers(_ model: LanguageModel, on task: SequenceTask, batches: Int, size: Int, maskID: Int) -> (
  loss: Double, accuracy: Double
) {
  withoutGradients {
    var loss = 0.0, correct = 0, total = 0
    for i in 0..<batches {
      let batch = task.evaluationBatch(i, size: size)
      let answers = MaskedDiffusionObjective.answers(targets: batch.targets)
      var masked = MaskedDiffusionObjective.cleanSequence(inputs: batch.inputs, targets: batch.targets).values
      var targets = [Int](repeating: Objective.ignoredTarget, count: masked.count)
      for (index, isAnswer) in answers.enumerated() where isAnswer {
        targets[index] = masked[index]
        masked[index] = maskID
      }
      let logits = model(IndexTensor(masked, shape: batch.inputs.shape))
      let scored = IndexTensor(targets, shape: batch.inputs.shape)
      let counted = targets.filter { $0 != Objective.ignoredTarget }.count
      loss += Double(crossEntropy(logits, targets: scored, ignoreIndex: Objective.ignoredTarget).scalar)
      for (p, t) in zip(logits.argmax(axis: -1).values, targets) where t != Objective.ignoredTarget && p == t {
        correct += 1
      }
      total += counted
    }
    return (loss / Double(max(1, batches)), total > 0 ? Double(correct) / Double(total) : 0)
  }
}

/// Progress of a training run: a live bar redrawn in place on a terminal, or one line every
/// `every` steps when the output is not a terminal (a notebook, a log file).
final class TrainingProgress {
  let label: String
  let steps: Int
  let every: Int
  let live: Bool

  init(label: String, steps: Int, every: Int) {
    self.label = label
    self.steps = steps
    self.every = every
    live = !_NotebookChannel.isAttached && isatty(STDERR_FILENO) == 1
  }

  func update(
    step: Int, loss: Double, tokensPerSecond: Double, elapsed: Double, evaluation: TrainingResult.Evaluation?,
    final: Bool
  ) {
    let eta = elapsed / Double(step) * Double(steps - step)
    let stats =
      String(format: "loss %.4f  %@ tok/s  eta %@", loss, Self.count(tokensPerSecond), Self.duration(eta) as NSString)
      + (evaluation.map { String(format: "  eval %.4f / %.1f%%", $0.loss, 100 * $0.accuracy) } ?? "")
    if live {
      let width = 24
      let filled = width * step / max(1, steps)
      let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
      FileHandle.standardError.write(Data("\r\(label) \(bar) \(step)/\(steps)  \(stats)\u{1B}[K".utf8))
    } else if step % every == 0 || step == steps || evaluation != nil || final {
      print("\(label) step \(step)/\(steps)  \(stats)")
    }
  }

  func finish() {
    if live { FileHandle.standardError.write(Data("\n".utf8)) }
  }

  static func count(_ x: Double) -> String {
    x >= 1e6
      ? String(format: "%.2fM", x / 1e6) : x >= 1e3 ? String(format: "%.1fk", x / 1e3) : String(format: "%.0f", x)
  }

  static func duration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    return s >= 3600
      ? String(format: "%dh%02dm", Int(s) / 3600, Int(s) % 3600 / 60)
      : s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.0fs", s)
  }
}
