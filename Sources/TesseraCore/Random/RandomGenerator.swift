import Foundation

/// A seeded stream of random numbers on ``Philox`` (counter-based).
///
/// A generator is `(seed, stream, position)`. Each draw of `n` numbers takes the next ⌈n/4⌉
/// counter blocks of its stream, so its values depend only on the seed, the stream and how much
/// the stream has drawn before — not on thread count, and not on other streams. Give each
/// consumer its own stream with ``fork(_:)`` (`rng.fork("dropout")`, `rng.fork(layerIndex)`), and
/// ablations that add a module leave every other module's numbers unchanged.
public struct RandomGenerator: Sendable, Equatable {
  /// The run's seed.
  public let seed: UInt64
  /// This stream's id (derived from the labels it was forked with).
  public let stream: UInt64
  /// Counter blocks drawn so far.
  public private(set) var position: UInt64 = 0

  /// The root stream of `seed`.
  public init(seed: UInt64) {
    self.seed = seed
    self.stream = 0
  }

  init(seed: UInt64, stream: UInt64) {
    self.seed = seed
    self.stream = stream
  }

  /// An independent stream named by `label`, derived from this stream's id (not its position).
  public func fork(_ label: String) -> RandomGenerator {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
    for byte in label.utf8 {
      h ^= UInt64(byte)
      h = h &* 0x100_0000_01B3
    }
    return RandomGenerator(seed: seed, stream: mix64(stream ^ mix64(h)))
  }

  /// An independent stream numbered `index`, derived from this stream's id.
  public func fork(_ index: Int) -> RandomGenerator {
    RandomGenerator(
      seed: seed, stream: mix64(stream ^ mix64(UInt64(bitPattern: Int64(index)) &+ 0x5851_F42D_4C95_7F2D)))
  }

  /// Reserves `blocks` counter blocks and returns the first.
  mutating func take(blocks: Int) -> UInt64 {
    let start = position
    position &+= UInt64(blocks)
    return start
  }

  @inline(__always)
  func block(_ index: UInt64) -> SIMD4<UInt32> {
    Philox.block(
      counter: (
        UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
        UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)
      ),
      key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
  }

  /// Fills `count` floats; `fill(block, lanes, out)` writes up to four values from one block.
  mutating func draw(_ shape: [Int], _ fill: (SIMD4<UInt32>, Int, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    let out = Tensor(uninitializedShape: shape)
    let n = out.count
    let blocks = (n + 3) / 4
    let start = take(blocks: blocks)
    let o = out.storage.base
    let me = self
    Runtime.parallelFor(blocks, grain: 4096) { range in
      for b in range {
        let lanes = Swift.min(4, n - b * 4)
        fill(me.block(start &+ UInt64(b)), lanes, o + b * 4)
      }
    }
    return out
  }

  /// `[0, 1)` with 24 random bits.
  @inline(__always) static func unit(_ u: UInt32) -> Float { Float(u >> 8) * 0x1p-24 }
  /// `(0, 1)`: never 0, safe under `log`.
  @inline(__always) static func openUnit(_ u: UInt32) -> Float { (Float(u >> 8) + 0.5) * 0x1p-24 }

  // MARK: - Draws

  /// Uniform on `[low, high)`.
  public mutating func uniform(_ shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
    let width = high - low
    return draw(shape) { r, lanes, o in
      for l in 0..<lanes { o[l] = low + width * Self.unit(r[l]) }
    }
  }

  /// Normal with the given mean and standard deviation (Box–Muller on pairs of lanes).
  public mutating func normal(_ shape: [Int], mean: Float = 0, standardDeviation: Float = 1) -> Tensor {
    draw(shape) { r, lanes, o in
      for pair in 0..<2 where pair * 2 < lanes {
        let u1 = Self.openUnit(r[pair * 2]), u2 = Self.unit(r[pair * 2 + 1])
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        let angle = 2 * Float.pi * u2
        o[pair * 2] = mean + standardDeviation * radius * Foundation.cos(angle)
        if pair * 2 + 1 < lanes { o[pair * 2 + 1] = mean + standardDeviation * radius * Foundation.sin(angle) }
      }
    }
  }

  /// 1 with probability `probability`, else 0.
  public mutating func bernoulli(_ shape: [Int], probability: Float) -> Tensor {
    check(probability >= 0 && probability <= 1, "bernoulli: probability \(probability) is outside [0, 1]")
    return draw(shape) { r, lanes, o in
      for l in 0..<lanes { o[l] = Self.unit(r[l]) < probability ? 1 : 0 }
    }
  }

  /// Standard Gumbel: `−log(−log u)`.
  public mutating func gumbel(_ shape: [Int]) -> Tensor {
    draw(shape) { r, lanes, o in
      for l in 0..<lanes { o[l] = -Foundation.log(-Foundation.log(Self.openUnit(r[l]))) }
    }
  }

  /// Integers uniform in `range` (two lanes of 32 bits each, multiply-shift).
  public mutating func integers(_ shape: [Int], in range: Range<Int>) -> IndexTensor {
    check(!range.isEmpty, "integers: empty range \(range)")
    let n = Shape.count(shape)
    let blocks = (n + 1) / 2
    let start = take(blocks: blocks)
    let width = UInt64(range.count)
    var values = [Int](repeating: 0, count: n)
    for b in 0..<blocks {
      let r = block(start &+ UInt64(b))
      for pair in 0..<2 where b * 2 + pair < n {
        let bits = UInt64(r[pair * 2]) << 32 | UInt64(r[pair * 2 + 1])
        values[b * 2 + pair] = range.lowerBound + Int(bits.multipliedFullWidth(by: width).high)
      }
    }
    return IndexTensor(values, shape: shape)
  }

  /// One integer uniform in `range`.
  public mutating func integer(in range: Range<Int>) -> Int { integers([1], in: range).values[0] }

  /// One float uniform in `[0, 1)`.
  public mutating func nextUniform() -> Float { uniform([1]).scalar }

  /// A uniformly random permutation of `0..<n` (sorting by 64-bit random keys).
  public mutating func permutation(_ n: Int) -> [Int] {
    let blocks = (n + 1) / 2
    let start = take(blocks: blocks)
    var keys = [UInt64](repeating: 0, count: n)
    for b in 0..<blocks {
      let r = block(start &+ UInt64(b))
      for pair in 0..<2 where b * 2 + pair < n {
        keys[b * 2 + pair] = UInt64(r[pair * 2]) << 32 | UInt64(r[pair * 2 + 1])
      }
    }
    return (0..<n).sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
  }
}

extension Tensor {
  /// Inverted dropout: zeroes each element with probability `probability` and scales the rest
  /// by `1 / (1 − probability)`; the identity when `probability` is 0.
  public func dropout(probability: Float, generator: inout RandomGenerator) -> Tensor {
    check(probability >= 0 && probability < 1, "dropout: probability \(probability) must be in [0, 1)")
    if probability == 0 { return self }
    let scale = 1 / (1 - probability)
    let mask = generator.bernoulli(shape, probability: 1 - probability) * scale
    return self * mask
  }
}
