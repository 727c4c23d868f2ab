import Foundation
import TesseraCore

/// Scalar-gated linear attention: one log gate per head and step, `g` `[B, T, H]`:
/// `S_t = e^{g_t} S_{t−1} + k_tᵀ v_t`.
public func simpleGatedLinearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, logDecay g: Tensor, initialState: Tensor? = nil,
  form: Form = .chunked(size: 64)
) -> (output: Tensor, finalState: Tensor) {
  GatedLinearRecurrence.evaluate(
    q, k, v, logDecay: g.expandingDimensions(at: 3), initialState: initialState, form: form)
}

/// Gated linear attention (Yang et al., "Gated Linear Attention Transformers with
/// Hardware-Efficient Training", 2024): a log gate per key channel, `gk` `[B, T, H, K]`:
/// `S_t = diag(e^{gk_t}) S_{t−1} + k_tᵀ v_t`.
public func gatedLinearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, logDecay gk: Tensor, initialState: Tensor? = nil,
  form: Form = .chunked(size: 64)
) -> (output: Tensor, finalState: Tensor) {
  GatedLinearRecurrence.evaluate(q, k, v, logDecay: gk, initialState: initialState, form: form)
}

/// Gated linear attention as a layer (Yang et al., 2024): a data-dependent decay per key channel
/// from a low-rank gate, `g = logσ(x W_g¹ W_g²) / τ`. Kind `gla`. See
/// ``GatedLinearRecurrenceLayer`` for the projections and the output gate.
public final class GatedLinearAttentionLayer: GatedLinearRecurrenceLayer, RecurrentLayer {
  public struct Options: LayerOptions {
    public var heads = 4
    /// Key width as a fraction of the model width (`expand_k`).
    public var keyExpansion = 0.5
    /// Rank of the gate's low-rank projection.
    public var gateRank = 16
    /// The gate's temperature τ: log gates are divided by it so decays start near 1.
    public var gateTemperature = 16.0
    /// The training form: `.reference` (the recurrence), `.parallel` or `.chunked(size:)` (per-channel
    /// gates make the in-chunk decay a `[C, C, K]` tensor per head: chunks of 16 measured fastest on
    /// 2 cores at d_model 64).
    public var form = Form.chunked(size: 16)
    public init() {}
  }

  public static let kind = "gla"
  public static let forms: [Form] = [.reference, .parallel, .chunked(size: 16)]
  public static let summary = "gated linear attention, per-channel data-dependent decay (Yang et al., 2024)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    linearAttentionProblems(
      heads: options.heads, keyExpansion: options.keyExpansion, form: options.form, width: width)
      + minimumProblem("gateRank", options.gateRank, 1)
      + (options.gateTemperature > 0 ? [] : [OptionProblem("gateTemperature", "must be positive")])
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, heads: options.heads, kind: .gated, form: options.form,
      keyWidth: Int((Double(width) * options.keyExpansion).rounded()), gateRank: options.gateRank,
      gateTemperature: Float(options.gateTemperature), generator: &generator)
  }
}
