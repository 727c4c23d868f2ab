/// What a layer costs for one shape: counted, not measured.
///
/// **How FLOPs are counted.** The count follows the forward pass as the code computes it, in
/// the form the layer is built with; every piece of work is counted once:
///
/// - A multiply–add is 2 FLOPs: a matrix product `[m, k] · [k, n]` is `2·m·k·n`, whatever its
///   entries (the zeros of a masked or padded operand included, since they are multiplied).
/// - A projection over `rows` vectors is `Linear.flops(rows:)`: `2·rows·in·out`, plus
///   `rows·out` for the bias add when the projection has a bias. A causal depthwise convolution
///   of kernel `K` over `C` channels is `CausalConvolution.flops(rows:)`: `rows·C·(2K + 1)` (a
///   multiply–add per tap and the bias).
/// - An element-wise operation is ``FlopCount/arithmetic`` (1) per output element: add,
///   subtract, multiply, divide, maximum, multiplication by a 0/1 mask, selection by a mask, and
///   each summand of a reduction or a running sum. A transcendental function (exp, log, √, tanh,
///   sin, cos, erf) is ``FlopCount/transcendental`` (4). Composite functions are counted from
///   their defining formula (``FlopCount/sigmoid``, ``FlopCount/silu``, ``FlopCount/softplus``,
///   the two GELUs, the normalisations and the softmax below), not from a kernel's overflow guards.
/// - Not counted: reshapes, permutations, slices, padding, concatenation, broadcasting, and
///   tables that depend on neither the input nor the parameters (0/1 masks, rotary angles, fixed
///   decays).
///
/// Activation and state bytes are float32 (4 bytes a value).
public struct LayerCost: Codable, Sendable, Equatable {
  /// Floating-point operations of the forward pass (see the counting rules above).
  public var flops: Int
  /// Bytes of activations the forward pass keeps for the backward pass (float32).
  public var activationBytes: Int
  /// Bytes of state carried between decoding steps, for the whole batch (float32).
  public var stateBytes: Int
  /// Trainable scalars (reported by layers whose tokens use only some of them, and by a model).
  public var parameters: Int?
  /// Trainable scalars one token uses on average (a mixture of experts: the router, the shared
  /// experts and the experts it was routed to).
  public var activeParameters: Int?

  public init(flops: Int, activationBytes: Int, stateBytes: Int, parameters: Int? = nil, activeParameters: Int? = nil) {
    self.flops = flops
    self.activationBytes = activationBytes
    self.stateBytes = stateBytes
    self.parameters = parameters
    self.activeParameters = activeParameters
  }

  public static let zero = LayerCost(flops: 0, activationBytes: 0, stateBytes: 0)

  /// The sum of two counts where either is reported.
  static func sum(_ a: Int?, _ b: Int?) -> Int? { a == nil && b == nil ? nil : (a ?? 0) + (b ?? 0) }

  public static func + (a: LayerCost, b: LayerCost) -> LayerCost {
    LayerCost(
      flops: a.flops + b.flops, activationBytes: a.activationBytes + b.activationBytes,
      stateBytes: a.stateBytes + b.stateBytes, parameters: sum(a.parameters, b.parameters),
      activeParameters: sum(a.activeParameters, b.activeParameters))
  }
}

/// The per-element FLOP counts of ``LayerCost``'s convention, by name.
public enum FlopCount {
  /// One element-wise add, subtract, multiply, divide, maximum, mask or reduction summand.
  public static let arithmetic = 1
  /// One exp, log, √, tanh, sin, cos or erf.
  public static let transcendental = 4
  /// `1 / √x`: a square root and a division.
  public static let inverseSquareRoot = transcendental + arithmetic
  /// `σ(x) = 1 / (1 + e⁻ˣ)`: an exp, an add and a division.
  public static let sigmoid = transcendental + 2 * arithmetic
  /// `silu(x) = x·σ(x)`.
  public static let silu = sigmoid + arithmetic
  /// `softplus(x) = log(1 + eˣ)`: an exp, an add and a log.
  public static let softplus = 2 * transcendental + arithmetic
  /// `log σ(x) = −softplus(−x)` (the negations folded into the softplus).
  public static let logSigmoid = softplus
  /// GELU's tanh form, `½x(1 + tanh(c(x + 0.044715x³)))`: eight arithmetic operations and a tanh.
  public static let geluTanh = transcendental + 8 * arithmetic
  /// Exact GELU, `½x(1 + erf(x/√2))`: four arithmetic operations and an erf.
  public static let geluErf = transcendental + 4 * arithmetic
  /// The derivative of GELU's tanh form as TTT-MLP's inner loop writes it: sixteen arithmetic
  /// operations and a tanh.
  public static let geluTanhDerivative = transcendental + 16 * arithmetic

  /// Softmax of `rows` rows of `width`: per element the maximum, the shift, the exp, the sum and
  /// the normalising product; per row the reciprocal of the sum.
  public static func softmax(rows: Int, width: Int) -> Int {
    rows * (width * (transcendental + 4 * arithmetic) + arithmetic)
  }

  /// RMS norm of `rows` rows of `width`: per element the square, its sum, the normalising and the
  /// weight's products; per row the mean, the ε and `1/√`.
  public static func rmsNorm(rows: Int, width: Int) -> Int {
    rows * (4 * width * arithmetic + 2 * arithmetic + inverseSquareRoot)
  }

  /// Layer norm of `rows` rows of `width`: per element the mean's sum, the deviation, its square
  /// and sum, the centring and normalising, the weight's product and the bias; per row the two
  /// means, the ε and `1/√`.
  public static func layerNorm(rows: Int, width: Int) -> Int {
    rows * (8 * width * arithmetic + 3 * arithmetic + inverseSquareRoot)
  }

  /// Scaling `rows` rows of `width` to unit length, `x·(Σx² + ε)^−½`: per element the square, its
  /// sum and the product; per row the ε and `1/√`.
  public static func unitLength(rows: Int, width: Int) -> Int {
    rows * (3 * width * arithmetic + arithmetic + inverseSquareRoot)
  }
}

/// The setting a cost is counted in: the direction, and (for layers whose cost depends on the
/// data) the decisions taken.
public struct CostContext: Sendable {
  public var direction: Direction
  public init(direction: Direction = .causal) { self.direction = direction }
}

/// The lengths of the blocks a form splits `time` steps into: one block of `time` (parallel),
/// blocks of `size` and a last partial one (chunked), or single steps (reference). Returned as
/// (length, how many) pairs, longest first; empty for no steps.
func blockLengths(time: Int, size: Int) -> [(length: Int, count: Int)] {
  guard time > 0 else { return [] }
  let size = max(1, size)
  var blocks = [(length: size, count: time / size)]
  if time % size > 0 { blocks.append((time % size, 1)) }
  return blocks.filter { $0.count > 0 }
}

/// The number of blocks of `size` that cover `time` steps, the last one possibly partial.
func blockCount(time: Int, size: Int) -> Int { (time + max(1, size) - 1) / max(1, size) }
