import Foundation
import TesseraCore
import TesseraNN

/// A TTT layer as a token mixer, `[B, T, D] → [B, T, D]` (Sun et al., 2024), with a linear
/// (TTT-Linear) or two-layer MLP (TTT-MLP) inner model:
///
///     q, k = L2norm(x W_q), L2norm(x W_k)      v = x W_v           (per head, width D/H)
///     η    = η_base·σ(x W_η + b_η)             (a learning rate per head and token; η_base 1 or 0.1)
///     o    = testTimeTrainingLinear(q, k, v, η, W₀, mini-batch 16)          (TTT-Linear), or
///     o    = testTimeTrainingMLP(q, k, v, η, (W₁⁰, W₂⁰), mini-batch 16)     (TTT-MLP, hidden 4·D/H)
///     y    = (RMSNorm_head(o) ⊙ silu(x W_r)) W_o
///
/// The inner model's starting weights are learned, per head (`W₁⁰` random, `W₂⁰` zero: the MLP needs
/// a nonzero first layer to have any gradient). Unit keys make the inner loss's curvature 1 along
/// `k`, so `η < 1` is a stable step (the paper scales its base learning rate for the same reason).
/// Training runs the dual form; decoding runs the primal form one token at a time, carrying the
/// mini-batch's starting weights, the gradients accumulated since, and the position inside it.
///
/// ``TestTimeTrainingLinearLayer`` (kind `ttt-linear`) and ``TestTimeTrainingMLPLayer``
/// (`ttt-mlp`) are its two members.
public class TestTimeTrainingLayer: Module {
  /// The model trained inside the layer.
  public enum InnerModel: String, Sendable {
    /// `f(x) = x W` (TTT-Linear).
    case linear
    /// `f(x) = gelu(x W₁) W₂` with a hidden width of four times the head width (TTT-MLP).
    case mlp
  }

  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let etaProj: Linear
  public let rProj: Linear
  public let oProj: Linear
  /// `W₀` `[H, K, K]` (linear), or the MLP's first layer `W₁⁰` `[H, K, 4K]`.
  @Parameter public var initialWeight: Tensor
  /// The MLP's second layer `W₂⁰` `[H, 4K, K]`; nil for the linear inner model.
  @OptionalParameter public var initialOutputWeight: Tensor?
  @Parameter public var headNorm: Tensor
  public let heads: Int
  public let headDimension: Int
  public let miniBatch: Int
  public let innerModel: InnerModel
  /// The training form: `.parallel` (dual) or `.reference` (primal).
  public let form: Form

  /// The inner learning rate's scale η_base: 1 for the linear model (unit keys bound its
  /// curvature), 0.1 for the MLP, whose inner loss also curves through both layers (rates near 1
  /// diverge).
  public let baseLearningRate: Float

  public init(
    modelDimension: Int, heads: Int, miniBatch: Int = 16, innerModel: InnerModel = .linear,
    baseLearningRate: Float? = nil, form: Form = .parallel, generator: inout RandomGenerator
  ) {
    self.form = form
    check(modelDimension % heads == 0, "TestTimeTrainingLayer: \(modelDimension) does not split into \(heads) heads")
    self.baseLearningRate = baseLearningRate ?? (innerModel == .linear ? 1 : 0.1)
    self.heads = heads
    headDimension = modelDimension / heads
    self.miniBatch = miniBatch
    self.innerModel = innerModel
    qProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    kProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    vProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    etaProj = Linear(modelDimension, heads, generator: &generator)
    rProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    oProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    let k = headDimension
    switch innerModel {
    case .linear:
      initialWeight = Tensor.zeros([heads, k, k])
      initialOutputWeight = nil
    case .mlp:
      initialWeight = generator.normal([heads, k, 4 * k], standardDeviation: 1 / Float(k).squareRoot())
      initialOutputWeight = Tensor.zeros([heads, 4 * k, k])
    }
    headNorm = Tensor.ones([headDimension])
  }

  /// The starting weights of the inner model, broadcast over a batch of `batch`.
  func startingWeights(batch: Int) -> [Tensor] {
    ([initialWeight] + (initialOutputWeight.map { [$0] } ?? [])).map {
      $0.expandingDimensions(at: 0).broadcast(to: [batch] + $0.shape)
    }
  }

  func unit(_ t: Tensor) -> Tensor { t * (t.square().sum(axis: -1, keepDimensions: true) + 1e-6).rsqrt() }

  func project(_ x: Tensor) -> (q: Tensor, k: Tensor, v: Tensor, eta: Tensor) {
    let (b, t) = (x.shape[0], x.shape[1])
    func heads(_ y: Tensor) -> Tensor { y.reshaped(b, t, self.heads, headDimension) }
    return (unit(heads(qProj(x))), unit(heads(kProj(x))), heads(vProj(x)), etaProj(x).sigmoid() * baseLearningRate)
  }

  func finish(_ o: Tensor, _ x: Tensor) -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    return oProj(rmsNorm(o, weight: headNorm).reshaped(b, t, heads * headDimension) * rProj(x).silu())
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let (q, k, v, eta) = project(x)
    let w = startingWeights(batch: x.shape[0])
    let o: Tensor
    switch innerModel {
    case .linear:
      o =
        testTimeTrainingLinear(q, k, v, learningRate: eta, initialState: w[0], miniBatch: miniBatch, form: form).output
    case .mlp:
      o =
        testTimeTrainingMLP(q, k, v, learningRate: eta, initialWeights: (w[0], w[1]), miniBatch: miniBatch, form: form)
        .output
    }
    return finish(o, x)
  }

  /// The weights the current mini-batch started from, the gradient steps taken since (one per
  /// weight), and how many tokens of the mini-batch have been read.
  public struct State {
    var start: [Tensor]
    var accumulated: [Tensor]
    var position: Int
  }

  public func initialState(batch: Int) -> State {
    let start = startingWeights(batch: batch)
    return State(start: start, accumulated: start.map { Tensor.zeros($0.shape) }, position: 0)
  }

  public func step(_ x: Tensor, _ state: inout State) -> Tensor {
    let b = x.shape[0]
    let x3 = x.reshaped(b, 1, x.shape[1])
    let (q, k, v, eta) = project(x3)
    let qt = q.reshaped(b, heads, 1, headDimension)
    let kt = k.reshaped(b, heads, 1, headDimension), vt = v.reshaped(b, heads, 1, headDimension)
    let et = eta.reshaped(b, heads, 1, 1)
    let o: Tensor
    switch innerModel {
    case .linear:
      state.accumulated[0] = state.accumulated[0] + matmul(kt.transposed(), matmul(kt, state.start[0]) - vt) * et
      o = matmul(qt, state.start[0] - state.accumulated[0])
    case .mlp:
      let terms = InnerMLP.errors(kt, vt, state.start[0], state.start[1])
      state.accumulated[0] = state.accumulated[0] + matmul(kt.transposed(), terms.delta) * et
      state.accumulated[1] = state.accumulated[1] + matmul(terms.hidden.transposed(), terms.error) * et
      o = InnerMLP.apply(qt, state.start[0] - state.accumulated[0], state.start[1] - state.accumulated[1])
    }
    state.position += 1
    if state.position == miniBatch {
      state.start = zip(state.start, state.accumulated).map { $0 - $1 }
      state.accumulated = state.accumulated.map { Tensor.zeros($0.shape) }
      state.position = 0
    }
    return finish(o.reshaped(b, 1, heads, headDimension), x3).reshaped(b, x.shape[1])
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, k = headDimension, width = heads * headDimension
    var flops = [qProj, kProj, vProj, etaProj, rProj, oProj].reduce(0) { $0 + $1.flops(rows: rows) }
    // Unit queries and keys; η = η_base·σ(x W_η + b_η).
    flops +=
      2 * FlopCount.unitLength(rows: rows * heads, width: k) + rows * heads * (FlopCount.sigmoid + FlopCount.arithmetic)
    let stateBytes: Int
    switch innerModel {
    case .linear:
      flops +=
        batch * heads * testTimeTrainingLinearFlops(time: time, keys: k, values: k, miniBatch: miniBatch, form: form)
      stateBytes = 4 * batch * heads * k * k
    case .mlp:
      let hidden = initialWeight.shape[2]
      flops +=
        batch * heads
        * testTimeTrainingMLPFlops(time: time, keys: k, hidden: hidden, values: k, miniBatch: miniBatch, form: form)
      stateBytes = 4 * batch * heads * 2 * hidden * k
    }
    // RMS norm per head, silu(x W_r) and the gating product.
    flops +=
      FlopCount.rmsNorm(rows: rows * heads, width: k) + rows * width * (FlopCount.silu + FlopCount.arithmetic)
    return LayerCost(
      flops: flops,
      activationBytes: 4 * rows * heads * k * 6 + stateBytes * blockCount(time: time, size: miniBatch),
      stateBytes: 2 * stateBytes)
  }
}

extension TestTimeTrainingLayer {
  /// The options of both inner models.
  public struct Options: LayerOptions {
    public var heads = 4
    /// Tokens per inner mini-batch (one gradient step of the inner model each).
    public var miniBatch = 16
    /// η_base, the scale of the inner learning rate `η = η_base·σ(x W_η + b_η)` (nil: 1 for the
    /// linear inner model, 0.1 for the MLP).
    public var baseLearningRate: Double?
    /// `.parallel` (the dual form) or `.reference` (the primal form).
    public var form = Form.parallel
    public init() {}
  }

  public static var slot: LayerSlot { .sequence }
  public static var capabilities: LayerCapabilities { [.causal, .recurrentDecoding] }
  public static var forms: [Form] { testTimeTrainingForms }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    headProblems(heads: options.heads, width: width) + minimumProblem("miniBatch", options.miniBatch, 1)
      + ((options.baseLearningRate ?? 1) > 0 ? [] : [OptionProblem("baseLearningRate", "must be positive")])
      + formProblems(options.form, testTimeTrainingForms)
  }

  convenience init(_ options: Options, width: Int, innerModel: InnerModel, generator: inout RandomGenerator) {
    self.init(
      modelDimension: width, heads: options.heads, miniBatch: options.miniBatch, innerModel: innerModel,
      baseLearningRate: options.baseLearningRate.map(Float.init), form: options.form, generator: &generator)
  }

  public var options: Options {
    var options = Options()
    options.heads = heads
    options.miniBatch = miniBatch
    options.baseLearningRate = Double(baseLearningRate)
    options.form = form
    return options
  }
}

/// TTT-Linear (Sun et al., 2024): a linear inner model `f(x) = x W` trained by gradient steps
/// while reading. Kind `ttt-linear`. See ``TestTimeTrainingLayer``.
public final class TestTimeTrainingLinearLayer: TestTimeTrainingLayer, RecurrentLayer {
  public static let kind = "ttt-linear"
  public static let summary = "TTT-Linear, a linear model trained as the sequence is read (Sun et al., 2024)"

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(options, width: width, innerModel: .linear, generator: &generator)
  }
}

/// TTT-MLP (Sun et al., 2024): a two-layer MLP inner model `f(x) = gelu(x W₁) W₂` (hidden width
/// 4·D/H) trained while reading. Kind `ttt-mlp`. See ``TestTimeTrainingLayer``.
public final class TestTimeTrainingMLPLayer: TestTimeTrainingLayer, RecurrentLayer {
  public static let kind = "ttt-mlp"
  public static let summary = "TTT-MLP, an MLP trained as the sequence is read (Sun et al., 2024)"

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(options, width: width, innerModel: .mlp, generator: &generator)
  }
}
