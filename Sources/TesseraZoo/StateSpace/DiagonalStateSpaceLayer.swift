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
public final class DiagonalStateSpaceLayer: RecurrentMixer {
  @Parameter public var logStep: Tensor  // [D]
  @Parameter public var logDecay: Tensor  // [D, N]
  @Parameter public var frequency: Tensor  // [D, N]
  @Parameter public var cReal: Tensor  // [D, N]
  @Parameter public var cImag: Tensor  // [D, N]
  @Parameter public var d: Tensor  // [D]
  public let outProj: Linear
  public let modes: Int

  public init(modelDimension: Int, modes: Int = 32, generator: inout RandomGenerator) {
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

  /// The convolution form while its Toeplitz matrices (`D · T²` floats) stay under 256 MiB, the
  /// chunked convolution (chunks of 64, the state carried between them) beyond.
  public func form(time: Int) -> DiagonalStateSpace.Form {
    4 * logStep.shape[0] * time * time <= 256 << 20 ? .convolution : .chunkedConvolution(chunkSize: 64)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { output(model(x, form: form(time: x.shape[1])).output) }

  public func initialState(batch: Int) -> Tensor { Tensor.zeros([batch, logStep.shape[0], modes, 2]) }

  public func step(_ x: Tensor, _ state: inout Tensor) -> Tensor {
    let (b, dim) = (x.shape[0], x.shape[1])
    let (y, next) = model(x.reshaped(b, 1, dim), initialState: state, form: .recurrent)
    state = next
    return output(y.reshaped(b, dim))
  }

  public func cost(batch: Int, time: Int) -> MixerCost {
    let dim = logStep.shape[0], rows = batch * time
    // Kernel: ~10 flops per channel, mode and lag; causal Toeplitz product: T² per channel and sequence.
    let convolutional = form(time: time) == .convolution
    // Convolution: the kernel (~10 flops per channel, mode and lag) and the causal Toeplitz product
    // (T² per channel and sequence). Scan: ~8 flops per channel, mode and token.
    let mixing = convolutional ? 10 * dim * modes * time + batch * dim * time * time : 8 * rows * dim * modes
    let kept = convolutional ? dim * time * time : rows * dim * modes * 2
    return MixerCost(
      flops: mixing + outProj.flops(rows: rows) + 8 * rows * dim,
      activationBytes: 4 * (kept + rows * dim * 5), stateBytes: 4 * batch * dim * modes * 2)
  }
}

extension LanguageModel {
  /// Layer-pattern name of the diagonal LTI state space layer: `s4d`.
  static let diagonalStateSpaceFactory: MixerFactory = { name, config, generator in
    guard name == "s4d" else { return nil }
    return DiagonalStateSpaceLayer(modelDimension: config.modelDimension, generator: &generator)
  }
}
