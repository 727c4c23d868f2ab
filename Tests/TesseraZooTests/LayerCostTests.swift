import Testing
import TesseraCore
import TesseraNN
import TesseraZoo

// Every registered family's counted cost against a hand count written out below, at two shapes:
// B 2, T 65, D 16, H 2 (the last chunk partial for chunk sizes 64 and 16, padded mini-batches)
// and B 1, T 7, D 32, H 4 (other forms, tiles of 2 under both masks, chunks of 3).
//
// Notation: B batch, T time, D width, H heads, R = B·T rows; d the head width; K, V the key and
// value widths per head; C a chunk (or mini-batch) length; N a state size or mode count; Kc a
// convolution kernel. A matrix product [m, k]·[k, n] is 2·m·k·n; element-wise work is `a` per
// element and a transcendental `e` (see LayerCost's counting rules).

/// One shape a cost is checked at.
struct CostShape: CustomStringConvertible, Sendable {
  let batch: Int, time: Int, width: Int, heads: Int
  var description: String { "B \(batch), T \(time), D \(width), H \(heads)" }
}

/// A hand count for one shape: the options the layer is built with and what it costs.
struct HandCount {
  var options: [String: JSONValue]
  var flops: Int
  var activationBytes: Int
  var stateBytes: Int
}

private let a = 1  // one element-wise operation
private let e = 4  // one transcendental
// Composite functions from their formulas.
private let sigmoid = e + 2 * a  // 1 / (1 + e⁻ˣ)
private let silu = sigmoid + a  // x·σ(x)
private let softplus = 2 * e + a  // log(1 + eˣ)
private let logSigmoid = softplus  // −softplus(−x)
private let geluTanh = e + 8 * a  // ½x(1 + tanh(c(x + 0.044715x³)))
private let geluErf = e + 4 * a  // ½x(1 + erf(x/√2))
private let geluTanhDerivative = e + 16 * a
private let inverseSquareRoot = e + a

/// A projection over `rows` vectors.
private func linear(_ rows: Int, _ inputs: Int, _ outputs: Int, bias: Bool) -> Int {
  2 * rows * inputs * outputs + (bias ? rows * outputs : 0)
}
/// A causal depthwise convolution of kernel `kernel` over `channels` channels: a multiply–add per
/// tap and the bias.
private func convolution(_ rows: Int, _ channels: Int, _ kernel: Int) -> Int { rows * channels * (2 * kernel + 1) }
/// RMS norm: per element square, sum, normalise, weight; per row mean, ε, 1/√.
private func rmsNorm(_ rows: Int, _ width: Int) -> Int { rows * (4 * width * a + 2 * a + inverseSquareRoot) }
/// Layer norm: per element sum, deviation, square, sum, centre, normalise, weight, bias; per row
/// two means, ε, 1/√.
private func layerNorm(_ rows: Int, _ width: Int) -> Int { rows * (8 * width * a + 3 * a + inverseSquareRoot) }
/// Unit length: per element square, sum, product; per row ε, 1/√.
private func unitLength(_ rows: Int, _ width: Int) -> Int { rows * (3 * width * a + a + inverseSquareRoot) }
/// Softmax: per element max, shift, exp, sum, product; per row the reciprocal.
private func softmax(_ rows: Int, _ width: Int) -> Int { rows * (width * (e + 4 * a) + a) }
/// `x` as a JSON option value.
private func json(_ form: Form) -> JSONValue { try! JSONValue(encoding: form) }

@Suite("Counted layer costs")
struct LayerCostTests {
  static let shapes = [
    CostShape(batch: 2, time: 65, width: 16, heads: 2), CostShape(batch: 1, time: 7, width: 32, heads: 4),
  ]

  /// The hand counts, by kind: every registered family needs one.
  static let handCounts: [String: @Sendable (CostShape) -> HandCount] = [
    "attn": attention, "swa": slidingWindowAttention, "fox": forgettingAttention, "linear": linearAttention,
    "retnet": retention, "gla": gatedLinearAttention, "deltanet": deltaNet, "gated-deltanet": gatedDeltaNet,
    "ttt-linear": tttLinear, "ttt-mlp": tttMLP, "s4d": s4d, "mamba": mamba, "mamba2": mamba2, "mlp": mlp,
    "swiglu": swiglu, "longformer": longformer, "bigbird": bigBird, "topk-attn": topKAttention, "moba": moba,
    "nsa": nativeSparseAttention, "moe-topk": tokenChoice, "moe-switch": switchMixture,
    "moe-expert-choice": expertChoice, "moe-deepseek": deepSeekMixture, "chunk": chunking,
  ]

  @Test("every registered family has a hand count")
  func everyFamilyCounted() {
    let missing = Zoo.families.kinds.filter { Self.handCounts[$0] == nil }
    #expect(missing.isEmpty, "no hand count for \(missing.map { "\"\($0)\"" }.joined(separator: ", "))")
    let unknown = Self.handCounts.keys.filter { Zoo.families[$0] == nil }.sorted()
    #expect(unknown.isEmpty, "hand counts for kinds that are not registered: \(unknown)")
  }

  @Test("cost(batch:time:) equals the hand count at both shapes", arguments: Zoo.families.kinds)
  func family(_ kind: String) throws {
    let entry = Zoo.families[kind]!
    guard let count = Self.handCounts[kind] else {
      Issue.record("\(kind): no hand count")
      return
    }
    for shape in Self.shapes {
      let expected = count(shape)
      var generator = RandomGenerator(seed: 1)
      var options = expected.options
      if entry.optionKeys.contains("heads"), options["heads"] == nil { options["heads"] = .number(Double(shape.heads)) }
      let layer = try entry.make(options, width: shape.width, generator: &generator)
      let cost = layer.cost(batch: shape.batch, time: shape.time)
      #expect(cost.flops == expected.flops, "\(kind) at \(shape): flops \(cost.flops), hand count \(expected.flops)")
      #expect(
        cost.activationBytes == expected.activationBytes,
        "\(kind) at \(shape): activation bytes \(cost.activationBytes), hand count \(expected.activationBytes)")
      #expect(
        cost.stateBytes == expected.stateBytes,
        "\(kind) at \(shape): state bytes \(cost.stateBytes), hand count \(expected.stateBytes)")
    }
  }

  @Test("the composite counts of FlopCount are the ones written out here")
  func composites() {
    #expect(FlopCount.arithmetic == a && FlopCount.transcendental == e)
    #expect(FlopCount.sigmoid == sigmoid && FlopCount.silu == silu && FlopCount.softplus == softplus)
    #expect(FlopCount.logSigmoid == logSigmoid && FlopCount.geluTanh == geluTanh && FlopCount.geluErf == geluErf)
    #expect(FlopCount.geluTanhDerivative == geluTanhDerivative && FlopCount.inverseSquareRoot == inverseSquareRoot)
    #expect(
      FlopCount.rmsNorm(rows: 3, width: 5) == rmsNorm(3, 5) && FlopCount.layerNorm(rows: 3, width: 5) == layerNorm(3, 5)
    )
    #expect(
      FlopCount.softmax(rows: 3, width: 5) == softmax(3, 5)
        && FlopCount.unitLength(rows: 3, width: 5) == unitLength(3, 5))
  }

  @Test("bidirectional attention visits every key tile")
  func bidirectional() throws {
    var generator = RandomGenerator(seed: 1)
    let layer = try Zoo.families["attn"]!.make(
      ["heads": 4, "form": json(.tiled(queryBlock: 2, keyBlock: 2))], width: 32, generator: &generator)
    let (B, T, D, H, d) = (1, 7, 32, 4, 8)
    let R = B * T
    // Every query row scores all T keys in ⌈T/2⌉ tiles.
    let (scores, rowTiles) = (T * T, T * ((T + 1) / 2))
    let core = scores * (4 * d + 3 * a + e) + rowTiles * (d + e + 4 * a) + T * (d + 2 * a + e)
    let flops = 4 * linear(R, D, D, bias: false) + 3 * a * R * 2 * D + B * H * core
    #expect(layer.cost(batch: B, time: T, context: CostContext(direction: .bidirectional)).flops == flops)
  }

  @Test("a model's cost is the sum over its blocks: layers, norms and residual sums")
  func languageModel() throws {
    let models: [(pattern: String, channel: String?, norm: NormKind)] = [
      ("attn,gla|swiglu", nil, .rmsNorm), ("mamba2,swa:3", "mlp", .layerNorm), ("attn|moe-topk,gla", "mlp", .rmsNorm),
    ]
    for (pattern, channel, norm) in models {
      var generator = RandomGenerator(seed: 2)
      let model = try LanguageModel(
        pattern: pattern, vocabulary: 20, width: 16, channel: channel, norm: norm,
        options: ["heads": 2, "experts": 4, "topK": 2, "hidden": 8], generator: &generator)
      let (B, T, D) = (2, 65, 16)
      let R = B * T
      let normFlops = norm == .rmsNorm ? rmsNorm(R, D) : layerNorm(R, D)
      var total = LayerCost.zero
      for block in model.layers {
        var expected = block.mixer.cost(batch: B, time: T)
        expected.flops += normFlops + R * D * a
        if let layer = block.channel {
          expected = expected + layer.cost(batch: B, time: T)
          expected.flops += normFlops + R * D * a
        }
        // Parameters: the block's; active ones count, of the mixture (a router of 4 × 16 and four
        // SwiGLU experts of 3 × 16 × 8), the router and the 2 of 4 experts a token runs on average.
        expected.parameters = block.parameterCount
        expected.activeParameters =
          block.channel is TokenChoiceLayer
          ? block.parameterCount - (64 + 4 * 384) + (64 + 2 * 384) : block.parameterCount
        #expect(block.cost(batch: B, time: T, context: CostContext()) == expected, "\(pattern)")
        total = total + expected
      }
      #expect(model.cost(batch: B, time: T) == total, "\(pattern)")
    }
  }

  // MARK: - Attention

  /// Projections and rotary embedding of softmax attention (H query and key/value heads of d).
  static func attentionProjections(_ R: Int, _ D: Int) -> Int {
    4 * linear(R, D, D, bias: false) + 3 * a * R * 2 * D  // the rotation: 4 products and 2 sums per pair
  }

  /// The tiled core per (sequence, head): per score Q Kᵀ, P V, maximum, shift, exp, sum (and a
  /// position bias); per (row, key tile) the correction; per row the normalisation and L.
  static func tiledCore(scores: Int, rowTiles: Int, T: Int, d: Int, bias: Int = 0) -> Int {
    scores * (4 * d + bias + 3 * a + e) + rowTiles * (d + e + 4 * a) + T * (d + 2 * a + e)
  }

  static func attention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    let (scores, rowTiles): (Int, Int)
    let options: [String: JSONValue]
    if T == 65 {
      // The default tiles of 128: one tile of all T × T scores.
      options = [:]
      (scores, rowTiles) = (T * T, T)
    } else {
      // Tiles of Bq = Bk = 2, causal: the n = ⌊T/2⌋ full query blocks see 1, 2, …, n key tiles,
      // the last row sees all T keys in ⌈T/2⌉ tiles.
      options = ["form": json(.tiled(queryBlock: 2, keyBlock: 2))]
      let (Bq, n) = (2, T / 2)
      scores = Bq * Bq * n * (n + 1) / 2 + (T - n * Bq) * T
      rowTiles = Bq * n * (n + 1) / 2 + (T - n * Bq) * ((T + 1) / 2)
    }
    let flops = attentionProjections(R, D) + B * H * tiledCore(scores: scores, rowTiles: rowTiles, T: T, d: d)
    return HandCount(
      options: options, flops: flops, activationBytes: 4 * (B * H * T + R * 4 * D), stateBytes: 4 * 2 * B * T * D)
  }

  static func slidingWindowAttention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    if T == 65 {
      // Window 20, tiles of 16: the query blocks at 0, 16, 32, 48 see keys from 0, 0, 13, 29, so key
      // tiles [0, 16), [0, 32), [0, 48), [16, 64); the last row (64) sees keys from 45: tiles
      // [32, 48), [48, 64), [64, 65). Only rows that see a key of a tile are computed: of the
      // blocks at 32 and 48, the first tile is seen by 3 rows (t − 19 ≤ 15 for t ≤ 34; ≤ 31 for
      // t ≤ 50).
      let scores = 16 * 16 * (1 + 2 + 2 + 2) + 2 * 3 * 16 + 1 * (T - 32)
      let rowTiles = 16 * (1 + 2 + 2 + 2) + 2 * 3 + 1 * 3
      let flops = attentionProjections(R, D) + B * H * tiledCore(scores: scores, rowTiles: rowTiles, T: T, d: d)
      return HandCount(
        options: ["window": 20, "form": json(.tiled(queryBlock: 16, keyBlock: 16))], flops: flops,
        // The decoding cache keeps the last window − 1 = 19 tokens' keys and values.
        activationBytes: 4 * (B * H * T + R * 4 * D), stateBytes: 4 * 2 * B * 19 * D)
    }
    // The reference form, window 3: all T × T scores, scaled, masked, softmax, times V.
    let core = T * T * (4 * d + 2 * a) + softmax(T, T)
    return HandCount(
      options: ["window": 3, "form": json(.reference)], flops: attentionProjections(R, D) + B * H * core,
      activationBytes: 4 * (B * H * T * T + R * 4 * D), stateBytes: 4 * 2 * B * 2 * D)  // the last 2 tokens
  }

  /// The reference form at T 7: all T × T scores, scaled, masked, softmax, times V.
  static func denseReference(_ s: CostShape, options: [String: JSONValue], core extra: Int = 0) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    let core = T * T * (4 * d + 2 * a) + softmax(T, T)
    return HandCount(
      options: options.merging(["form": json(.reference)]) { a, _ in a },
      flops: attentionProjections(R, D) + B * H * core + extra, activationBytes: 4 * (B * H * T * T + R * 4 * D),
      stateBytes: 4 * 2 * B * T * D)
  }

  static func longformer(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    guard T == 65 else { return denseReference(s, options: ["window": 3]) }
    // Window 20 and global token 0, tiles of 16: query blocks at 0, 16, 32, 48 see key tiles
    // {0}, {0, 1}, {0, 1, 2} (the window from 13), {0 (global), 1, 2, 3} (from 29); row 64 sees
    // {0, 2, 3, 4} (from 45): 16 + 16 + 16 + 1 keys. Of the block at 48, only rows 48–50 see a key
    // of tile 1 (only they are computed there).
    let scores = 16 * 16 * (1 + 2 + 3 + 3) + 3 * 16 + (16 + 16 + 16 + 1)
    let rowTiles = 16 * (1 + 2 + 3 + 3) + 3 + 4
    return HandCount(
      options: ["window": 20, "globalTokens": [0], "form": json(.tiled(queryBlock: 16, keyBlock: 16))],
      flops: attentionProjections(R, D) + B * H * tiledCore(scores: scores, rowTiles: rowTiles, T: T, d: d),
      activationBytes: 4 * (B * H * T + R * 4 * D), stateBytes: 4 * 2 * B * T * D)
  }

  static func bigBird(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    guard T == 65 else { return denseReference(s, options: ["block": 2]) }
    // Blocks of 16 = tiles, window 2, global 1, random 1: block 0 sees {0}, 1 {0, 1}, 2 {0, 1, 2}
    // (no candidate for a random block), 3 {0, 2, 3} + random {1}, 4 (row 64) {0, 3, 4} + one
    // random of {1, 2}: 16 + 16 + 1 + 16 keys.
    let scores = 16 * 16 * (1 + 2 + 3 + 4) + (16 + 16 + 1 + 16)
    let rowTiles = 16 * (1 + 2 + 3 + 4) + 4
    return HandCount(
      options: [
        "block": 16, "windowBlocks": 2, "globalBlocks": 1, "randomBlocks": 1,
        "form": json(.tiled(queryBlock: 16, keyBlock: 16)),
      ],
      flops: attentionProjections(R, D) + B * H * tiledCore(scores: scores, rowTiles: rowTiles, T: T, d: d),
      activationBytes: 4 * (B * H * T + R * 4 * D), stateBytes: 4 * 2 * B * T * D)
  }

  /// Before any forward pass a data-dependent pattern counts the dense causal bound: at T 65 the
  /// default tiles of 64 (query tile 0 sees key tile 0, row 64 sees 65 keys in two tiles).
  static func causalBound(_ s: CostShape, extra: Int) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    guard T == 65 else { return denseReference(s, options: [:], core: extra) }
    return HandCount(
      options: [:],
      flops: attentionProjections(R, D) + B * H * tiledCore(scores: 64 * 64 + 65, rowTiles: 64 + 2, T: T, d: d) + extra,
      activationBytes: 4 * (B * H * T + R * 4 * D), stateBytes: 4 * 2 * B * T * D)
  }

  static func topKAttention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let d = D / H
    // Selection: every causal score (2d and a comparison); query blocks of 64 see whole prefixes
    // (64 × 64, then 1 × 65); the reference form row by row (T(T + 1)/2).
    let scores = T == 65 ? 64 * 64 + 65 : T * (T + 1) / 2
    return causalBound(s, extra: B * H * scores * (2 * d + a))
  }

  static func moba(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let d = D / H
    let blocks = (T + 63) / 64  // blocks of 64
    // Block means of the keys (a sum per key, a scale per block), every query's gate per block.
    return causalBound(s, extra: B * H * d * (T + blocks) + B * H * T * blocks * 2 * d)
  }

  static func nativeSparseAttention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    let blocks = (T + 63) / 64
    // Three causal-bound cores; the gates x W + b and their σ, the block means of k and v, the
    // compressed scores of the selection, the mixing (3 products, 2 sums per element).
    let extra =
      linear(R, D, 3 * H, bias: true) + R * 3 * H * sigmoid + 2 * B * H * d * (T + blocks) + B * H * T * blocks * 2 * d
      + 5 * R * H * d
    let bound = causalBound(s, extra: 0)
    let core = bound.flops - attentionProjections(R, D)
    return HandCount(
      options: bound.options, flops: attentionProjections(R, D) + 3 * core + extra,
      activationBytes: bound.activationBytes, stateBytes: bound.stateBytes)
  }

  static func forgettingAttention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, d) = (B * T, D / H)
    // q, k, v, o; the forget gate x W_f + b_f, its log-sigmoid and its running sum.
    let outside = 4 * linear(R, D, D, bias: false) + linear(R, D, H, bias: true) + R * H * (logSigmoid + a)
    let state = 4 * B * T * H * (2 * d + 1)  // keys, values and the running log-forget sums
    if T == 65 {
      // Tiles of 16, causal: 4 full query blocks see 1…4 key tiles, the last row 5 tiles (65 keys).
      let scores = 16 * 16 * (4 * 5 / 2) + 1 * T
      let rowTiles = 16 * (4 * 5 / 2) + 1 * 5
      let core = tiledCore(scores: scores, rowTiles: rowTiles, T: T, d: d, bias: 2 * a)  // + G_t − G_s
      return HandCount(
        options: ["form": json(.tiled(queryBlock: 16, keyBlock: 16))], flops: outside + B * H * core,
        activationBytes: 4 * (B * H * T + R * (4 * D + 2 * H)), stateBytes: state)
    }
    // Reference: the bias matrix G_t − G_s, Q Kᵀ, the scale, the bias sum, the mask, softmax, P V.
    let core = T * T * (4 * d + 4 * a) + softmax(T, T)
    return HandCount(
      options: ["form": json(.reference)], flops: outside + B * H * core,
      activationBytes: 4 * (B * H * T * T + R * (4 * D + 2 * H)), stateBytes: state)
  }

  // MARK: - Gated linear recurrences

  /// A block of c steps without decay, from a carried state: Q Kᵀ masked, times V, Q S₀ and its
  /// sum, Kᵀ V and its sum into S.
  static func blockWithoutDecay(_ c: Int, K: Int, V: Int) -> Int {
    2 * c * c * K + a * c * c + 2 * c * c * V + 2 * c * K * V + a * c * V + 2 * c * K * V + a * K * V
  }

  /// A block of c steps with one log decay per step: as above, plus G = cumsum g, the masked
  /// e^{G_t − G_s} times the scores, e^{G_t} on the queries, e^{G_T − G_s} on the keys, e^{G_T} on S₀.
  static func blockWithScalarDecay(_ c: Int, K: Int, V: Int) -> Int {
    let products = 2 * c * c * K + 2 * c * c * V + 4 * c * K * V
    let decay = a * (c + 2 * c * c) + e * c * c + a * c * c  // G, G_t − G_s masked, exp, × scores
    let carried = e * c + a * c * K + a * c * V + a * c + e * c + a * c * K + e + 2 * a * K * V
    return products + decay + carried
  }

  /// A block of c steps with a log decay per key channel: the scores are Σ_k q ⊙ k ⊙ decay
  /// (3·c²·K element-wise) instead of a product; every decay term is K wide.
  static func blockWithChannelDecay(_ c: Int, K: Int, V: Int) -> Int {
    let products = 2 * c * c * V + 4 * c * K * V
    let decay = a * (c * K + 2 * c * c * K) + e * c * c * K + 3 * a * c * c * K
    let carried = e * c * K + a * c * K + a * c * V + a * c * K + e * c * K + a * c * K + e * K + 2 * a * K * V
    return products + decay + carried
  }

  /// The layers of the GLA layout around the recurrence: q, k (key width Kw), v, r, o; RMS norm per
  /// head, silu(x W_r), the gating product.
  static func gatedLinearLayout(_ R: Int, _ D: Int, _ H: Int, Kw: Int) -> Int {
    2 * linear(R, D, Kw, bias: false) + 3 * linear(R, D, D, bias: false) + rmsNorm(R * H, D / H)
      + R * D * (silu + a)
  }

  static func linearAttention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, K, V) = (B * T, D / 2 / H, D / H)
    // T = 65: chunks of 64 and 1; T = 7: the parallel form, one block of T.
    let blocks = T == 65 ? [64, 1] : [T]
    let core = T * K + blocks.map { blockWithoutDecay($0, K: K, V: V) }.reduce(0, +)
    let saved = blocks.map { K * V + $0 * $0 }.reduce(0, +)
    return HandCount(
      options: T == 65 ? [:] : ["form": json(.parallel)], flops: gatedLinearLayout(R, D, H, Kw: H * K) + B * H * core,
      activationBytes: 4 * (R * (2 * H * K + 3 * H * V) + B * H * saved), stateBytes: 4 * B * H * K * V)
  }

  static func retention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, K, V) = (B * T, D / 2 / H, D / H)
    let core: Int, saved: Int
    if T == 65 {
      core = T * K + blockWithScalarDecay(64, K: K, V: V) + blockWithScalarDecay(1, K: K, V: V)
      saved = (K * V + 64 * 64 * 2) + (K * V + 1 * 1 * 2)
    } else {
      // The recurrence: per step exp(g) and the decay of S, k_tᵀ v_t and its sum, q_t S.
      core = T * K + T * (e + a * K * V + 2 * K * V + a * K * V + 2 * K * V)
      saved = T * K * V
    }
    return HandCount(
      options: T == 65 ? [:] : ["form": json(.reference)], flops: gatedLinearLayout(R, D, H, Kw: H * K) + B * H * core,
      activationBytes: 4 * (R * (2 * H * K + 3 * H * V) + B * H * saved), stateBytes: 4 * B * H * K * V)
  }

  static func gatedLinearAttention(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, K, V, Kw) = (B * T, D / 2 / H, D / H, D / 2)
    // The low-rank gate (rank 16), its log-sigmoid and the temperature.
    let gate = linear(R, D, 16, bias: false) + linear(R, 16, Kw, bias: true) + R * Kw * (logSigmoid + a)
    // T = 65: the default chunks of 16, four of them and one of 1; T = 7: the parallel form.
    let blocks = T == 65 ? [16, 16, 16, 16, 1] : [T]
    let core = T * K + blocks.map { blockWithChannelDecay($0, K: K, V: V) }.reduce(0, +)
    let saved = blocks.map { K * V + $0 * $0 * (1 + K) }.reduce(0, +)
    return HandCount(
      options: T == 65 ? [:] : ["form": json(.parallel)],
      flops: gatedLinearLayout(R, D, H, Kw: Kw) + gate + B * H * core,
      activationBytes: 4 * (R * (2 * H * K + 3 * H * V) + B * H * saved), stateBytes: 4 * B * H * K * V)
  }

  // MARK: - Delta rule

  /// A chunk of c (padded) of the WY form, K = V: K Kᵀ, Q Kᵀ, W_v, W_k, scores × U (2c²K each),
  /// the inverse c²(c − 1), W_k S, Q S, Kᵀ U (2cK² each); the decay mask, β and the strict lower
  /// triangle on K Kᵀ, the mask on the scores, v·β, k·β, q·scale, U's difference, the output's
  /// sum, the state's sum.
  static func deltaChunk(_ c: Int, K: Int, gated: Bool) -> Int {
    let products = 10 * c * c * K + 6 * c * K * K + c * c * (c - 1)
    let elementwise = a * (4 * c * c + 2 * c * K + 3 * c * K + K * K)
    // Gated: γ's running sum, the masked γ_t/γ_i and its exp, γ = exp, β·γ, q·γ, γ_C/γ_i and its
    // exp, k·γ_C/γ_i, the chunk's decay exp and its product with S.
    let gate = a * (c + 2 * c * c + c + c * K + c + c * K + K * K) + e * (c * c + c + c + 1)
    return products + elementwise + (gated ? gate : 0)
  }

  /// DeltaNet around the rule: q, k, v, r, o, β; three convolutions and their silu; σ(β); unit q
  /// and k; RMS norm per head, silu(x W_r), the gating product.
  static func deltaLayout(_ R: Int, _ D: Int, _ H: Int, kernel: Int) -> Int {
    5 * linear(R, D, D, bias: false) + linear(R, D, H, bias: true) + 3 * convolution(R, D, kernel) + 3 * R * D * silu
      + R * H * sigmoid + 2 * unitLength(R * H, D / H) + rmsNorm(R * H, D / H) + R * D * (silu + a)
  }

  static func deltaNet(_ s: CostShape) -> HandCount {
    let (B, T, D, H, Kc) = (s.batch, s.time, s.width, s.heads, 4)
    let (R, K) = (B * T, D / H)
    let state = 4 * B * (H * K * K + 3 * Kc * D)
    if T == 65 {
      // Chunks of 64: two, the second padded.
      let (C, N) = (64, 2)
      return HandCount(
        options: [:], flops: deltaLayout(R, D, H, kernel: Kc) + B * H * N * deltaChunk(C, K: K, gated: false),
        activationBytes: 4 * (R * H * 8 * K + B * H * N * (K * K + 3 * C * C)), stateBytes: state)
    }
    // The recurrence, per step: k S, v − k S, × β, kᵀ(…), its sum into S, q·scale, q S.
    let step = 2 * K * K + 2 * a * K + 2 * K * K + a * K * K + a * K + 2 * K * K
    return HandCount(
      options: ["form": json(.reference)], flops: deltaLayout(R, D, H, kernel: Kc) + B * H * T * step,
      activationBytes: 4 * (R * H * 8 * K + B * H * T * K * K), stateBytes: state)
  }

  static func gatedDeltaNet(_ s: CostShape) -> HandCount {
    let (B, T, D, H, Kc) = (s.batch, s.time, s.width, s.heads, 4)
    let (R, K) = (B * T, D / H)
    // g = −exp(A_log)·softplus(x W_a + Δ_bias): exp and sign per head; bias, softplus, product.
    let gate = linear(R, D, H, bias: false) + H * (e + a) + R * H * (a + softplus + a)
    // T = 65: two chunks of 64 (the second padded); T = 7: chunks of 3, three (the last padded).
    let (C, N) = T == 65 ? (64, 2) : (3, 3)
    return HandCount(
      options: T == 65 ? [:] : ["form": json(.chunked(size: 3))],
      flops: deltaLayout(R, D, H, kernel: Kc) + gate + B * H * N * deltaChunk(C, K: K, gated: true),
      activationBytes: 4 * (R * H * 8 * K + B * H * N * (K * K + 3 * C * C)),
      stateBytes: 4 * B * (H * K * K + 3 * Kc * D))
  }

  // MARK: - Test-time training

  /// The TTT layout around the inner loop: q, k, v, η, r, o; unit q and k; σ(η)·η_base; RMS norm
  /// per head, silu(x W_r), the gating product.
  static func tttLayout(_ R: Int, _ D: Int, _ H: Int) -> Int {
    5 * linear(R, D, D, bias: false) + linear(R, D, H, bias: true) + 2 * unitLength(R * H, D / H)
      + R * H * (sigmoid + a) + rmsNorm(R * H, D / H) + R * D * (silu + a)
  }

  static func tttLinear(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, K) = (B * T, D / H)
    let inner: Int, C: Int
    let options: [String: JSONValue]
    if T == 65 {
      // The dual form, mini-batches of 16: five, the last padded. Per mini-batch Q Kᵀ × η masked,
      // K W₀ − V, Q W₀ − scores × errors, W₀ − Kᵀ(η ⊙ errors).
      C = 16
      let N = 5
      options = [:]
      inner =
        N
        * (2 * C * C * K + 2 * a * C * C + 2 * C * K * K + a * C * K + 2 * C * K * K + 2 * C * C * K + a * C * K
          + a * C * K + 2 * C * K * K + a * K * K)
    } else {
      // The primal form, mini-batches of 3: per step k W₀ − v, kᵀ(…) × η and its sum, W₀ − ΣηG and
      // q W; per mini-batch (three) the new W₀.
      C = 3
      options = ["form": json(.reference), "miniBatch": 3]
      inner = T * (2 * K * K + a * K + 2 * K * K + 2 * a * K * K + a * K * K + 2 * K * K) + 3 * a * K * K
    }
    let weights = 4 * B * H * K * K
    return HandCount(
      options: options, flops: tttLayout(R, D, H) + B * H * inner,
      activationBytes: 4 * R * H * K * 6 + weights * ((T + C - 1) / C), stateBytes: 2 * weights)
  }

  static func tttMLP(_ s: CostShape) -> HandCount {
    let (B, T, D, H) = (s.batch, s.time, s.width, s.heads)
    let (R, K) = (B * T, D / H)
    let M = 4 * K
    /// The loss terms for r rows: z = k W₁, gelu, a W₂ − v, (e W₂ᵀ) ⊙ gelu′(z).
    func errors(_ r: Int) -> Int {
      2 * r * K * M + r * M * geluTanh + 2 * r * M * K + a * r * K + 2 * r * K * M + r * M * (geluTanhDerivative + a)
    }
    let inner: Int, C: Int
    let options: [String: JSONValue]
    if T == 65 {
      // The dual form, mini-batches of 16: five, the last padded.
      C = 16
      let N = 5
      options = [:]
      let keyScores = 2 * C * C * K + 2 * a * C * C  // tril(Q Kᵀ) η
      let hiddenQuery = 2 * C * K * M + 2 * C * C * M + a * C * M + C * M * geluTanh  // gelu(Q W₁ − S Δ)
      let hiddenScores = 2 * C * C * M + 2 * a * C * C  // tril(Â Aᵀ) η
      let output = 2 * C * M * K + 2 * C * C * K + a * C * K  // Â W₂ − S E
      let updates = a * C * M + 2 * C * K * M + a * K * M + a * C * K + 2 * C * M * K + a * M * K
      inner = N * (keyScores + errors(C) + hiddenQuery + hiddenScores + output + updates)
    } else {
      // The primal form, mini-batches of 4: per step the loss terms, the two gradients × η and
      // their sums, the current weights, f(q); per mini-batch (two) the new weights.
      C = 4
      options = ["form": json(.reference), "miniBatch": 4]
      let gradients = 2 * K * M + 2 * a * K * M + 2 * M * K + 2 * a * M * K
      let apply = a * (K * M + M * K) + 2 * K * M + M * geluTanh + 2 * M * K
      inner = T * (errors(1) + gradients + apply) + 2 * a * (K * M + M * K)
    }
    let weights = 4 * B * H * 2 * M * K
    return HandCount(
      options: options, flops: tttLayout(R, D, H) + B * H * inner,
      activationBytes: 4 * R * H * K * 6 + weights * ((T + C - 1) / C), stateBytes: 2 * weights)
  }

  // MARK: - State space models

  static func s4d(_ s: CostShape) -> HandCount {
    let (B, T, D) = (s.batch, s.time, s.width)
    let R = B * T
    // Δ, A, Ā (magnitude, cos, sin) and B̄ = (Ā − 1)/A in complex arithmetic.
    func discretised(_ N: Int) -> Int { e * (D + 4 * D * N) + 19 * a * D * N }
    // A plan for L lags: powers Ā^0…Ā^L, the kernel 2·Re(Σ C B̄ Ā^l), the masked Toeplitz matrices.
    func plan(_ L: Int, _ N: Int) -> Int {
      let powers = e * (D + D * N + 3 * D * N * (L + 1)) + a * (4 * D * N + 5 * D * N * (L + 1))
      return discretised(N) + powers + a * (6 * D * N + 5 * D * N * L + D * L * L)
    }
    // A convolution over t steps: Toeplitz product, skip, weights Ā^{t−1−s} B̄ and the final state;
    // from a state its readout 2·Re(C Ā^{i+1} x₀) and its decay Ā^t x₀.
    func convolve(_ t: Int, _ N: Int, fromState: Bool) -> Int {
      let own = 2 * D * B * t * t + a * 2 * B * t * D + 6 * a * D * N * t + 4 * D * B * t * N
      let start = 6 * a * D * N * t + 4 * D * B * N * t + 3 * a * B * t * D + 8 * a * B * D * N
      return own + (fromState ? start : 0)
    }
    // GELU, the projection to 2D, the GLU.
    let output = R * D * geluErf + linear(R, D, 2 * D, bias: true) + R * D * (sigmoid + a)
    if T == 65 {
      // 32 modes, the convolution form (4·D·T² bytes stay under 256 MiB).
      let N = 32
      return HandCount(
        options: [:], flops: plan(T, N) + convolve(T, N, fromState: false) + output,
        activationBytes: 4 * (D * T * T + R * D * 5), stateBytes: 4 * B * D * N * 2)
    }
    // 3 modes, chunks of 3: one plan, chunks of 3, 3 (from a state) and 1 (from a state).
    let N = 3
    let mixing =
      plan(3, N) + convolve(3, N, fromState: false) + convolve(3, N, fromState: true) + convolve(1, N, fromState: true)
    return HandCount(
      options: ["modes": 3, "form": json(.chunked(size: 3))], flops: mixing + output,
      activationBytes: 4 * (R * D * N * 2 + R * D * 5), stateBytes: 4 * B * D * N * 2)
  }

  static func mamba(_ s: CostShape) -> HandCount {
    let (B, T, D, Kc) = (s.batch, s.time, s.width, 4)
    let (R, E, rank) = (B * T, 2 * D, (D + 15) / 16)
    let N = T == 65 ? 16 : 4
    // in_proj, x_proj, Δ's projection (its bias added in the scan), out_proj; the convolution and
    // its silu; A = −exp(A_log); the steps softplus(Δ); the readout (y + D u) ⊙ silu(z).
    let outside =
      linear(R, D, 2 * E, bias: false) + linear(R, E, rank + 2 * N, bias: false) + linear(R, rank, E, bias: true)
      + linear(R, E, D, bias: false) + convolution(R, E, Kc) + R * E * silu + E * N * (e + a) + R * E * softplus
      + R * E * (2 * a + silu + a)
    let scan: Int
    if T == 65 {
      // The fused scan: Δu; per state exp(ΔA), × h, × B, sum; C · h.
      scan = R * E * (a + N * (e + 4 * a) + 2 * N * a)
    } else {
      // Chunks of 3 (3, 3, 1) of the gated linear recurrence, one head per channel, N keys, one
      // value, a decay per key: keys Δ B and decays Δ A, the query scaling, the blocks.
      let blocks = [3, 3, 1].map { blockWithChannelDecay($0, K: N, V: 1) }.reduce(0, +)
      scan = 2 * a * R * E * N + B * E * (T * N + blocks)
    }
    return HandCount(
      options: T == 65 ? [:] : ["stateSize": 4, "form": json(.chunked(size: 3))], flops: outside + scan,
      activationBytes: 4 * R * E * (N + 6), stateBytes: 4 * B * E * (N + Kc))
  }

  static func mamba2(_ s: CostShape) -> HandCount {
    let (B, T, D, H, N, Kc) = (s.batch, s.time, s.width, s.heads, 16, 4)
    let (R, E) = (B * T, 2 * D)
    let P = E / H
    // in_proj (z, x, B, C, Δ), out_proj; the convolution over x, B, C and its silu; Δ's bias and
    // softplus, −exp(A_log)·Δ, x·Δ; the skip, silu(z) and the gate, RMS norm over E.
    let outside =
      linear(R, D, 2 * E + 2 * N + H, bias: false) + linear(R, E, D, bias: false) + convolution(R, E + 2 * N, Kc)
      + R * (E + 2 * N) * silu + R * H * (a + softplus + a) + H * (e + a) + R * E * a + R * E * (2 * a + silu + a)
      + rmsNorm(R, E)
    let ssd: Int
    if T == 65 {
      // Chunks of 64 and 1, queries C, keys B (N wide), values x·Δ (P wide), a decay per step.
      ssd = T * N + blockWithScalarDecay(64, K: N, V: P) + blockWithScalarDecay(1, K: N, V: P)
    } else {
      // The recurrence: per step exp(a), the decay of S, k_tᵀ v_t and its sum, q_t S.
      ssd = T * N + T * (e + a * N * P + 2 * N * P + a * N * P + 2 * N * P)
    }
    return HandCount(
      options: T == 65 ? [:] : ["form": json(.reference)], flops: outside + B * H * ssd,
      activationBytes: 4 * R * (3 * E + 2 * N), stateBytes: 4 * B * (H * P * N + Kc * (E + 2 * N)))
  }

  // MARK: - Channel layers

  static func mlp(_ s: CostShape) -> HandCount {
    let (B, T, D) = (s.batch, s.time, s.width)
    let (R, F) = (B * T, T == 65 ? 4 * D : 24)
    return HandCount(
      options: T == 65 ? [:] : ["hidden": 24],
      flops: linear(R, D, F, bias: true) + R * F * geluTanh + linear(R, F, D, bias: true),
      activationBytes: 4 * R * 2 * F, stateBytes: 0)
  }

  static func swiglu(_ s: CostShape) -> HandCount {
    let (B, T, D) = (s.batch, s.time, s.width)
    let (R, F) = (B * T, T == 65 ? 4 * D : 24)
    return HandCount(
      options: T == 65 ? [:] : ["hidden": 24],
      flops: 2 * linear(R, D, F, bias: false) + R * F * (silu + a) + linear(R, F, D, bias: false),
      activationBytes: 4 * R * 3 * F, stateBytes: 0)
  }

  // MARK: - Mixtures of experts (counted for the expected routing: no pass has run)

  /// `total` (token, expert) pairs spread evenly over 4 experts, the remainder to the first.
  static func evenly(_ total: Int) -> [Int] { (0..<4).map { total / 4 + ($0 < total % 4 ? 1 : 0) } }

  /// A SwiGLU expert of hidden width `F` on `n` tokens: three projections, SiLU and the product.
  static func swigluExpert(_ n: Int, _ D: Int, _ F: Int) -> Int {
    2 * linear(n, D, F, bias: false) + n * F * (silu + a) + linear(n, F, D, bias: false)
  }

  /// Top-2 of 4 SwiGLU experts of width 8 (softmax, renormalised): the router, its softmax, one
  /// comparison per score, the experts on their tokens, per slot the renormalisation (a sum and a
  /// division) and the weighted sum back (2 per element).
  static func tokenChoice(_ s: CostShape) -> HandCount {
    let (R, D) = (s.batch * s.time, s.width)
    let load = evenly(2 * R)
    let experts = load.reduce(0) { $0 + swigluExpert($1, D, 8) }
    return HandCount(
      options: ["experts": 4, "topK": 2, "hidden": 8],
      flops: linear(R, D, 4, bias: false) + softmax(R, 4) + R * 4 * a + experts + 2 * R * (2 * D * a + 2 * a),
      activationBytes: 4 * R * 4 * 2 + 4 * 2 * R * D * 2 + load.reduce(0) { $0 + 4 * $1 * 8 * 3 }, stateBytes: 0)
  }

  /// Switch, 4 ReLU experts of width 8, capacity factor 1.25 (per sequence ⌊T·1.25/4⌋, at least 4:
  /// 20 at T 65, 4 at T 7 — above the even load, so nothing is dropped in the expected routing).
  static func switchMixture(_ s: CostShape) -> HandCount {
    let (R, D) = (s.batch * s.time, s.width)
    let load = evenly(R)
    let experts = load.reduce(0) { $0 + linear($1, D, 8, bias: false) + $1 * 8 * a + linear($1, 8, D, bias: false) }
    return HandCount(
      options: ["experts": 4, "hidden": 8],
      flops: linear(R, D, 4, bias: false) + softmax(R, 4) + R * 4 * a + experts + R * 2 * D * a,
      activationBytes: 4 * R * 4 * 2 + 4 * R * D * 2 + load.reduce(0) { $0 + 4 * $1 * 8 * 2 }, stateBytes: 0)
  }

  /// Expert choice, 4 SwiGLU experts of width 8, capacity factor 1: each expert takes
  /// round(T/4) tokens per sequence (16 at T 65, 2 at T 7).
  static func expertChoice(_ s: CostShape) -> HandCount {
    let (B, T, D) = (s.batch, s.time, s.width)
    let R = B * T, c = T == 65 ? 16 : 2
    let slots = 4 * c * B
    return HandCount(
      options: ["experts": 4, "hidden": 8, "capacityFactor": 1],
      flops: linear(R, D, 4, bias: false) + softmax(R, 4) + R * 4 * a + 4 * swigluExpert(c * B, D, 8)
        + slots * 2 * D * a,
      activationBytes: 4 * R * 4 * 2 + 4 * slots * D * 2 + 4 * (4 * c * B * 8 * 3), stateBytes: 0)
  }

  /// DeepSeekMoE: top-2 of 4 SwiGLU experts of width 8 in 2 groups (1 kept), sigmoid scores, per
  /// slot the normalisation and the route scale (3), and one shared expert of width 8 on every
  /// token with its sum.
  /// Chunk and dechunk at ratio 2 before any forward pass: the concepts counted at ⌈T ÷ 2⌉ per
  /// sequence. Projections q and k; both unit lengths; per token the dot product (2D), 1 − cos,
  /// ½ and the clamp; the EMA over the concepts (3 per element); the spread times STE(s) and the
  /// residual sum (2 per element). Decoding holds the previous key and the smoothed concept.
  static func chunking(_ s: CostShape) -> HandCount {
    let (B, T, D) = (s.batch, s.time, s.width)
    let R = B * T
    let concepts = B * ((T + 1) / 2)
    let flops =
      2 * linear(R, D, D, bias: false) + 2 * unitLength(R, D) + R * (2 * D + 3) + 3 * concepts * D + 2 * R * D
    return HandCount(
      options: ["ratio": 2], flops: flops, activationBytes: 4 * (2 * R * D + 2 * R + concepts * D),
      stateBytes: 4 * B * 2 * D)
  }

  static func deepSeekMixture(_ s: CostShape) -> HandCount {
    let (R, D) = (s.batch * s.time, s.width)
    let load = evenly(2 * R)
    let experts = load.reduce(0) { $0 + swigluExpert($1, D, 8) }
    return HandCount(
      options: ["experts": 4, "topK": 2, "groups": 2, "topGroups": 1, "hidden": 8, "sharedExperts": 1],
      flops: linear(R, D, 4, bias: false) + R * 4 * sigmoid + R * 4 * a + experts + 2 * R * (2 * D * a + 3 * a)
        + swigluExpert(R, D, 8) + R * D * a,
      activationBytes: 4 * R * 4 * 2 + 4 * 2 * R * D * 2 + load.reduce(0) { $0 + 4 * $1 * 8 * 3 } + 4 * R * 8 * 3,
      stateBytes: 0)
  }
}

/// The counted decoding state (`stateBytes`) against the bytes a decoder really holds: a one-block
/// model of every family that decodes token by token, stepped through T tokens, its state walked
/// tensor by tensor (``LanguageModel/DecodingState/bytes``).
@Suite("Counted decoding state")
struct DecodingStateBytesTests {
  static let decoding = Zoo.families.kinds(in: .sequence).filter {
    Zoo.families[$0]!.capabilities.contains(.recurrentDecoding)
  }

  @Test("after T tokens a decoder holds the bytes cost(batch:time:) counts", arguments: decoding + ["(attn+gla)"])
  func measuredEqualsCounted(_ kind: String) throws {
    // Past the sliding window's 4 tokens, so that its cache stops growing.
    for (batch, time) in [(2, 3), (2, 7), (1, 13)] {
      let spec = try ModelSpec(
        pattern: kind == "swa" ? "swa:4" : kind, vocabulary: 11, width: 16, options: ["heads": 2])
      var generator = RandomGenerator(seed: 5)
      let model = try LanguageModel(spec, generator: &generator)
      var state = try model.decodingState(batch: batch)
      for t in 0..<time { _ = model.step(IndexTensor(Array(repeating: t % 11, count: batch), shape: [batch]), &state) }
      let counted = model.cost(batch: batch, time: time).stateBytes
      #expect(state.bytes == counted, "\(kind), B \(batch), T \(time): holds \(state.bytes) bytes, counted \(counted)")
    }
  }
}
