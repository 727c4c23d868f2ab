import TesseraCore
import TesseraNN

/// Which slot of a block a layer fills.
public enum LayerSlot: String, Codable, Sendable {
  /// Mixes information across time (attention, recurrences, state space models).
  case sequence
  /// Acts on each position's channels (feed-forward layers, mixtures of experts).
  case channel
  /// Wraps a whole block (early exits, gates).
  case block
  /// Shortens the sequence before a stage and restores it after (token-to-concept chunking).
  case resample
}

/// What a layer can do, checked when a model is built from a ``ModelSpec``.
public struct LayerCapabilities: OptionSet, Sendable, Hashable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// Position `t` reads only positions `≤ t` (usable in a decoder).
  public static let causal = LayerCapabilities(rawValue: 1 << 0)
  /// Can read the whole sequence (usable in an encoder or a diffusion model).
  public static let bidirectional = LayerCapabilities(rawValue: 1 << 1)
  /// Decodes one token at a time from a carried state (``RecurrentLayer``).
  public static let recurrentDecoding = LayerCapabilities(rawValue: 1 << 2)
  /// Adds auxiliary losses to the forward context.
  public static let auxiliaryLoss = LayerCapabilities(rawValue: 1 << 3)
  /// Changes the number of positions (token-to-concept chunking).
  public static let changesLength = LayerCapabilities(rawValue: 1 << 4)
  /// Its cost depends on decisions taken from the data (routing, exits, pruning).
  public static let dataDependentCost = LayerCapabilities(rawValue: 1 << 5)
}

/// The hyper-parameters of one layer family: every one its paper names, each with a default, so
/// `Options()` is the layer as the paper (or today's default) builds it. Coded as a JSON object
/// whose keys are the property names; a key missing from the JSON keeps its default.
public protocol LayerOptions: Codable, Sendable, Equatable {
  init()
}

/// A problem with one option of a layer, found before the layer is built.
public struct OptionProblem: Sendable, Equatable {
  /// The option's key (its property name).
  public var key: String
  public var message: String
  public init(_ key: String, _ message: String) {
    self.key = key
    self.message = message
  }
}

/// A layer a model can be built from: registered once in ``Zoo/families`` under its ``kind``,
/// built from its ``Options`` and the model width, `[batch, time, width] → [batch, time, width]`.
///
/// Adding a family is its own folder (the op's forms, the layer, its conformance) plus one line
/// in ``Zoo/families``.
public protocol LayerFamily: Module {
  associatedtype Options: LayerOptions
  /// The name a ``ModelSpec`` and a layer pattern use: `"gla"`, `"mamba2"`, `"swiglu"`.
  static var kind: String { get }
  /// The slot of a block the layer fills.
  static var slot: LayerSlot { get }
  static var capabilities: LayerCapabilities { get }
  /// One line for tables: what the layer is and its paper.
  static var summary: String { get }
  /// The forms the layer can run its op in (its `form` option), the default among them; empty
  /// for a layer with one form.
  static var forms: [Form] { get }
  /// The option a pattern sets after a colon (`"swa:64"` sets `window`), if any.
  static var patternArgument: String? { get }
  /// Why the layer has no causal form, for the error a causal model gives (nil: none given).
  static var notCausalBecause: String? { get }
  /// Problems with `options` at model width `width` (heads that do not divide it, …).
  static func problems(_ options: Options, width: Int) -> [OptionProblem]

  init(_ options: Options, width: Int, generator: inout RandomGenerator)
  /// The options the layer was built with.
  var options: Options { get }
  /// The training / prefill form: `[B, T, D] → [B, T, D]`.
  func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor
  /// Counted (not measured) cost of the forward pass over `batch × time` positions.
  func cost(batch: Int, time: Int, context: CostContext) -> LayerCost
}

extension LayerFamily {
  public static var patternArgument: String? { nil }
  public static var notCausalBecause: String? { nil }
  public static var forms: [Form] { [] }
  public static func problems(_ options: Options, width: Int) -> [OptionProblem] { [] }

  /// The layer's forward pass in a causal context of its own (statistics and losses dropped).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    var context = ForwardContext()
    return self(x, &context)
  }

  /// Counted cost in a causal context.
  public func cost(batch: Int, time: Int) -> LayerCost { cost(batch: batch, time: time, context: CostContext()) }
}

/// A layer that can also run one token at a time, carrying a typed state (a KV cache, a
/// recurrent state): ``step(_:_:)`` on `[batch, width]` reproduces the parallel form's outputs
/// token by token.
public protocol RecurrentLayer: LayerFamily {
  associatedtype State
  func initialState(batch: Int) -> State
  /// One decoding step: `[batch, width] → [batch, width]`.
  func step(_ x: Tensor, _ state: inout State) -> Tensor
}

/// A layer whose tokens each use only part of its parameters (a mixture of experts).
public protocol SparselyActivatedLayer: AnyObject {
  /// Trainable scalars one token uses on average.
  var activeParameterCount: Int { get }
}

/// A layer that updates itself outside the gradient after each optimizer step (auxiliary-loss-free
/// balancing). ``LanguageModel/finishTrainingStep()`` calls every one; `train` calls that.
public protocol TrainingStepListener: AnyObject {
  func finishTrainingStep()
}

/// Problems shared by layers that split the width into heads.
public func headProblems(heads: Int, width: Int, key: String = "heads") -> [OptionProblem] {
  if heads < 1 { return [OptionProblem(key, "must be at least 1, got \(heads)")] }
  if width % heads != 0 { return [OptionProblem(key, "width \(width) is not a multiple of \(heads) heads")] }
  return []
}

/// A problem when `value` is below `minimum`.
public func minimumProblem(_ key: String, _ value: Int, _ minimum: Int) -> [OptionProblem] {
  value < minimum ? [OptionProblem(key, "must be at least \(minimum), got \(value)")] : []
}

/// A problem when `form` is not of one of the kinds in `forms`, or has a size below 1.
public func formProblems(_ form: Form, _ forms: [Form], key: String = "form") -> [OptionProblem] {
  guard forms.contains(where: { $0.sameKind(as: form) }) else {
    return [
      OptionProblem(
        key, "\(form) is not one of this layer's forms: \(forms.map(\.description).joined(separator: ", "))")
    ]
  }
  switch form {
  case .chunked(let size) where size < 1: return [OptionProblem(key, "the chunk size must be at least 1, got \(size)")]
  case .tiled(let q, let k) where q < 1 || k < 1:
    return [OptionProblem(key, "the block sizes must be at least 1, got \(q) × \(k)")]
  default: return []
  }
}

extension Form {
  /// Tokens computed together in this form over `time` tokens: 1 for the reference form (a
  /// recurrence), the chunk size when chunked, the whole sequence otherwise.
  public func chunkLength(time: Int) -> Int {
    switch self {
    case .reference: return 1
    case .chunked(let size): return size
    default: return max(1, time)
    }
  }
}
