import Foundation
import TesseraCore
import TesseraNN

/// The Forgetting Transformer's attention layer (FoX: Lin et al., 2025), `[B, T, D] → [B, T, D]`:
/// multi-head softmax attention without position embeddings, whose scores carry the cumulative log
/// of a forget gate `f_t = σ(x_t W_f + b_f)` per head (see ``naiveForgettingAttention``). Training
/// runs the tiled form (``tiledForgettingAttention(_:_:_:logDecay:queryBlock:keyBlock:)``, `O(T)`
/// memory); decoding keeps the keys, values and running log-forget sum of the tokens seen.
///
/// Kind `fox`.
public final class ForgettingAttentionLayer: RecurrentLayer {
  public struct Options: LayerOptions {
    public var heads = 4
    /// `.reference` (``naiveForgettingAttention``) or `.tiled(queryBlock:keyBlock:)`.
    public var form = Form.tiled(queryBlock: 128, keyBlock: 128)
    public init() {}
  }

  public static let kind = "fox"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = forgettingAttentionForms
  public static let summary = "Forgetting Transformer: softmax attention with a forget gate (Lin et al., 2025)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    headProblems(heads: options.heads, width: width) + formProblems(options.form, forgettingAttentionForms)
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(modelDimension: width, heads: options.heads, form: options.form, generator: &generator)
  }

  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let fProj: Linear
  public let oProj: Linear
  public let heads: Int
  public let headDimension: Int

  public init(
    modelDimension: Int, heads: Int, form: Form = .tiled(queryBlock: 128, keyBlock: 128),
    generator: inout RandomGenerator
  ) {
    var options = Options()
    options.heads = heads
    options.form = form
    self.options = options
    check(modelDimension % heads == 0, "ForgettingAttentionLayer: \(modelDimension) does not split into \(heads) heads")
    self.heads = heads
    headDimension = modelDimension / heads
    qProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    kProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    vProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
    fProj = Linear(modelDimension, heads, generator: &generator)
    oProj = Linear(modelDimension, modelDimension, bias: false, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
    let shape = [b, t, heads, headDimension]
    let o = forgettingAttention(
      qProj(x).reshaped(shape), kProj(x).reshaped(shape), vProj(x).reshaped(shape), logDecay: fProj(x).logSigmoid(),
      form: options.form)
    return oProj(o.reshaped(b, t, d))
  }

  /// Keys and values `[B, H, S, D]` and the running log-forget sums `[B, H, S]` of the tokens seen.
  public struct State {
    var keys: Tensor?
    var values: Tensor?
    var forget: Tensor?
  }

  public func initialState(batch: Int) -> State { State() }

  public func step(_ x: Tensor, _ state: inout State) -> Tensor {
    let (b, d) = (x.shape[0], x.shape[1])
    let q = qProj(x).reshaped(b, heads, 1, headDimension)
    let k = kProj(x).reshaped(b, heads, 1, headDimension), v = vProj(x).reshaped(b, heads, 1, headDimension)
    let g = fProj(x).logSigmoid().reshaped(b, heads, 1)
    let total = state.forget.map { $0.slice(axis: 2, ($0.shape[2] - 1)..<$0.shape[2]) + g } ?? g  // G_t
    let keys = state.keys.map { concatenate([$0, k], axis: 2) } ?? k
    let values = state.values.map { concatenate([$0, v], axis: 2) } ?? v
    let forget = state.forget.map { concatenate([$0, total], axis: 2) } ?? total
    state = State(keys: keys, values: values, forget: forget)
    let scores = matmul(q, keys.transposed()) * (1 / Float(headDimension).squareRoot())  // [B, H, 1, S]
    let bias = (total - forget).expandingDimensions(at: 2)  // G_t − G_s
    let o = matmul((scores + bias).softmax(), values)  // [B, H, 1, D]
    return oProj(o.reshaped(b, d))
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time
    let projections = [qProj, kProj, vProj, fProj, oProj].reduce(0) { $0 + $1.flops(rows: rows) }
    // The log forget gates and their running sum over time, then the biased attention.
    let gates = rows * heads * (FlopCount.logSigmoid + FlopCount.arithmetic)
    let attention =
      batch * heads
      * attentionCoreFlops(
        time: time, dimension: headDimension, mask: .causal, form: options.form, positionBias: true)
    let saved: Int
    switch options.form {
    case .tiled: saved = batch * heads * time  // the row log-sum-exp
    default: saved = batch * heads * time * time  // the probabilities
    }
    return LayerCost(
      flops: projections + gates + attention,
      activationBytes: 4 * (saved + rows * (4 * heads * headDimension + 2 * heads)),
      stateBytes: 4 * batch * time * heads * (2 * headDimension + 1))
  }
}
