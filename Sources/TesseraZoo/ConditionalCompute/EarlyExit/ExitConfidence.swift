import TesseraCore

/// CALM's confidence measures for early exit (Schuster et al., "Confident Adaptive Language
/// Modeling", NeurIPS 2022): after each layer, how sure the model is of its prediction — the
/// largest softmax probability, the gap between the two largest, or the cosine between the hidden
/// state and the previous layer's (a state that stops changing has settled). An example exits at
/// the first layer whose confidence reaches the threshold.
public enum ExitConfidence: String, Codable, Sendable, CaseIterable {
  case softmaxMax
  case softmaxDifference
  case hiddenStateCosine

  /// The confidence of each example `[B]` at one layer, from its logits `[B, V]` (the softmax
  /// measures) or from its hidden state `[B, D]` and the previous layer's (the state measure;
  /// nil before the first layer, where the state measure is 0: CALM never exits on it there).
  public func confidence(logits: Tensor?, hidden: Tensor?, previousHidden: Tensor?) -> [Float] {
    switch self {
    case .softmaxMax, .softmaxDifference:
      guard let logits else { fatalError("ExitConfidence.\(rawValue): needs the layer's logits") }
      check(logits.rank == 2, "ExitConfidence: logits must be [B, V], got \(logits.shape)")
      let p = logits.softmax(axis: -1).scalars
      let v = logits.shape[1]
      return (0..<logits.shape[0]).map { b in
        var (first, second) = (-Float.infinity, -Float.infinity)
        for x in p[(b * v)..<((b + 1) * v)] {
          if x > first {
            (first, second) = (x, first)
          } else if x > second {
            second = x
          }
        }
        return self == .softmaxMax ? first : first - second
      }
    case .hiddenStateCosine:
      guard let hidden else { fatalError("ExitConfidence.hiddenStateCosine: needs the layer's hidden state") }
      check(hidden.rank == 2, "ExitConfidence: hidden states must be [B, D], got \(hidden.shape)")
      let (batch, d) = (hidden.shape[0], hidden.shape[1])
      guard let previousHidden else { return [Float](repeating: 0, count: batch) }
      check(
        previousHidden.shape == hidden.shape,
        "ExitConfidence: the previous state \(previousHidden.shape) is not \(hidden.shape)")
      let (h, g) = (hidden.scalars, previousHidden.scalars)
      return (0..<batch).map { b in
        var (dot, hh, gg): (Float, Float, Float) = (0, 0, 0)
        for j in (b * d)..<((b + 1) * d) {
          dot += h[j] * g[j]
          hh += h[j] * h[j]
          gg += g[j] * g[j]
        }
        return dot / max((hh * gg).squareRoot(), 1e-8)
      }
    }
  }

  /// Exit layers (1-based: the number of layers run) from per-layer confidences
  /// `confidences[layer][example]`: each example's first layer whose confidence reaches
  /// `threshold`, else the last layer.
  public static func exitLayers(_ confidences: [[Float]], threshold: Float) -> [Int] {
    guard let examples = confidences.first?.count else { return [] }
    return (0..<examples).map { b in
      (confidences.firstIndex { $0[b] >= threshold } ?? (confidences.count - 1)) + 1
    }
  }

  /// CALM's rule for a batch that runs as one: the first layer (1-based) where the least
  /// confident example reaches `threshold`, else the last layer.
  public static func batchExitLayer(_ confidences: [[Float]], threshold: Float) -> Int {
    (confidences.firstIndex { ($0.min() ?? -.infinity) >= threshold } ?? (confidences.count - 1)) + 1
  }
}
