/// Which keys each query may attend to, for queries and keys on the same time axis.
public enum AttentionMask: Codable, Sendable, Equatable {
  /// Every key.
  case none
  /// Keys at or before the query (`s ≤ t`).
  case causal
  /// The last `window` keys up to the query, itself included (`t − window < s ≤ t`).
  case slidingWindow(Int)

  /// Whether query `t` sees key `s`.
  @inline(__always)
  public func allows(query t: Int, key s: Int) -> Bool {
    switch self {
    case .none: return true
    case .causal: return s <= t
    case .slidingWindow(let w): return s <= t && s > t - w
    }
  }

  /// The keys query block `rows` can see, as a range (empty when none).
  func keyRange(rows: Range<Int>, time: Int) -> Range<Int> {
    switch self {
    case .none: return 0..<time
    case .causal: return 0..<min(time, rows.upperBound)
    case .slidingWindow(let w): return max(0, rows.lowerBound - w + 1)..<min(time, rows.upperBound)
    }
  }

  /// How many keys query `t` sees when there are `time` keys.
  func visibleKeys(query t: Int, time: Int) -> Int {
    switch self {
    case .none: return time
    case .causal: return t + 1
    case .slidingWindow(let w): return min(w, t + 1)
    }
  }
}
