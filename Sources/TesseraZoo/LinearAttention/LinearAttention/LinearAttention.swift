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
  public struct Options: LayerOptions {
    public var heads = 4
    /// Key width as a fraction of the model width (GLA's `expand_k`).
    public var keyExpansion = 0.5
    /// The training form: `.reference` (the recurrence), `.parallel` or `.chunked(size:)`.
    public var form = Form.chunked(size: 64)
    public init() {}
  }

  public static let kind = "linear"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = GatedLinearRecurrence.forms
  public static let summary = "linear attention, no decay (Katharopoulos et al., 2020)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    linearAttentionProblems(
      heads: options.heads, keyExpansion: options.keyExpansion, form: options.form, width: width)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, heads: options.heads, kind: .linear, form: options.form,
      keyWidth: Int((Double(width) * options.keyExpansion).rounded()), generator: &generator)
  }
}
