import Foundation
import TesseraCore
import TesseraNN

/// DeltaNet / Gated DeltaNet as a token mixer, `[B, T, D] → [B, T, D]` (Yang et al., 2024; Yang,
/// Kautz & Hatamizadeh, 2025):
///
///     q, k = silu(conv(x W_q)), silu(conv(x W_k)), L2-normalised per head     v = silu(conv(x W_v))
///     β    = σ(x W_β)        (per head)
///     g    = −exp(A_log) · softplus(x W_a + Δ_bias)     (per head; gated form only)
///     o    = deltaRule(q, k, v, β, g)
///     y    = (RMSNorm_head(o) ⊙ silu(x W_r)) W_o
///
/// with the short causal convolutions (kernel 4) of the papers. Training and prefill use the
/// chunked WY form (``chunkedDeltaRule(_:_:_:beta:logDecay:initialState:scale:chunkSize:)``);
/// decoding runs the recurrence, carrying the state `[B, H, K, V]` and the convolution windows.
///
/// ``DeltaNetLayer`` (kind `deltanet`) and ``GatedDeltaNetLayer`` (`gated-deltanet`) are its two members.
public class DeltaRuleLayer: Module {
  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let qConv: CausalConvolution
  public let kConv: CausalConvolution
  public let vConv: CausalConvolution
  public let betaProj: Linear
  public let gateProj: Linear?
  /// Gated form: `A_log` `[H]` (A = 1…H) and the step bias `Δ_bias` `[H]`, set so that the
  /// starting decays `exp(g)` lie near 1 (steps log-uniform in [0.001, 0.1]) as in Gated
  /// DeltaNet's reference, which draws both at random; here they are spread evenly.
  @OptionalParameter public var aLog: Tensor?
  @OptionalParameter public var dtBias: Tensor?
  public let rProj: Linear
  public let oProj: Linear
  @Parameter public var headNorm: Tensor
  public let heads: Int
  public let headDimension: Int
  public let gated: Bool

  /// The training form: `.chunked(size:)` (the WY form), `.parallel` or `.reference`.
  public let form: Form

  public init(
    modelDimension: Int, heads: Int, gated: Bool, convolutionKernel: Int = 4, form: Form = .chunked(size: 64),
    generator: inout RandomGenerator
  ) {
    check(modelDimension % heads == 0, "DeltaRuleLayer: \(modelDimension) does not split into \(heads) heads")
    self.form = form
    self.heads = heads
    self.gated = gated
    headDimension = modelDimension / heads
    qProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    kProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    vProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    qConv = CausalConvolution(channels: modelDimension, kernel: convolutionKernel, generator: &generator)
    kConv = CausalConvolution(channels: modelDimension, kernel: convolutionKernel, generator: &generator)
    vConv = CausalConvolution(channels: modelDimension, kernel: convolutionKernel, generator: &generator)
    betaProj = Linear(modelDimension, heads, generator: &generator)
    gateProj = gated ? Linear(modelDimension, heads, bias: false, generator: &generator) : nil
    if gated {
      aLog = Tensor((0..<heads).map { Float(log(Double($0 + 1))) }, shape: [heads])
      dtBias = stepSizeBias(count: heads)
    } else {
      aLog = nil
      dtBias = nil
    }
    rProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    oProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    headNorm = Tensor.ones([headDimension])
  }

  func heads(_ t: Tensor) -> Tensor { t.reshaped(t.shape[0], t.shape[1], heads, headDimension) }

  /// Keys and queries scaled to unit length per head.
  func unit(_ t: Tensor) -> Tensor { t * (t.square().sum(axis: -1, keepDimensions: true) + 1e-6).rsqrt() }

  func mix(_ x: Tensor, q: Tensor, k: Tensor, v: Tensor, state: Tensor?) -> (Tensor, Tensor) {
    let beta = betaProj(x).sigmoid()
    let g = gateProj.map { -(aLog!.exp()) * ($0(x) + dtBias!).softplus() }
    // Training and prefill run the chunked WY form; a single decoding step, the recurrence.
    let (o, final) = deltaRule(
      unit(heads(q)), unit(heads(k)), heads(v), beta: beta, logDecay: g, initialState: state,
      form: x.shape[1] > 1 ? form : .reference)
    let (b, t) = (x.shape[0], x.shape[1])
    let y = rmsNorm(o, weight: headNorm).reshaped(b, t, heads * headDimension)
    return (oProj(y * rProj(x).silu()), final)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    mix(x, q: qConv(qProj(x)).silu(), k: kConv(kProj(x)).silu(), v: vConv(vProj(x)).silu(), state: nil).0
  }

  /// The delta-rule state and the three convolution windows `[B, kernel, D]`.
  public struct State {
    var memory: Tensor?
    var windows: [Tensor]
  }

  public func initialState(batch: Int) -> State {
    State(
      memory: nil, windows: Array(repeating: Tensor.zeros([batch, qConv.kernel, heads * headDimension]), count: 3))
  }

  public func step(_ x: Tensor, _ state: inout State) -> Tensor {
    let (b, d) = (x.shape[0], x.shape[1])
    var convolved: [Tensor] = []
    for (i, (proj, conv)) in [(qProj, qConv), (kProj, kConv), (vProj, vConv)].enumerated() {
      state.windows[i] = concatenate(
        [state.windows[i].slice(axis: 1, 1..<conv.kernel), proj(x).expandingDimensions(at: 1)], axis: 1)
      convolved.append(conv.step(window: state.windows[i]).silu().reshaped(b, 1, d))
    }
    let x3 = x.reshaped(b, 1, d)
    let (y, memory) = mix(x3, q: convolved[0], k: convolved[1], v: convolved[2], state: state.memory)
    state.memory = memory
    return y.reshaped(b, d)
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, k = headDimension, width = heads * headDimension
    // A sequence of one token runs the recurrence (see `mix`).
    let form = time > 1 ? self.form : .reference
    var flops = [qProj, kProj, vProj, rProj, oProj, betaProj].reduce(0) { $0 + $1.flops(rows: rows) }
    // The short convolutions on q, k, v and their silu; β = σ(x W_β).
    flops += [qConv, kConv, vConv].reduce(0) { $0 + $1.flops(rows: rows) } + 3 * rows * width * FlopCount.silu
    flops += rows * heads * FlopCount.sigmoid
    if let gateProj {
      // g = −exp(A_log) · softplus(x W_a + Δ_bias): exp and sign of A_log per head, then per head and token
      // the bias, the softplus and the product.
      flops +=
        gateProj.flops(rows: rows) + heads * (FlopCount.transcendental + FlopCount.arithmetic)
        + rows * heads * (FlopCount.softplus + 2 * FlopCount.arithmetic)
    }
    // Unit queries and keys, the delta rule, then RMS norm per head, silu(x W_r) and the gating product.
    flops += 2 * FlopCount.unitLength(rows: rows * heads, width: k)
    flops += batch * heads * deltaRuleFlops(time: time, keys: k, values: k, gated: gated, form: form)
    flops +=
      FlopCount.rmsNorm(rows: rows * heads, width: k) + rows * width * (FlopCount.silu + FlopCount.arithmetic)
    // Saved: the per-token projections, and per chunk its starting state and its three c × c
    // matrices (K Kᵀ, the inverse, the scores); the recurrence keeps a state per step.
    let saved: Int
    if let c = deltaRuleChunk(time: time, form: form) {
      saved = max(1, blockCount(time: time, size: c)) * (k * k + 3 * c * c)
    } else {
      saved = time * k * k
    }
    return LayerCost(
      flops: flops, activationBytes: 4 * (rows * heads * 8 * k + batch * heads * saved),
      stateBytes: 4 * batch * (heads * k * k + 3 * qConv.kernel * width))
  }
}

extension DeltaRuleLayer {
  /// The options of both members of the family.
  public struct Options: LayerOptions {
    public var heads = 4
    /// Kernel of the short causal convolutions on q, k, v.
    public var convolutionKernel = 4
    /// The training form: `.chunked(size:)` (the WY form), `.parallel` or `.reference` (the recurrence).
    public var form = Form.chunked(size: 64)
    public init() {}
  }

  public static var slot: LayerSlot { .sequence }
  public static var capabilities: LayerCapabilities { [.causal, .recurrentDecoding] }
  public static var forms: [Form] { deltaRuleForms }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    headProblems(heads: options.heads, width: width) + minimumProblem("convolutionKernel", options.convolutionKernel, 1)
      + formProblems(options.form, deltaRuleForms)
  }

  convenience init(_ options: Options, width: Int, gated: Bool, generator: inout RandomGenerator) {
    self.init(
      modelDimension: width, heads: options.heads, gated: gated, convolutionKernel: options.convolutionKernel,
      form: options.form, generator: &generator)
  }

  public var options: Options {
    var options = Options()
    options.heads = heads
    options.convolutionKernel = qConv.kernel
    options.form = form
    return options
  }
}

/// DeltaNet (Yang et al., 2024): the delta rule with L2-normalised keys and short convolutions.
/// Kind `deltanet`. See ``DeltaRuleLayer``.
public final class DeltaNetLayer: DeltaRuleLayer, RecurrentLayer {
  public static let kind = "deltanet"
  public static let summary = "DeltaNet, the delta rule in WY-chunked form (Yang et al., 2024)"

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(options, width: width, gated: false, generator: &generator)
  }
}

/// Gated DeltaNet (Yang, Kautz & Hatamizadeh, 2025): the delta rule with a data-dependent decay
/// `g = −exp(A_log) · softplus(x W_a + Δ_bias)` per head. Kind `gated-deltanet`. See ``DeltaRuleLayer``.
public final class GatedDeltaNetLayer: DeltaRuleLayer, RecurrentLayer {
  public static let kind = "gated-deltanet"
  public static let summary = "Gated DeltaNet, the delta rule with a decay gate (Yang et al., 2025)"

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(options, width: width, gated: true, generator: &generator)
  }
}
