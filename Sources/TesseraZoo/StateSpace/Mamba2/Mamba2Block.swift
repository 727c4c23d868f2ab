import Foundation
import TesseraCore
import TesseraNN

/// The Mamba-2 block (Dao & Gu, 2024) as a token mixer, `[B, T, D] → [B, T, D]`:
///
///     z, x, B, C, Δ = in_proj(u)          (E = 2D channels in H heads of P, state N, one group)
///     x, B, C = silu(conv1d(x, B, C))     (causal, depthwise, kernel 4)
///     Δ = softplus(Δ + Δ_bias),  a = −exp(A_log) Δ     (per head)
///     y = SSD(x Δ, a, B, C) + D x
///     out = out_proj(RMSNorm(y ⊙ silu(z)))
///
/// Training uses the chunked state space duality; decoding carries the SSD state and the
/// convolution window.
///
/// Kind `mamba2`.
public final class Mamba2Block: RecurrentLayer {
  public struct Options: LayerOptions {
    public var heads = 4
    /// State size N (one group of B, C shared by the heads).
    public var stateSize = 16
    /// Kernel of the short causal convolution.
    public var convolutionKernel = 4
    /// Expanded width E as a multiple of the model width.
    public var expansion = 2
    /// The SSD training form: `.chunked(size:)`, `.parallel` or `.reference` (the recurrence).
    public var form = Form.chunked(size: 64)
    public init() {}
  }

  public static let kind = "mamba2"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = GatedLinearRecurrence.forms
  public static let summary = "Mamba-2, state space duality in chunked form (Dao & Gu, 2024)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    headProblems(heads: options.heads, width: options.expansion * width)
      + minimumProblem("stateSize", options.stateSize, 1)
      + minimumProblem("convolutionKernel", options.convolutionKernel, 1)
      + minimumProblem("expansion", options.expansion, 1) + formProblems(options.form, GatedLinearRecurrence.forms)
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(modelDimension: width, options: options, generator: &generator)
  }

  public let inProj: Linear
  public let conv1d: CausalConvolution
  @Parameter public var dtBias: Tensor
  @Parameter public var aLog: Tensor
  @Parameter public var d: Tensor
  @Parameter public var norm: Tensor
  public let outProj: Linear
  public let expanded: Int
  public let heads: Int
  public let headDimension: Int
  public let stateSize: Int
  /// The SSD training form.
  public var form: Form

  public convenience init(modelDimension: Int, heads: Int, stateSize: Int = 16, generator: inout RandomGenerator) {
    var options = Options()
    options.heads = heads
    options.stateSize = stateSize
    self.init(modelDimension: modelDimension, options: options, generator: &generator)
  }

  init(modelDimension: Int, options: Options, generator: inout RandomGenerator) {
    self.options = options
    let (heads, stateSize) = (options.heads, options.stateSize)
    form = options.form
    let e = options.expansion * modelDimension
    check(e % heads == 0, "Mamba2Block: \(e) channels do not split into \(heads) heads")
    expanded = e
    self.heads = heads
    headDimension = e / heads
    self.stateSize = stateSize
    inProj = Linear(modelDimension, 2 * e + 2 * stateSize + heads, bias: false, generator: &generator)
    conv1d = CausalConvolution(channels: e + 2 * stateSize, kernel: options.convolutionKernel, generator: &generator)
    dtBias = stepSizeBias(count: heads)
    aLog = Tensor((0..<heads).map { Float(log(Double($0 + 1))) }, shape: [heads])
    d = Tensor.ones([heads])
    norm = Tensor.ones([e])
    outProj = Linear(e, modelDimension, bias: false, generator: &generator)
  }

  /// Splits the in-projection `[B, T, ·]` and runs the SSD from `state`.
  func mix(_ projected: Tensor, convolved xbc: Tensor, state: Tensor?, form: Form) -> (
    Tensor, Tensor
  ) {
    let (b, t) = (projected.shape[0], projected.shape[1])
    let (e, n, h, p) = (expanded, stateSize, heads, headDimension)
    let parts = projected.split(sizes: [e, e + 2 * n, h], axis: 2)
    let z = parts[0], dt = (parts[2] + dtBias).softplus()  // [B, T, H]
    let pieces = xbc.split(sizes: [e, n, n], axis: 2)
    let x = pieces[0].reshaped(b, t, h, p)
    let bMatrix = pieces[1].expandingDimensions(at: 2).broadcast(to: [b, t, h, n])
    let cMatrix = pieces[2].expandingDimensions(at: 2).broadcast(to: [b, t, h, n])
    let a = dt * (-aLog.exp())
    let (y, final) = stateSpaceDuality(
      x * dt.expandingDimensions(at: 3), logDecay: a, B: bMatrix, C: cMatrix, initialState: state, form: form)
    let skip = y + x * d.reshaped(1, 1, h, 1)
    let gated = skip.reshaped(b, t, e) * z.silu()
    return (outProj(rmsNorm(gated, weight: norm)), final)
  }

  public func callAsFunction(_ u: Tensor, _ context: inout ForwardContext) -> Tensor {
    let projected = inProj(u)
    let xbc = conv1d(projected.slice(axis: 2, expanded..<(2 * expanded + 2 * stateSize))).silu()
    return mix(projected, convolved: xbc, state: nil, form: form).0
  }

  /// The SSD state `[B, H, P, N]` and the convolution window `[B, kernel, E + 2N]`.
  public struct State {
    var ssd: Tensor?
    var window: Tensor
  }

  public func initialState(batch: Int) -> State {
    State(ssd: nil, window: Tensor.zeros([batch, conv1d.kernel, expanded + 2 * stateSize]))
  }

  public func step(_ u: Tensor, _ state: inout State) -> Tensor {
    let b = u.shape[0]
    let projected = inProj(u.reshaped(b, 1, u.shape[1]))
    let fresh = projected.slice(axis: 2, expanded..<(2 * expanded + 2 * stateSize))  // [B, 1, E + 2N]
    state.window = concatenate([state.window.slice(axis: 1, 1..<conv1d.kernel), fresh], axis: 1)
    let xbc = conv1d.step(window: state.window).silu().expandingDimensions(at: 1)
    let (y, next) = mix(projected, convolved: xbc, state: state.ssd, form: .reference)
    state.ssd = next
    return y.reshaped(b, u.shape[1])
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time
    let (a, e) = (FlopCount.arithmetic, FlopCount.transcendental)
    let projections = inProj.flops(rows: rows) + outProj.flops(rows: rows)
    // The short convolution over x, B, C and its silu.
    let convolution = conv1d.flops(rows: rows) + rows * conv1d.channels * FlopCount.silu
    // Δ = softplus(Δ + Δ_bias) and a = −exp(A_log)·Δ per head; the SSD input x·Δ.
    let steps = rows * heads * (a + FlopCount.softplus + a) + heads * (e + a) + rows * expanded * a
    let ssd =
      batch * heads
      * GatedLinearRecurrence.flops(time: time, keys: stateSize, values: headDimension, gate: 1, form: form)
    // The skip D x, the gate silu(z) and the RMS norm over the expanded width.
    let output =
      rows * expanded * (2 * a + FlopCount.silu + a) + FlopCount.rmsNorm(rows: rows, width: expanded)
    let stateBytes = 4 * batch * (heads * headDimension * stateSize + conv1d.kernel * conv1d.channels)
    return LayerCost(
      flops: projections + convolution + steps + ssd + output,
      activationBytes: 4 * rows * (3 * expanded + 2 * stateSize), stateBytes: stateBytes)
  }
}
