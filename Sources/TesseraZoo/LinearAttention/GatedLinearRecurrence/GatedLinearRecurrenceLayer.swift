import Foundation
import TesseraCore
import TesseraNN

/// Which member of the gated linear recurrence family a ``GatedLinearRecurrenceLayer`` runs.
public enum LinearAttentionKind: String, Codable, Sendable {
  /// No decay (Katharopoulos et al., 2020).
  case linear
  /// Fixed per-head decay `γ_h = 1 − 2^(−5−h)` (RetNet, Sun et al., 2023).
  case retention
  /// Data-dependent decay per key channel from a low-rank gate (GLA, Yang et al., 2024).
  case gated
}

/// The linear-attention layer shared by ``LinearAttentionLayer``, ``RetentionLayer`` and
/// ``GatedLinearAttentionLayer``, in the layout of the GLA paper (Yang et al., 2024, §4):
/// `[B, T, D] → [B, T, D]`.
///
///     q, k = x W_q, x W_k  (key width D/2)     v = x W_v
///     g    = logσ(x W_g¹ W_g²) / 16            (GLA only: per key channel, low rank 16, temperature 16)
///     o    = GatedLinearRecurrence(q, k, v, g)
///     y    = (RMSNorm_head(o) ⊙ swish(x W_r)) W_o
///
/// Decoding one token at a time carries the state `[B, H, K, V]` (``step(_:_:)``), the same
/// recurrence the chunked training form computes in blocks.
public class GatedLinearRecurrenceLayer: Module {
  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let gateDown: Linear?
  public let gateUp: Linear?
  public let rProj: Linear
  public let oProj: Linear
  @Parameter public var headNorm: Tensor
  public let kind: LinearAttentionKind
  public let heads: Int
  public let keyDimension: Int
  public let valueDimension: Int
  /// The training form (``GatedLinearRecurrence/forms``). GLA's per-channel gates make the
  /// in-chunk decay a `[C, C, K]` tensor per head, so it uses chunks of 16 (measured on 2 cores at
  /// d_model 64, T 64: 23k tokens/s against 3.5k with chunks of 64); scalar or no decay keeps 64.
  public var form: Form
  /// GLA's gate temperature: log gates are divided by it so decays stay near 1 at initialisation.
  public let gateTemperature: Float

  public init(
    modelDimension: Int, heads: Int, kind: LinearAttentionKind = .gated, form: Form? = nil,
    keyWidth: Int? = nil, gateRank: Int = 16, gateTemperature: Float = 16, generator: inout RandomGenerator
  ) {
    let keyWidth = keyWidth ?? modelDimension / 2
    check(
      keyWidth % heads == 0 && modelDimension % heads == 0,
      "GatedLinearRecurrenceLayer: widths \(keyWidth) and \(modelDimension) do not split into \(heads) heads")
    self.gateTemperature = gateTemperature
    self.kind = kind
    self.heads = heads
    keyDimension = keyWidth / heads
    valueDimension = modelDimension / heads
    self.form = form ?? .chunked(size: kind == .gated ? 16 : 64)
    qProj = Linear(modelDimension, keyWidth, bias: false, generator: &generator)
    kProj = Linear(modelDimension, keyWidth, bias: false, generator: &generator)
    vProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    if kind == .gated {
      gateDown = Linear(modelDimension, gateRank, bias: false, generator: &generator)
      gateUp = Linear(gateRank, keyWidth, generator: &generator)
    } else {
      gateDown = nil
      gateUp = nil
    }
    rProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    oProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    headNorm = Tensor.ones([valueDimension])
  }

  /// Projections of `x` `[B, T, D]` into heads.
  func project(_ x: Tensor) -> (q: Tensor, k: Tensor, v: Tensor, g: Tensor?) {
    let (b, t) = (x.shape[0], x.shape[1])
    let q = qProj(x).reshaped(b, t, heads, keyDimension)
    let k = kProj(x).reshaped(b, t, heads, keyDimension)
    let v = vProj(x).reshaped(b, t, heads, valueDimension)
    var g: Tensor?
    switch kind {
    case .linear: g = nil
    case .retention:
      g = Tensor(
        (0..<heads).map { Float(Foundation.log(1 - pow(2, -5 - Double($0)))) }, shape: [1, 1, heads, 1])
    case .gated:
      g = (gateUp!(gateDown!(x)).logSigmoid() / gateTemperature).reshaped(b, t, heads, keyDimension)
    }
    return (q, k, v, g)
  }

  /// Output gate and projection of the recurrence output `o` `[B, T, H, V]`.
  func finish(_ o: Tensor, _ x: Tensor) -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    let normed = rmsNorm(o, weight: headNorm).reshaped(b, t, heads * valueDimension)
    return oProj(normed * rProj(x).silu())
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let (q, k, v, g) = project(x)
    let (o, _) = GatedLinearRecurrence.evaluate(q, k, v, logDecay: g, form: form)
    return finish(o, x)
  }

  public func initialState(batch: Int) -> Tensor { Tensor.zeros([batch, heads, keyDimension, valueDimension]) }

  /// One token `[B, D]`: the recurrence for one step from `state`.
  public func step(_ x: Tensor, _ state: inout Tensor) -> Tensor {
    let x3 = x.reshaped(x.shape[0], 1, x.shape[1])
    let (q, k, v, g) = project(x3)
    let (o, next) = GatedLinearRecurrence.evaluate(q, k, v, logDecay: g, initialState: state, form: .reference)
    state = next
    return finish(o, x3).reshaped(x.shape[0], x.shape[1])
  }

  /// Width of the log decay per head: none (linear attention), one per step (retention), one per
  /// key channel (GLA).
  var gateWidth: Int {
    switch kind {
    case .linear: return 0
    case .retention: return 1
    case .gated: return keyDimension
    }
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, width = heads * valueDimension
    var flops = [qProj, kProj, vProj, rProj, oProj].reduce(0) { $0 + $1.flops(rows: rows) }
    if let gateDown, let gateUp {
      // The low-rank gate, its log-sigmoid and the temperature.
      flops +=
        gateDown.flops(rows: rows) + gateUp.flops(rows: rows)
        + rows * heads * keyDimension * (FlopCount.logSigmoid + FlopCount.arithmetic)
    }
    flops +=
      batch * heads
      * GatedLinearRecurrence.flops(
        time: time, keys: keyDimension, values: valueDimension, gate: gateWidth, form: form)
    // The output: RMS norm per head, silu(x W_r) and the gating product.
    flops +=
      FlopCount.rmsNorm(rows: rows * heads, width: valueDimension)
      + rows * width * (FlopCount.silu + FlopCount.arithmetic)
    let stateBytes = 4 * batch * heads * keyDimension * valueDimension
    let saved =
      batch * heads
      * GatedLinearRecurrence.savedValues(
        time: time, keys: keyDimension, values: valueDimension, gate: gateWidth, form: form)
    let activations = 4 * (rows * (2 * heads * keyDimension + 3 * heads * valueDimension) + saved)
    return LayerCost(flops: flops, activationBytes: activations, stateBytes: stateBytes)
  }
}

extension GatedLinearRecurrenceLayer {
  /// The options of ``LinearAttentionLayer`` and ``RetentionLayer`` (``GatedLinearAttentionLayer``
  /// adds its gate's).
  public struct Options: LayerOptions {
    public var heads = 4
    /// Key width as a fraction of the model width (GLA's `expand_k`).
    public var keyExpansion = 0.5
    /// The training form: `.reference` (the recurrence), `.parallel` or `.chunked(size:)`.
    public var form = Form.chunked(size: 64)
    public init() {}
  }

  public static var slot: LayerSlot { .sequence }
  public static var capabilities: LayerCapabilities { [.causal, .recurrentDecoding] }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    linearAttentionProblems(
      heads: options.heads, keyExpansion: options.keyExpansion, form: options.form, width: width)
  }

  convenience init(_ options: Options, width: Int, kind: LinearAttentionKind, generator: inout RandomGenerator) {
    self.init(
      modelDimension: width, heads: options.heads, kind: kind, form: options.form,
      keyWidth: Int((Double(width) * options.keyExpansion).rounded()), generator: &generator)
  }
}

/// Problems of the options the three linear-attention layers share.
func linearAttentionProblems(heads: Int, keyExpansion: Double, form: Form, width: Int) -> [OptionProblem] {
  let keyWidth = Int((Double(width) * keyExpansion).rounded())
  var problems = headProblems(heads: heads, width: width) + formProblems(form, GatedLinearRecurrence.forms)
  if keyWidth < heads || keyWidth % max(1, heads) != 0 {
    problems.append(OptionProblem("keyExpansion", "a key width of \(keyWidth) does not split into \(heads) heads"))
  }
  return problems
}
