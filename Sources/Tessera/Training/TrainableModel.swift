import TesseraCore

/// A model ``train(_:on:objective:settings:label:)`` can train: a ``Module`` that turns a batch
/// and an ``Objective`` into a differentiable loss and scores held-out batches. The language model
/// is one; models that are not built from a ``ModelSpec`` (a graph model, a mixture of tiny
/// expert models) are others, and reuse the optimizer, the schedule, frozen parameters, progress
/// and the training result.
public protocol TrainableModel: Module {
  /// The model's name in progress lines and results.
  var label: String { get }
  /// The training loss of `batch` at optimizer step `step` (objective plus weighted auxiliary
  /// losses) and the statistics the pass recorded.
  func trainingLoss(_ batch: TokenBatch, objective: Objective, step: Int) -> (
    loss: Tensor, statistics: [LayerStatistic]
  )
  /// The loss of a held-out batch and the correct and scored answers of each head (`"lm"`: the
  /// next-token answers), without gradients.
  func evaluationScore(_ batch: TokenBatch, objective: Objective) -> (
    loss: Double, answers: [String: (correct: Int, total: Int)]
  )
  /// Checks, before the first step, that the model can be trained toward `objective` on `task`
  /// (fails with a message naming the problem).
  func checkTraining(on task: SequenceTask, objective: Objective)
  /// Called after every optimizer step (updates outside the gradient: loss-free balancing).
  func finishTrainingStep()
}

extension TrainableModel {
  public func checkTraining(on task: SequenceTask, objective: Objective) {}
  public func finishTrainingStep() {}
}

extension LanguageModel: TrainableModel {
  public func trainingLoss(_ batch: TokenBatch, objective: Objective, step: Int) -> (
    loss: Tensor, statistics: [LayerStatistic]
  ) {
    let pass = objective.loss(
      self, inputs: batch.inputs, targets: batch.targets, step: step, contexts: batch.contexts, labels: batch.labels)
    return (pass.total, pass.output.statistics)
  }

  public func evaluationScore(_ batch: TokenBatch, objective: Objective) -> (
    loss: Double, answers: [String: (correct: Int, total: Int)]
  ) {
    withoutGradients {
      let scored = scoredOutput(
        forward(batch.inputs, options: ForwardOptions(contexts: batch.contexts)), batch, objective: objective)
      return (Double(scored.loss.scalar), scored.answers)
    }
  }

  public func checkTraining(on task: SequenceTask, objective: Objective) {
    if case .maskedDiffusion(let diffusion) = objective {
      do { try diffusion.check(self, taskVocabulary: task.vocabularySize) } catch {
        checkFailed("train: a masked-diffusion objective: \(error)")
      }
    }
  }
}
