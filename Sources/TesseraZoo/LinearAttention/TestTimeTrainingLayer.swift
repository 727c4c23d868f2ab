import Foundation
import TesseraCore
import TesseraNN

/// A TTT-Linear layer as a token mixer, `[B, T, D] → [B, T, D]` (Sun et al., 2024):
///
///     q, k = L2norm(x W_q), L2norm(x W_k)      v = x W_v           (per head, width D/H)
///     η    = σ(x W_η + b_η)                    (a learning rate per head and token, in (0, 1))
///     o    = testTimeTrainingLinear(q, k, v, η, W₀, mini-batch 16)   (W₀ learned, per head)
///     y    = (RMSNorm_head(o) ⊙ silu(x W_r)) W_o
///
/// Unit keys make the inner loss's curvature 1 along `k`, so `η < 1` is a stable step (the paper
/// scales its base learning rate for the same reason). Training runs the dual form; decoding runs
/// the primal form one token at a time, carrying the mini-batch's starting weight, the gradients
/// accumulated since, and the position inside the mini-batch.
public final class TestTimeTrainingLayer: RecurrentMixer {
  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let etaProj: Linear
  public let rProj: Linear
  public let oProj: Linear
  @Parameter public var initialWeight: Tensor  // W₀ [H, K, K]
  @Parameter public var headNorm: Tensor
  public let heads: Int
  public let headDimension: Int
  public let miniBatch: Int

  public init(modelDimension: Int, heads: Int, miniBatch: Int = 16, generator: inout RandomGenerator) {
    check(modelDimension % heads == 0, "TestTimeTrainingLayer: \(modelDimension) does not split into \(heads) heads")
    self.heads = heads
    headDimension = modelDimension / heads
    self.miniBatch = miniBatch
    qProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    kProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    vProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    etaProj = Linear(modelDimension, heads, generator: &generator)
    rProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    oProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    initialWeight = Tensor.zeros([heads, headDimension, headDimension])
    headNorm = Tensor.ones([headDimension])
  }

  func unit(_ t: Tensor) -> Tensor { t * (t.square().sum(axis: -1, keepDimensions: true) + 1e-6).rsqrt() }

  func project(_ x: Tensor) -> (q: Tensor, k: Tensor, v: Tensor, eta: Tensor) {
    let (b, t) = (x.shape[0], x.shape[1])
    func heads(_ y: Tensor) -> Tensor { y.reshaped(b, t, self.heads, headDimension) }
    return (unit(heads(qProj(x))), unit(heads(kProj(x))), heads(vProj(x)), etaProj(x).sigmoid())
  }

  func finish(_ o: Tensor, _ x: Tensor) -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    return oProj(rmsNorm(o, weight: headNorm).reshaped(b, t, heads * headDimension) * rProj(x).silu())
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    let (q, k, v, eta) = project(x)
    let w0 = initialWeight.expandingDimensions(at: 0).broadcast(to: [x.shape[0], heads, headDimension, headDimension])
    let (o, _) = testTimeTrainingLinear(q, k, v, learningRate: eta, initialState: w0, miniBatch: miniBatch, form: .dual)
    return finish(o, x)
  }

  /// The weight the current mini-batch started from, the gradient steps taken since, and how many.
  public struct State {
    var start: Tensor
    var accumulated: Tensor
    var position: Int
  }

  public func initialState(batch: Int) -> State {
    State(
      start: initialWeight.expandingDimensions(at: 0).broadcast(to: [batch, heads, headDimension, headDimension]),
      accumulated: Tensor.zeros([batch, heads, headDimension, headDimension]), position: 0)
  }

  public func step(_ x: Tensor, _ state: inout State) -> Tensor {
    let b = x.shape[0]
    let x3 = x.reshaped(b, 1, x.shape[1])
    let (q, k, v, eta) = project(x3)
    let kt = k.reshaped(b, heads, 1, headDimension), vt = v.reshaped(b, heads, 1, headDimension)
    let gradient = matmul(kt.transposed(), matmul(kt, state.start) - vt) * eta.reshaped(b, heads, 1, 1)
    state.accumulated = state.accumulated + gradient
    let o = matmul(q.reshaped(b, heads, 1, headDimension), state.start - state.accumulated)
    state.position += 1
    if state.position == miniBatch {
      state.start = state.start - state.accumulated
      state.accumulated = Tensor.zeros(state.accumulated.shape)
      state.position = 0
    }
    return finish(o.reshaped(b, 1, heads, headDimension), x3).reshaped(b, x.shape[1])
  }

  public func cost(batch: Int, time: Int) -> MixerCost {
    let rows = batch * time, k = headDimension
    let projections = [qProj, kProj, vProj, etaProj, rProj, oProj].reduce(0) { $0 + $1.flops(rows: rows) }
    // Dual form per head and mini-batch of b: Q Kᵀ (2b²K), K W₀ and Q W₀ (4bK²), the masked product
    // (2b²K), the weight update (2bK²): per token ~4bK + 6K².
    let inner = rows * heads * (4 * miniBatch * k + 6 * k * k)
    let stateBytes = 4 * batch * heads * k * k
    return MixerCost(
      flops: projections + inner,
      activationBytes: 4 * rows * heads * k * 6 + stateBytes * ((time + miniBatch - 1) / miniBatch),
      stateBytes: 2 * stateBytes)
  }
}

extension LanguageModel {
  /// Layer-pattern name of the test-time-training layer: `ttt-linear`.
  static let testTimeTrainingFactory: MixerFactory = { name, config, generator in
    guard name == "ttt-linear" else { return nil }
    return TestTimeTrainingLayer(modelDimension: config.modelDimension, heads: config.heads, generator: &generator)
  }
}
