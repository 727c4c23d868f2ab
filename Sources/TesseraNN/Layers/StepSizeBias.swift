import Foundation
import TesseraCore

/// The bias `b` `[count]` of a step size `Δ = softplus(x W + b)` that starts the channels at step
/// sizes spread log-uniformly over [minimum, maximum], evenly (Mamba's initialisation, Gu & Dao
/// 2023, with the random draw replaced by an even spread): `b = softplus⁻¹(Δ₀) = Δ₀ + log(1 − e^{−Δ₀})`.
/// Mamba, Mamba-2 and Gated DeltaNet's decay gate start from it.
public func stepSizeBias(count: Int, minimum: Double = 0.001, maximum: Double = 0.1) -> Tensor {
  let (low, high) = (log(minimum), log(maximum))
  let steps = (0..<count).map { i in exp(low + (high - low) * Double(i) / Double(max(1, count - 1))) }
  return Tensor(steps.map { Float($0 + log(-expm1(-$0))) }, shape: [count])
}
