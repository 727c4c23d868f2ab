import TesseraCore

/// A batch of token sequences for next-token training: `inputs` `[B, T]` and `targets` `[B, T]`,
/// where a target of ``ignored`` marks a position that does not count in the loss or the metrics.
public struct TokenBatch: Sendable {
  public var inputs: IndexTensor
  public var targets: IndexTensor
  /// One context id per sequence (which task of a multi-task stream it is), where the task has
  /// them: a gate predictor reads them.
  public var contexts: [Int]?
  /// Class labels for classification heads, by head name: `[B]` for a sequence head, `[B, T]`
  /// for a token head (``ignored`` where a position is not scored).
  public var labels: [String: IndexTensor]
  /// Whether each example is simple (as opposed to complex) by construction, where the task knows.
  public var simple: [Bool]?

  /// The target value of positions that are not scored.
  public static let ignored = -100

  public init(
    inputs: IndexTensor, targets: IndexTensor, contexts: [Int]? = nil, labels: [String: IndexTensor] = [:],
    simple: [Bool]? = nil
  ) {
    self.inputs = inputs
    self.targets = targets
    self.contexts = contexts
    self.labels = labels
    self.simple = simple
  }

  public var batchSize: Int { inputs.shape[0] }
  public var length: Int { inputs.shape[1] }
  /// Positions that are scored.
  public var scoredCount: Int { targets.values.filter { $0 != Self.ignored }.count }
}

/// A source of batches, deterministic from a seed: batch `n` of a task with seed `s` is always
/// the same tokens, whatever was drawn before.
public protocol SequenceTask {
  var vocabularySize: Int { get }
  var sequenceLength: Int { get }
  /// Training batch number `index`.
  func batch(_ index: Int, size: Int) -> TokenBatch
  /// A held-out batch (a stream separate from training).
  func evaluationBatch(_ index: Int, size: Int) -> TokenBatch
}

/// Accuracy of the arg-max prediction over scored positions: logits `[B, T, V]`.
public func answerAccuracy(logits: Tensor, targets: IndexTensor) -> Double {
  let predicted = logits.argmax(axis: -1).values
  var correct = 0, total = 0
  for (p, t) in zip(predicted, targets.values) where t != TokenBatch.ignored {
    total += 1
    if p == t { correct += 1 }
  }
  return total == 0 ? 0 : Double(correct) / Double(total)
}
