import Foundation
import TesseraCore

/// Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
/// Regularization", 2019), per parameter `p` with gradient `g` at step `t`:
///
///     m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
///     p ← p − lr · ( m / (1 − β₁ᵗ) / (√(v / (1 − β₂ᵗ)) + ε) + λ p )
///
/// as PyTorch's `torch.optim.AdamW`. Parameters whose name is in `noDecay` (by default biases
/// and norm weights, i.e. rank-1 tensors) get no weight decay.
public final class AdamW {
  public var learningRate: Float
  public var beta1: Float
  public var beta2: Float
  public var epsilon: Float
  public var weightDecay: Float
  /// Whether a parameter (by name and value) is decayed.
  public var decays: (String, Tensor) -> Bool
  /// Whether a parameter (by name) is frozen: never moved, not even by weight decay, so it stays
  /// bit-identical (train one expert of a mixture while the others keep their weights).
  public var isFrozen: (String) -> Bool = { _ in false }
  public private(set) var step = 0
  var firstMoment: [String: [Float]] = [:]
  var secondMoment: [String: [Float]] = [:]

  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
    weightDecay: Float = 0.01, decays: @escaping (String, Tensor) -> Bool = { _, p in p.rank >= 2 }
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.decays = decays
  }

  /// One step on `model`'s parameters with `gradients` by name (missing and frozen names are not
  /// moved).
  public func update<M: Module>(_ model: M, gradients: [String: Tensor]) {
    step += 1
    let t = Float(step)
    let correction1 = 1 - Foundation.pow(beta1, t), correction2 = 1 - Foundation.pow(beta2, t)
    let (lr, b1, b2, eps) = (learningRate, beta1, beta2, epsilon)
    let placeholder = Tensor(0)
    for (name, slot) in model.parameterSlots() {
      guard let gradient = gradients[name], !isFrozen(name) else { continue }
      // Taken out of the slot (and the moments out of their dictionaries) so that each buffer
      // has one owner and is updated in place instead of copied on write.
      var parameter = slot.wrappedValue
      check(
        gradient.shape == parameter.shape,
        "AdamW: the gradient of \(name) is \(gradient.shape), the parameter \(parameter.shape)")
      slot.wrappedValue = placeholder
      let decay = decays(name, parameter) ? weightDecay : 0
      let count = parameter.count
      var m = firstMoment.removeValue(forKey: name) ?? [Float](repeating: 0, count: count)
      var v = secondMoment.removeValue(forKey: name) ?? [Float](repeating: 0, count: count)
      gradient.withScalars { g in
        parameter.withMutableScalars { p in
          m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
              let (g, p, m, v) = (g.baseAddress!, p.baseAddress!, m.baseAddress!, v.baseAddress!)
              // Element by element: any split over threads gives the same bits.
              Runtime.parallelFor(count, grain: 1 << 14) { range in
                for i in range {
                  let mi = b1 * m[i] + (1 - b1) * g[i]
                  let vi = b2 * v[i] + (1 - b2) * g[i] * g[i]
                  m[i] = mi
                  v[i] = vi
                  let update = (mi / correction1) / ((vi / correction2).squareRoot() + eps)
                  p[i] -= lr * (update + decay * p[i])
                }
              }
            }
          }
        }
      }
      firstMoment[name] = m
      secondMoment[name] = v
      slot.wrappedValue = parameter
    }
  }
}

/// Stochastic gradient descent with optional momentum (PyTorch's form: `b ← μ b + g`,
/// `p ← p − lr · b`) and L2 weight decay added to the gradient.
public final class SGD {
  public var learningRate: Float
  public var momentum: Float
  public var weightDecay: Float
  var buffers: [String: Tensor] = [:]

  public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
  }

  public func update<M: Module>(_ model: M, gradients: [String: Tensor]) {
    for (name, slot) in model.parameterSlots() {
      guard var g = gradients[name] else { continue }
      if weightDecay != 0 { g = g + weightDecay * slot.wrappedValue }
      if momentum != 0 {
        let b = buffers[name].map { momentum * $0 + g } ?? g
        buffers[name] = b
        g = b
      }
      slot.wrappedValue = slot.wrappedValue - learningRate * g
    }
  }
}
