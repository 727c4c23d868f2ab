/// How an op computes its result — one vocabulary for every op that has more than one way to
/// compute the same math. Every such op takes `form:`, defaulting to its fastest form, and lists
/// the forms it has; the ``reference`` form is the specification the others are tested against.
public enum Form: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The equation as written: a recurrence token by token, a materialised score matrix.
  case reference
  /// The whole sequence at once in matrix form (quadratic in time for a recurrence).
  case parallel
  /// Quadratic inside chunks of `size` tokens, recurrent across chunks.
  case chunked(size: Int)
  /// Blocks of queries against blocks of keys with an online softmax (FlashAttention).
  case tiled(queryBlock: Int, keyBlock: Int)
  /// A hand-written kernel with its own reverse pass.
  case fused

  public var description: String {
    switch self {
    case .reference: return "reference"
    case .parallel: return "parallel"
    case .chunked(let size): return "chunked(\(size))"
    case .tiled(let q, let k): return "tiled(\(q)×\(k))"
    case .fused: return "fused"
    }
  }

  /// Whether the two are the same form, whatever their sizes.
  public func sameKind(as other: Form) -> Bool {
    switch (self, other) {
    case (.reference, .reference), (.parallel, .parallel), (.chunked, .chunked), (.tiled, .tiled), (.fused, .fused):
      return true
    default: return false
    }
  }
}
