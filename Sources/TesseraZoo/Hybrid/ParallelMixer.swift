import TesseraCore
import TesseraNN

/// An intra-layer hybrid in the manner of Hymba (Dong et al., "Hymba: A Hybrid-head Architecture for
/// Small Language Models", 2024): several sequence mixers (attention heads, SSM or linear-attention
/// heads) read the same input `[B, T, D]` in one layer; each branch's output is normalised (RMS, its
/// own gain) and the branches are combined:
///
///     learned:  y = Σᵢ βᵢ ⊙ normᵢ(branchᵢ(x))          βᵢ ∈ ℝᴰ learned, starting at 1/n
///     mean:     y = (1/n) Σᵢ normᵢ(branchᵢ(x))
///     concat:   y = W [norm₁(branch₁(x)); …; normₙ(branchₙ(x))]     W ∈ ℝᴰˣⁿᴰ
///
/// Built by ``LanguageModel`` from a ``MixerSpec/parallel(_:combine:)`` (pattern `"(attn+mamba2)"`).
/// Decoding carries every branch's state side by side (a KV cache and a recurrent state), so the
/// token-by-token form equals the parallel one when every branch decodes.
public final class ParallelMixer: RecurrentLayer, TrainingStepListener {
  public struct Options: LayerOptions {
    public var combine: MixerSpec.Combine = .learned
    public init() {}
  }

  public static let kind = "parallel"
  public static let slot = LayerSlot.sequence
  /// The union a branch may have; the spec's validation checks each branch on its own.
  public static let capabilities: LayerCapabilities = [.causal, .bidirectional, .recurrentDecoding, .auxiliaryLoss]
  public static let summary = "Intra-layer hybrid: branches on the same input, normalised and combined (Hymba)"

  public let options: Options
  public let branches: [any LayerFamily]
  public let norms: [RMSNorm]
  /// Per-branch channel weights `[n, D]` (learned combination).
  @OptionalParameter public var branchWeights: Tensor?
  /// The projection of the concatenated branches `[D, n·D]` (concat combination).
  @OptionalParameter public var combineWeight: Tensor?
  let width: Int

  /// Not used: a parallel mixer is built from its branches (``init(branches:combine:width:generator:)``).
  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    checkFailed("ParallelMixer is built from its branches: use a MixerSpec.parallel in a ModelSpec")
  }

  /// Branches already built (each `[B, T, D] → [B, T, D]`), combined by `combine`.
  public init(branches: [any LayerFamily], combine: MixerSpec.Combine, width: Int, generator: inout RandomGenerator) {
    check(!branches.isEmpty, "ParallelMixer: at least one branch")
    var options = Options()
    options.combine = combine
    self.options = options
    self.branches = branches
    self.width = width
    norms = branches.map { _ in RMSNorm(width) }
    let n = branches.count
    switch combine {
    case .learned:
      branchWeights = Tensor(repeating: 1 / Float(n), shape: [n, width])
    case .concat:
      let bound = 1 / Float(n * width).squareRoot()
      combineWeight = generator.uniform([width, n * width], low: -bound, high: bound)
    case .mean:
      break
    }
  }

  func combine(_ outputs: [Tensor]) -> Tensor {
    let normalised = zip(norms, outputs).map { norm, y in norm(y) }
    let n = Float(normalised.count)
    switch options.combine {
    case .mean:
      return normalised.dropFirst().reduce(normalised[0], +) * (1 / n)
    case .learned:
      let weights = branchWeights!
      let terms = normalised.enumerated().map { i, y in y * weights.select(axis: 0, index: i) }
      return terms.dropFirst().reduce(terms[0], +)
    case .concat:
      let joined = concatenate(normalised, axis: normalised[0].rank - 1)
      return matmul(joined, combineWeight!.transposed())
    }
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    combine(branches.map { $0(x, &context) })
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, n = branches.count
    var total = branches.reduce(LayerCost.zero) { $0 + $1.cost(batch: batch, time: time, context: context) }
    // Each norm: a square, a sum, an inverse root per row, two multiplies; then the combination.
    total.flops += n * rows * (4 * width * FlopCount.arithmetic + FlopCount.inverseSquareRoot)
    switch options.combine {
    case .mean: total.flops += rows * width * n * FlopCount.arithmetic
    case .learned: total.flops += rows * width * 2 * n * FlopCount.arithmetic
    case .concat: total.flops += 2 * rows * width * n * width
    }
    total.activationBytes += 4 * rows * width * 2 * n
    return total
  }

  // MARK: Decoding

  /// Every branch's decoding state.
  public struct State {
    var branches: [any LayerDecoder]
  }

  /// Fails naming the branch when one has no recurrent form (``LanguageModel/decodingState(batch:)``
  /// checks first and throws instead).
  public func initialState(batch: Int) -> State {
    State(
      branches: branches.enumerated().map { i, branch in
        guard let recurrent = branch as? any RecurrentLayer else {
          checkFailed("ParallelMixer: branch \(i) (\(type(of: branch).kind)) has no recurrent form")
        }
        return makeDecoder(recurrent, batch: batch)
      })
  }

  public func step(_ x: Tensor, _ state: inout State) -> Tensor {
    combine(state.branches.map { $0.step(x) })
  }

  /// The first branch that cannot decode, if any.
  var firstNonRecurrentBranch: Int? { branches.firstIndex { !($0 is any RecurrentLayer) } }

  public func finishTrainingStep() {
    for branch in branches { (branch as? any TrainingStepListener)?.finishTrainingStep() }
  }
}
