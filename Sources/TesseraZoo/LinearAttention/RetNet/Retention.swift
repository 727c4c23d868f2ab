import Foundation
import TesseraCore

/// RetNet retention (Sun et al., "Retentive Network", 2023): a fixed decay per head,
/// `γ_h = 1 − 2^(−5−h)`: `S_t = γ_h S_{t−1} + k_tᵀ v_t`, `o_t = (q_t · K^-1/2) S_t`.
/// q, k `[B, T, H, K]`, v `[B, T, H, V]` → output and final state `[B, H, K, V]`.
public func retention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, initialState: Tensor? = nil,
  form: Form = .chunked(size: 64)
) -> (output: Tensor, finalState: Tensor) {
  let heads = q.shape[2]
  let decay = Tensor((0..<heads).map { Float(Foundation.log(1 - pow(2, -5 - Double($0)))) }, shape: [1, 1, heads, 1])
  return GatedLinearRecurrence.evaluate(q, k, v, logDecay: decay, initialState: initialState, form: form)
}

/// RetNet's retention as a layer: fixed per-head decays `γ_h = 1 − 2^(−5−h)`. Kind `retnet`.
/// See ``GatedLinearRecurrenceLayer`` for the projections and the output gate.
public final class RetentionLayer: GatedLinearRecurrenceLayer, RecurrentLayer {
  public static let kind = "retnet"
  public static let forms = GatedLinearRecurrence.forms
  public static let summary = "RetNet retention, fixed per-head decay (Sun et al., 2023)"

  public var options: Options {
    var options = Options()
    options.heads = heads
    options.keyExpansion = Double(keyDimension * heads) / Double(valueDimension * heads)
    options.form = form
    return options
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(options, width: width, kind: .retention, generator: &generator)
  }
}
