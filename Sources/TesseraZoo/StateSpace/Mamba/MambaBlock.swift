import Foundation
import TesseraCore
import TesseraNN

/// The Mamba block (Gu & Dao, 2023, Fig. 3) as a token mixer, `[B, T, D] → [B, T, D]`:
///
///     x, z = in_proj(u)                 (expanded width E = 2D)
///     x    = silu(conv1d(x))            (causal, depthwise, kernel 4)
///     Δ, B, C = dt_proj(x W_Δ), x W_B, x W_C    (Δ of low rank R = ⌈D/16⌉)
///     y    = selectiveScan(x, Δ, A = −exp(A_log), B, C, D) ⊙ silu(z)
///     out  = out_proj(y)
///
/// `A_log` starts at `log n` for state index `n = 1…N` (S4D-Real) and `Δ`'s bias so that
/// `softplus(bias)` lies in [0.001, 0.1], as in the reference. Training runs the fused scan
/// (``fusedSelectiveScan(_:delta:A:B:C:D:z:deltaBias:initialState:)``); decoding carries the
/// convolution window and the scan state through the step-by-step form.
///
/// Kind `mamba`.
public final class MambaBlock: RecurrentLayer {
  public struct Options: LayerOptions {
    /// State size N per channel.
    public var stateSize = 16
    /// Kernel of the short causal convolution.
    public var convolutionKernel = 4
    /// Expanded width E as a multiple of the model width.
    public var expansion = 2
    /// Rank R of Δ's projection (nil: ⌈D/16⌉).
    public var stepRank: Int?
    /// Initial step sizes `softplus(bias)` spread log-uniformly over [stepMinimum, stepMaximum].
    public var stepMinimum = 0.001
    public var stepMaximum = 0.1
    /// The scan's form: `.fused` (one kernel), `.reference` (op by op), `.parallel`, `.chunked(size:)`.
    public var form = Form.fused
    public init() {}
  }

  public static let kind = "mamba"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = selectiveScanForms
  public static let summary = "Mamba, the selective state space model (Gu & Dao, 2023)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("stateSize", options.stateSize, 1)
      + minimumProblem("convolutionKernel", options.convolutionKernel, 1)
      + minimumProblem("expansion", options.expansion, 1) + minimumProblem("stepRank", options.stepRank ?? 1, 1)
      + (0 < options.stepMinimum && options.stepMinimum <= options.stepMaximum
        ? [] : [OptionProblem("stepMinimum", "needs 0 < stepMinimum ≤ stepMaximum")])
      + formProblems(options.form, selectiveScanForms)
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(modelDimension: width, options: options, generator: &generator)
  }

  public let inProj: Linear
  public let conv1d: CausalConvolution
  public let xProj: Linear
  public let dtProj: Linear
  @Parameter public var aLog: Tensor  // [E, N]
  @Parameter public var d: Tensor  // [E]
  public let outProj: Linear
  public let expanded: Int
  public let stateSize: Int
  public let rank: Int

  public convenience init(
    modelDimension: Int, stateSize: Int = 16, convolution: Int = 4, generator: inout RandomGenerator
  ) {
    var options = Options()
    options.stateSize = stateSize
    options.convolutionKernel = convolution
    self.init(modelDimension: modelDimension, options: options, generator: &generator)
  }

  init(modelDimension: Int, options: Options, generator: inout RandomGenerator) {
    self.options = options
    let (stateSize, convolution) = (options.stateSize, options.convolutionKernel)
    expanded = options.expansion * modelDimension
    self.stateSize = stateSize
    rank = options.stepRank ?? (modelDimension + 15) / 16
    inProj = Linear(modelDimension, 2 * expanded, bias: false, generator: &generator)
    conv1d = CausalConvolution(channels: expanded, kernel: convolution, generator: &generator)
    xProj = Linear(expanded, rank + 2 * stateSize, bias: false, generator: &generator)
    dtProj = Linear(rank, expanded, generator: &generator)
    let e = expanded
    let bias = stepSizeBias(count: e, minimum: options.stepMinimum, maximum: options.stepMaximum)
    aLog = Tensor((0..<(e * stateSize)).map { Float(log(Double($0 % stateSize + 1))) }, shape: [e, stateSize])
    d = Tensor.ones([e])
    outProj = Linear(expanded, modelDimension, bias: false, generator: &generator)
    dtProj.bias = bias
  }

  /// Δ, B, C from the convolved input `x` `[B, T, E]`, laid out for ``selectiveScan``.
  func parameters(_ x: Tensor) -> (delta: Tensor, B: Tensor, C: Tensor) {
    let projected = xProj(x)
    let parts = projected.split(sizes: [rank, stateSize, stateSize], axis: 2)
    let delta = matmul(parts[0], dtProj.weight.transposed())  // bias added inside the scan
    return (delta.permuted(0, 2, 1), parts[1].permuted(0, 2, 1), parts[2].permuted(0, 2, 1))
  }

  public func callAsFunction(_ u: Tensor, _ context: inout ForwardContext) -> Tensor {
    let halves = inProj(u).split(count: 2, axis: 2)
    let x = conv1d(halves[0]).silu()
    let (delta, B, C) = parameters(x)
    let (y, _) = selectiveScan(
      x.permuted(0, 2, 1), delta: delta, A: -aLog.exp(), B: B, C: C, D: d, z: halves[1].permuted(0, 2, 1),
      deltaBias: dtProj.bias, form: options.form)
    return outProj(y.permuted(0, 2, 1))
  }

  /// The convolution window `[B, K, E]` and the scan state `[B, E, N]`.
  public struct State {
    var window: Tensor
    var scan: Tensor
  }

  public func initialState(batch: Int) -> State {
    State(window: Tensor.zeros([batch, conv1d.kernel, expanded]), scan: Tensor.zeros([batch, expanded, stateSize]))
  }

  public func step(_ u: Tensor, _ state: inout State) -> Tensor {
    let b = u.shape[0]
    let halves = inProj(u).split(count: 2, axis: 1)  // [B, E] each
    let k = conv1d.kernel
    state.window = concatenate([state.window.slice(axis: 1, 1..<k), halves[0].expandingDimensions(at: 1)], axis: 1)
    let x = conv1d.step(window: state.window).silu().reshaped(b, 1, expanded)
    let (delta, B, C) = parameters(x)
    let (y, next) = selectiveScan(
      x.permuted(0, 2, 1), delta: delta, A: -aLog.exp(), B: B, C: C, D: d, z: halves[1].reshaped(b, expanded, 1),
      deltaBias: dtProj.bias, initialState: state.scan, form: .reference)
    state.scan = next
    return outProj(y.reshaped(b, expanded))
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time
    // The projections (Δ's through dtProj's weight, its bias added in the scan), the short
    // convolution and its silu, A = −exp(A_log), and the scan.
    let projections = [inProj, xProj, dtProj, outProj].reduce(0) { $0 + $1.flops(rows: rows) }
    let convolution = conv1d.flops(rows: rows) + rows * expanded * FlopCount.silu
    let decay = expanded * stateSize * (FlopCount.transcendental + FlopCount.arithmetic)
    let scan = selectiveScanFlops(
      batch: batch, time: time, channels: expanded, states: stateSize, form: options.form)
    return LayerCost(
      flops: projections + convolution + decay + scan, activationBytes: 4 * rows * expanded * (stateSize + 6),
      stateBytes: 4 * batch * expanded * (stateSize + conv1d.kernel))
  }
}
