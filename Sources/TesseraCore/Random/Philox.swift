/// Philox 4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers: As
/// Easy as 1, 2, 3" (SC 2011). A block of four 32-bit words is a pure function of a 128-bit
/// counter and a 64-bit key, so element `i` of a draw can be computed by any thread, in any order.
public enum Philox {
  static let m0: UInt32 = 0xD251_1F53
  static let m1: UInt32 = 0xCD9E_8D57
  static let w0: UInt32 = 0x9E37_79B9
  static let w1: UInt32 = 0xBB67_AE85

  @inline(__always)
  public static func block(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> SIMD4<UInt32> {
    var c = counter
    var k = key
    for round in 0..<10 {
      if round > 0 {
        k.0 &+= w0
        k.1 &+= w1
      }
      let p0 = UInt64(m0) * UInt64(c.0)
      let p1 = UInt64(m1) * UInt64(c.2)
      c = (
        UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0,
        UInt32(truncatingIfNeeded: p1),
        UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1,
        UInt32(truncatingIfNeeded: p0)
      )
    }
    return SIMD4(c.0, c.1, c.2, c.3)
  }
}

/// SplitMix64's finaliser: a bijective 64-bit mix, used to derive stream ids.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
  var z = x &+ 0x9E37_79B9_7F4A_7C15
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}
