import Foundation
import TesseraCore

// The members of the gated linear recurrence family (see ``GatedLinearRecurrence``), by name.
// Layout `[B, T, H, K]` for q and k, `[B, T, H, V]` for v; each returns the output and the final
// state `[B, H, K, V]`.

/// Unnormalised causal linear attention (Katharopoulos et al., "Transformers are RNNs", 2020):
/// `S_t = S_{t−1} + k_tᵀ v_t`, `o_t = (q_t · K^-1/2) S_t`.
public func linearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, initialState: Tensor? = nil,
  form: Form = .chunked(size: 64)
) -> (output: Tensor, finalState: Tensor) {
  GatedLinearRecurrence.evaluate(q, k, v, initialState: initialState, form: form)
}

/// Unnormalised causal linear attention as a layer (Katharopoulos et al., 2020): no decay.
/// Kind `linear`. See ``GatedLinearRecurrenceLayer`` for the projections and the output gate.
public final class LinearAttentionLayer: GatedLinearRecurrenceLayer, RecurrentLayer {
  public static let kind = "linear"
  public static let forms = GatedLinearRecurrence.forms
  public static let summary = "linear attention, no decay (Katharopoulos et al., 2020)"

  public var options: Options {
    var options = Options()
    options.heads = heads
    options.keyExpansion = Double(keyDimension * heads) / Double(valueDimension * heads)
    options.form = form
    return options
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(options, width: width, kind: .linear, generator: &generator)
  }
}
