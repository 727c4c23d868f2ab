import TesseraCore

/// Token-to-concept chunking: a boundary where consecutive tokens' representations differ, the
/// tokens between boundaries merged into one concept, the inner network run on the concepts, and
/// the concepts spread back to the tokens.
///
///     q = x W_qᵀ,  k = x W_kᵀ                                  x [B, L, D]
///     p_t = clamp(½ (1 − cos(q_t, k_{t−1})), 0, 1),  p_0 = 1    boundary probability [B, L]
///     b_t = [p_t ≥ ½]                                           boundaries (not differentiated)
///     chunk:    c_j = x at the j-th boundary                    [B, M, D]
///     dechunk:  z_j = (1 − p_j) z_{j−1} + p_j c_j  (EMA, p_j at the j-th boundary)
///               y_t = x_t + z_{j(t)} · STE(s_t),  j(t) = Σ_{u≤t} b_u − 1,  s_t = b_t ? p_t : 1 − p_t
///     ratio loss: R/(R−1) ((R−1) F G + (1 − F)(1 − G)),  F = mean b, G = mean p
///
/// STE is 1 forward and the identity backward, so the boundary probabilities learn through the
/// output. Two references, by ``Rule``:
/// - `.conceptMoE` (Huang et al., 2026, "ConceptMoE: Adaptive Token-to-Concept Compression for
///   Implicit Compute Allocation"): as above; chunks zero-padded to the batch's longest.
/// - `.hNet` (Hwang et al., 2025, "Dynamic Chunking for End-to-End Hierarchical Sequence
///   Modeling"): the four differences — p_t from cos(q_{t−1}, k_t) (the query on the previous
///   token), a strict boundary p_t > ½ (and only where the `mask` holds), the EMA from a zero
///   state with p clamped to [10⁻⁴, 1 − 10⁻⁴], and no residual (y_t = z_{j(t)} · STE(max(p_t, 1 − p_t)));
///   chunks padded with the row's non-boundary tokens, in order.
public enum DynamicChunking {
  public enum Rule: String, Codable, Sendable, CaseIterable {
    case conceptMoE
    case hNet

    /// Whether boundary probability `p` makes a boundary: p ≥ ½ (ConceptMoE), p > ½ (H-Net).
    public func isBoundary(_ p: Float) -> Bool { self == .conceptMoE ? p >= 0.5 : p > 0.5 }

    /// The bounds the EMA's rates are clamped to: none (ConceptMoE), [10⁻⁴, 1 − 10⁻⁴] (H-Net).
    var rateBounds: ClosedRange<Float> { self == .conceptMoE ? 0...1 : 1e-4...(1 - 1e-4) }
  }

  /// p = clamp(½ (1 − cos(current, previous)), 0, 1) along the last axis: the boundary
  /// probability of the parallel form and of decoding, by the same ops (so the same decisions).
  static func boundaryProbability(_ current: Tensor, _ previous: Tensor) -> Tensor {
    let cosine = (unitLength(current) * unitLength(previous)).sum(axis: -1)
    return minimum(maximum((1 - cosine) * 0.5, Tensor(0)), Tensor(1))
  }

  /// Boundaries of a batch `[B, L]` and where each token's concept is.
  public struct Boundaries {
    public let rule: Rule
    /// p `[B, L]` (differentiable in the projections and the input).
    public let probabilities: Tensor
    /// s `[B, L]`: the probability of the decision taken at each token.
    public let selectedProbabilities: Tensor
    /// b, one row per sequence.
    public let isBoundary: [[Bool]]
    /// The positions of each row's boundaries: its concepts' first tokens.
    public let boundaryPositions: [[Int]]
    /// j(t): the concept each token belongs to.
    public let conceptOfToken: [[Int]]

    public var batch: Int { isBoundary.count }
    public var length: Int { isBoundary.first?.count ?? 0 }
    /// Concepts per sequence (M per row).
    public var conceptCounts: [Int] { boundaryPositions.map(\.count) }
    /// The longest row's concepts: the padded concept length.
    public var maxConcepts: Int { conceptCounts.max() ?? 0 }
    /// b as a 0/1 tensor `[B, L]`.
    public var boundaryMask: Tensor {
      Tensor(isBoundary.flatMap { $0.map { $0 ? 1 : 0 } }, shape: [batch, length])
    }
    /// Which rows of the padded concepts `[B, M]` are concepts (1) or padding (0).
    public var conceptMask: Tensor {
      let m = maxConcepts
      return Tensor(conceptCounts.flatMap { n in (0..<m).map { $0 < n ? 1 : 0 } }, shape: [batch, m])
    }
    /// The realised compression L ÷ M over the batch (tokens ÷ concepts).
    public var realisedRatio: Double {
      Double(batch * length) / Double(max(1, conceptCounts.reduce(0, +)))
    }

    /// Token index (row-major over `[B, L]`) of each padded concept `[B, M]`, and whether it is
    /// a real concept: boundaries in order, then padding — the row's first token again
    /// (`.conceptMoE`, zeroed) or its non-boundary tokens in order (`.hNet`).
    func paddedSources() -> (indices: [Int], real: [Float]) {
      let m = maxConcepts
      var indices: [Int] = [], real: [Float] = []
      indices.reserveCapacity(batch * m)
      for row in 0..<batch {
        let boundaries = boundaryPositions[row]
        let padding: [Int]
        switch rule {
        case .conceptMoE: padding = Array(repeating: 0, count: m - boundaries.count)
        case .hNet: padding = Array((0..<length).filter { !isBoundary[row][$0] }.prefix(m - boundaries.count))
        }
        for position in boundaries + padding { indices.append(row * length + position) }
        real += (0..<m).map { $0 < boundaries.count ? 1 : 0 }
      }
      return (indices, real)
    }
  }

  /// Boundary probabilities and decisions for `x` `[B, L, D]` from its projections `queries` and
  /// `keys` `[B, L, K]`; `mask` `[B, L]` (1 for real tokens) is honoured by `.hNet`, whose
  /// padded tokens are never boundaries.
  public static func boundaries(queries q: Tensor, keys k: Tensor, rule: Rule, mask: Tensor? = nil) -> Boundaries {
    check(q.rank == 3 && q.shape == k.shape, "DynamicChunking: queries and keys must be [B, L, K] of one shape")
    let (b, l) = (q.shape[0], q.shape[1])
    if let mask { check(mask.shape == [b, l], "DynamicChunking: mask must be [\(b), \(l)]") }
    let p: Tensor
    if l > 1 {
      let (current, previous) =
        rule == .conceptMoE
        ? (q.slice(axis: 1, 1..<l), k.slice(axis: 1, 0..<(l - 1)))
        : (q.slice(axis: 1, 0..<(l - 1)), k.slice(axis: 1, 1..<l))
      p = concatenate([Tensor.ones([b, 1]), boundaryProbability(current, previous)], axis: 1)  // [B, L]
    } else {
      p = Tensor.ones([b, l])
    }
    let values = p.detached().contiguous().scalars
    let valid = mask.map { $0.contiguous().scalars.map { $0 != 0 } } ?? Array(repeating: true, count: b * l)
    var isBoundary: [[Bool]] = [], positions: [[Int]] = [], concept: [[Int]] = []
    for row in 0..<b {
      var flags: [Bool] = [], starts: [Int] = [], owner: [Int] = []
      for t in 0..<l {
        let v = values[row * l + t]
        let boundary = rule.isBoundary(v) && (rule == .conceptMoE || valid[row * l + t])
        flags.append(boundary)
        if boundary { starts.append(t) }
        owner.append(max(starts.count - 1, 0))
      }
      isBoundary.append(flags)
      positions.append(starts)
      concept.append(owner)
    }
    let decided: Tensor
    switch rule {
    case .conceptMoE: decided = Tensor(isBoundary.flatMap { $0.map { $0 ? 1 : 0 } }, shape: [b, l])
    case .hNet: decided = p.detached() .>= 0.5
    }
    let selected = `where`(decided, p, 1 - p)
    return Boundaries(
      rule: rule, probabilities: p, selectedProbabilities: selected, isBoundary: isBoundary,
      boundaryPositions: positions, conceptOfToken: concept)
  }

  /// The concepts `[B, M, D]`: each row's tokens at its boundaries, in order, padded to the
  /// batch's longest row (zeros for `.conceptMoE`, the row's other tokens for `.hNet`).
  public static func chunk(_ x: Tensor, _ boundaries: Boundaries) -> Tensor {
    let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
    let m = boundaries.maxConcepts
    let (indices, real) = boundaries.paddedSources()
    let gathered = x.reshaped(b * l, d).indexSelect(axis: 0, indices: IndexTensor(indices, shape: [b * m]))
    let rows = boundaries.rule == .conceptMoE ? gathered * Tensor(real, shape: [b * m, 1]) : gathered
    return rows.reshaped(b, m, d)
  }

  /// The smoothed concepts `[B, M, D]`: the EMA of `concepts` along M, each concept weighted by
  /// its boundary's probability (clamped to [10⁻⁴, 1 − 10⁻⁴] for `.hNet`).
  public static func smooth(_ concepts: Tensor, _ boundaries: Boundaries) -> Tensor {
    let (b, l) = (boundaries.batch, boundaries.length)
    let m = boundaries.maxConcepts
    check(concepts.shape.prefix(2) == [b, m], "DynamicChunking: concepts must be [\(b), \(m), D]")
    let (indices, _) = boundaries.paddedSources()
    var rates = boundaries.probabilities.reshaped(b * l).indexSelect(
      axis: 0, indices: IndexTensor(indices, shape: [b * m])
    ).reshaped(b, m)
    if boundaries.rule == .hNet {
      let bounds = boundaries.rule.rateBounds
      rates = minimum(maximum(rates, Tensor(bounds.lowerBound)), Tensor(bounds.upperBound))
    }
    return exponentialMovingAverage(concepts, rates: rates)
  }

  /// Back to tokens `[B, L, D]`: each token reads its concept's smoothed vector (`z_{j(t)}`).
  public static func spread(_ smoothed: Tensor, _ boundaries: Boundaries) -> Tensor {
    let (b, l, m, d) = (boundaries.batch, boundaries.length, boundaries.maxConcepts, smoothed.shape[2])
    let indices = boundaries.conceptOfToken.enumerated().flatMap { row, owners in owners.map { row * m + $0 } }
    return smoothed.reshaped(b * m, d).indexSelect(axis: 0, indices: IndexTensor(indices, shape: [b * l])).reshaped(
      b, l, d)
  }

  /// The dechunked output `[B, L, D]` from the inner network's `concepts` `[B, M, D]`: smoothed,
  /// spread to the tokens, times STE(s), plus the residual `x` (`.conceptMoE`).
  public static func dechunk(_ concepts: Tensor, _ boundaries: Boundaries, residual x: Tensor) -> Tensor {
    let spreadOut = spread(smooth(concepts, boundaries), boundaries)
    let s = boundaries.selectedProbabilities
    let straightThrough = (s - s.detached() + 1).reshaped(boundaries.batch, boundaries.length, 1)
    let y = spreadOut * straightThrough
    return boundaries.rule == .conceptMoE ? x + y : y
  }

  /// The ratio loss toward a compression of `ratio` (> 1): R/(R−1) ((R−1) F G + (1 − F)(1 − G)),
  /// F the fraction of boundaries, G the mean boundary probability over every `[B, L]` position;
  /// 1 when F = G = 1/R.
  public static func ratioLoss(_ boundaries: Boundaries, ratio: Double) -> Tensor {
    check(ratio > 1, "DynamicChunking.ratioLoss: the target ratio must exceed 1, got \(ratio)")
    let r = Float(ratio)
    let f = Float(boundaries.isBoundary.joined().filter { $0 }.count) / Float(boundaries.batch * boundaries.length)
    let g = boundaries.probabilities.mean()
    return (g * ((r - 1) * f) + (1 - g) * (1 - f)) * (r / (r - 1))
  }

  /// `v / max(‖v‖, 10⁻¹²)` along the last axis.
  static func unitLength(_ v: Tensor) -> Tensor {
    v / maximum(v.square().sum(axis: -1, keepDimensions: true).sqrt(), Tensor(1e-12))
  }
}

extension DynamicChunking.Rule {
  /// Decoded from its name; any other string is refused with the names allowed.
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
