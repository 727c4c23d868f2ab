import TesseraZoo

/// Calibrating an early-exit threshold on held-out data: at each candidate threshold, the answer
/// accuracy and the mean number of blocks run when the model exits under that policy, and the
/// lowest threshold whose accuracy stays within `tolerance` of running every block.
public struct ExitCalibration: Sendable {
  /// One candidate: its threshold, the accuracy at the scored positions, the mean blocks run.
  public struct Point: Sendable {
    public var threshold: Float
    public var accuracy: Double
    public var meanExitLayer: Double
  }

  /// Accuracy with every block run.
  public let fullAccuracy: Double
  public let points: [Point]
  /// The lowest threshold within `tolerance` of `fullAccuracy` (nil: none was).
  public let chosen: Point?

  /// Scores `model` on `batches` (their answers at `position`, nil: the last) under each of
  /// `thresholds` with `measure`.
  public init(
    _ model: LanguageModel, batches: [TokenBatch], measure: ExitConfidence = .softmaxMax, thresholds: [Float],
    position: Int? = nil, tolerance: Double = 0.01
  ) {
    func score(_ policy: ExitPolicy?) -> (accuracy: Double, layers: Double) {
      var correct = 0.0, total = 0.0, layers = 0.0, examples = 0.0
      for batch in batches {
        let output = withoutGradients { model.forward(batch.inputs, options: ForwardOptions(exit: policy)) }
        let scored = Double(batch.scoredCount)
        correct += answerAccuracy(logits: output.logits, targets: batch.targets) * scored
        total += scored
        let exits = output.exitLayers ?? Array(repeating: model.layers.count, count: batch.inputs.shape[0])
        layers += Double(exits.reduce(0, +))
        examples += Double(exits.count)
      }
      return (correct / max(total, 1), layers / max(examples, 1))
    }
    let full = score(nil).accuracy
    let points = thresholds.sorted().map { threshold in
      let s = score(ExitPolicy(measure: measure, threshold: threshold, position: position))
      return Point(threshold: threshold, accuracy: s.accuracy, meanExitLayer: s.layers)
    }
    fullAccuracy = full
    self.points = points
    chosen = points.first { $0.accuracy >= full - tolerance }
  }
}
