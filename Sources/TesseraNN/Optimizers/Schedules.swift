import Foundation
import TesseraCore

/// A learning rate as a function of the step (0-based).
public protocol LearningRateSchedule {
  func learningRate(at step: Int) -> Float
}

/// Linear warmup from 0 to `peak` over `warmupSteps`, then a cosine decay to `floor` at
/// `totalSteps` (and `floor` after), as in GPT-3 and most LLM training recipes.
public struct WarmupCosineSchedule: LearningRateSchedule, Codable, Sendable {
  public var peak: Float
  public var warmupSteps: Int
  public var totalSteps: Int
  public var floor: Float

  public init(peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float = 0) {
    self.peak = peak
    self.warmupSteps = warmupSteps
    self.totalSteps = totalSteps
    self.floor = floor
  }

  public func learningRate(at step: Int) -> Float {
    if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
    guard totalSteps > warmupSteps, step < totalSteps else { return floor }
    let progress = Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
    return floor + (peak - floor) * Float(0.5 * (1 + cos(Double.pi * progress)))
  }
}

/// A fixed learning rate.
public struct ConstantSchedule: LearningRateSchedule, Codable, Sendable {
  public var rate: Float
  public init(_ rate: Float) { self.rate = rate }
  public func learningRate(at step: Int) -> Float { rate }
}

/// Scales `gradients` so that their global L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`); returns the clipped gradients and the norm before clipping.
public func clipByGlobalNorm(_ gradients: [String: Tensor], maxNorm: Float) -> (
  gradients: [String: Tensor], norm: Float
) {
  var total: Double = 0
  // Summed in name order and in fixed chunks (each in Float, the chunks in Double), so the same
  // gradients give the same bits for any thread count.
  let chunk = 1 << 14
  for name in gradients.keys.sorted() {
    gradients[name]!.withScalars { buffer in
      guard let x = buffer.baseAddress else { return }
      let n = buffer.count, chunks = (n + chunk - 1) / chunk
      var partial = [Double](repeating: 0, count: chunks)
      partial.withUnsafeMutableBufferPointer { out in
        Runtime.parallelFor(chunks, grain: 1) { range in
          for c in range {
            let start = c * chunk
            out[c] = Double(Dense.dot(x + start, x + start, Swift.min(chunk, n - start)))
          }
        }
      }
      for p in partial { total += p }
    }
  }
  let norm = Float(total.squareRoot())
  guard norm > maxNorm, norm > 0 else { return (gradients, norm) }
  let scale = maxNorm / (norm + 1e-6)
  return (gradients.mapValues { $0 * scale }, norm)
}
