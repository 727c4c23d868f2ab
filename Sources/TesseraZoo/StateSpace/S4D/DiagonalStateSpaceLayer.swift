import Foundation
import TesseraCore
import TesseraNN

/// The S4D layer as a token mixer, `[B, T, D] → [B, T, D]` (Gu, Gupta, Goel & Ré, 2022):
///
///     y   = DiagonalStateSpace(x)           (one LTI SSM per channel, N complex modes, skip D)
///     out = GLU(W · gelu(y))                (W: D → 2D; GLU(a, b) = a ⊙ σ(b))
///
/// initialised as S4D-Lin: `A_n = −1/2 + iπn`, `Δ` log-uniform in [0.001, 0.1], `C` complex normal.
/// Training runs the convolution form (chunked for long sequences, see ``form(time:)``); decoding
/// carries the complex state `[B, D, N, 2]`.
///
/// Kind `s4d`.
public final class DiagonalStateSpaceLayer: RecurrentLayer {
  public struct Options: LayerOptions {
    /// Complex modes N per channel.
    public var modes = 32
    /// Chunk length of the chunked convolution used for long sequences.
    public var chunkSize = 64
    /// The form (nil: the convolution while its Toeplitz matrices stay under 256 MiB, the chunked
    /// convolution beyond).
    public var form: Form?
    public init() {}
  }

  public static let kind = "s4d"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = DiagonalStateSpace.forms
  public static let summary = "S4D, a diagonal linear time-invariant state space model (Gu et al., 2022)"
  public private(set) var options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("modes", options.modes, 1) + minimumProblem("chunkSize", options.chunkSize, 1)
      + (options.form.map { formProblems($0, DiagonalStateSpace.forms) } ?? [])
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(modelDimension: width, modes: options.modes, chunkSize: options.chunkSize, generator: &generator)
    self.options.form = options.form
  }

  @Parameter public var logStep: Tensor  // [D]
  @Parameter public var logDecay: Tensor  // [D, N]
  @Parameter public var frequency: Tensor  // [D, N]
  @Parameter public var cReal: Tensor  // [D, N]
  @Parameter public var cImag: Tensor  // [D, N]
  @Parameter public var d: Tensor  // [D]
  public let outProj: Linear
  public let modes: Int

  public init(modelDimension: Int, modes: Int = 32, chunkSize: Int = 64, generator: inout RandomGenerator) {
    var options = Options()
    options.modes = modes
    options.chunkSize = chunkSize
    self.options = options
    self.modes = modes
    logStep = generator.uniform([modelDimension], low: Foundation.log(0.001), high: Foundation.log(0.1))
    logDecay = Tensor(repeating: Foundation.log(0.5), shape: [modelDimension, modes])
    frequency = Tensor(
      (0..<(modelDimension * modes)).map { Float.pi * Float($0 % modes) }, shape: [modelDimension, modes])
    let scale = Float(0.5).squareRoot()
    cReal = generator.normal([modelDimension, modes], standardDeviation: scale)
    cImag = generator.normal([modelDimension, modes], standardDeviation: scale)
    d = generator.normal([modelDimension])
    outProj = Linear(modelDimension, 2 * modelDimension, generator: &generator)
  }

  public var model: DiagonalStateSpace {
    DiagonalStateSpace(logStep: logStep, logDecay: logDecay, frequency: frequency, cReal: cReal, cImag: cImag, d: d)
  }

  func output(_ y: Tensor) -> Tensor {
    let halves = outProj(y.gelu()).split(count: 2, axis: -1)
    return halves[0] * halves[1].sigmoid()
  }

  /// The form `options` name, else the convolution while its Toeplitz matrices (`D · T²` floats)
  /// stay under 256 MiB and the chunked convolution (the state carried between chunks) beyond.
  public func form(time: Int) -> Form {
    if let form = options.form { return form }
    return 4 * logStep.shape[0] * time * time <= 256 << 20 ? .parallel : .chunked(size: options.chunkSize)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    output(model(x, form: form(time: x.shape[1])).output)
  }

  public func initialState(batch: Int) -> Tensor { Tensor.zeros([batch, logStep.shape[0], modes, 2]) }

  public func step(_ x: Tensor, _ state: inout Tensor) -> Tensor {
    let (b, dim) = (x.shape[0], x.shape[1])
    let (y, next) = model(x.reshaped(b, 1, dim), initialState: state, form: .reference)
    state = next
    return output(y.reshaped(b, dim))
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let dim = logStep.shape[0], rows = batch * time
    let form = form(time: time)
    let mixing = DiagonalStateSpace.flops(batch: batch, time: time, channels: dim, modes: modes, form: form)
    // The output: exact GELU, the projection to 2D, and the GLU's sigmoid and product.
    let output =
      rows * dim * FlopCount.geluErf + outProj.flops(rows: rows)
      + rows * dim * (FlopCount.sigmoid + FlopCount.arithmetic)
    let kept = form == .parallel ? dim * time * time : rows * dim * modes * 2
    return LayerCost(
      flops: mixing + output, activationBytes: 4 * (kept + rows * dim * 5), stateBytes: 4 * batch * dim * modes * 2)
  }
}
