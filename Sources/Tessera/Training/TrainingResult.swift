import Foundation

/// What a training run produced: the loss at every step, the evaluations, and how fast it ran.
/// Tables (`display(result)`) and figures (``plotLossCurves(_:)``) take it directly.
public struct TrainingResult: Codable, Sendable {
  /// One evaluation on held-out batches.
  public struct Evaluation: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var accuracy: Double
  }

  /// The statistics the layers reported in the training pass of one step (expert loads, dropped
  /// tokens, attended-key fractions), keyed `"<layer path>.<name>"`: `"layers.0.channel.expert_load"`.
  public struct StatisticsSnapshot: Codable, Sendable {
    public var step: Int
    public var values: [String: [Double]]
  }

  public var label: String
  /// Training loss after each step (index = step − 1).
  public var losses: [Double]
  public var evaluations: [Evaluation]
  /// The layers' statistics at every evaluation step (from that step's training pass).
  public var statistics: [StatisticsSnapshot] = []
  public var parameterCount: Int
  public var wallSeconds: Double
  public var tokensPerSecond: Double

  /// The last evaluation's accuracy (0 when there was none).
  public var finalAccuracy: Double { evaluations.last?.accuracy ?? 0 }
  public var finalLoss: Double { evaluations.last?.loss ?? losses.last ?? .nan }
  /// One statistic over training: its values at each snapshot step that has it
  /// (`series("layers.0.channel.expert_load")`).
  public func series(_ key: String) -> [(step: Int, values: [Double])] {
    statistics.compactMap { snapshot in snapshot.values[key].map { (snapshot.step, $0) } }
  }

  /// The first step whose evaluation reached `accuracy`, if any.
  public func stepsToReach(_ accuracy: Double) -> Int? { evaluations.first { $0.accuracy >= accuracy }?.step }
}

extension TrainingResult: Displayable {
  public var mimeBundle: MimeBundle {
    Table(
      columns: ["step", "eval loss", "eval accuracy"],
      rows: evaluations.map { [$0.step, $0.loss, String(format: "%.1f%%", 100 * $0.accuracy)] }
    ).mimeBundle
  }
}

/// Training-loss curves of several runs, each under its label.
public func plotLossCurves(_ results: [TrainingResult], title: String? = nil, logY: Bool = false) -> Figure {
  let figure = Figure()
  figure.panel.title = title
  figure.panel.xLabel = "step"
  figure.panel.yLabel = "training loss"
  if logY { figure.panel.yScale = .log }
  for r in results { figure.panel.line(x: Array(1...max(1, r.losses.count)), y: r.losses, label: r.label) }
  return figure
}

/// A table comparing runs: parameters, final evaluation loss and accuracy, throughput, time.
public func resultsTable(_ results: [TrainingResult]) -> Table {
  Table(
    columns: ["model", "parameters", "eval loss", "eval accuracy", "tokens/s", "seconds"],
    rows: results.map {
      [
        $0.label, $0.parameterCount, $0.finalLoss, String(format: "%.1f%%", 100 * $0.finalAccuracy),
        Int($0.tokensPerSecond), String(format: "%.1f", $0.wallSeconds),
      ]
    })
}
