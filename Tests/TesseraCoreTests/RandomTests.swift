import Foundation
import Testing
import TesseraCore

@Suite("Random numbers")
struct RandomTests {
  /// Known-answer vectors of Philox 4x32-10 from the Random123 distribution (kat_vectors).
  @Test("Philox 4x32-10 matches the published known-answer vectors")
  func knownAnswers() {
    let zero = Philox.block(counter: (0, 0, 0, 0), key: (0, 0))
    #expect(zero == SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
    let ones = Philox.block(counter: (.max, .max, .max, .max), key: (.max, .max))
    #expect(ones == SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
    let pi = Philox.block(
      counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
    #expect(pi == SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
  }

  @Test("same seed ⇒ same numbers; streams do not disturb each other")
  func streams() {
    var a = RandomGenerator(seed: 3)
    var b = RandomGenerator(seed: 3)
    #expect(a.normal([100]).scalars == b.normal([100]).scalars)
    var c = RandomGenerator(seed: 4)
    var d = RandomGenerator(seed: 3)
    #expect(c.normal([100]).scalars != d.normal([100]).scalars)

    // Drawing from another stream in between changes nothing in this one.
    let root = RandomGenerator(seed: 9)
    var alone = root.fork("weights")
    let expected = alone.uniform([50]).scalars
    var other = root.fork("dropout")
    _ = other.uniform([1000])
    var weights = root.fork("weights")
    #expect(weights.uniform([50]).scalars == expected)
    #expect(root.fork("weights") != root.fork("dropout"))
    #expect(root.fork(1) != root.fork(2))

    // Draws continue the stream: one draw of 8 equals two draws of 4.
    var whole = root.fork("split")
    var parts = root.fork("split")
    #expect(whole.uniform([8]).scalars == parts.uniform([4]).scalars + parts.uniform([4]).scalars)
  }

  @Test("distributions have the right moments")
  func moments() {
    var rng = RandomGenerator(seed: 1)
    let n = 200_000
    let u = rng.uniform([n]).scalars
    #expect(Swift.abs(u.reduce(0, +) / Float(n) - 0.5) < 0.005)
    #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
    let z = rng.normal([n], mean: 1, standardDeviation: 2).scalars
    let mean = z.reduce(0, +) / Float(n)
    let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n)
    #expect(Swift.abs(mean - 1) < 0.02)
    #expect(Swift.abs(variance.squareRoot() - 2) < 0.02)
    let bern = rng.bernoulli([n], probability: 0.3).scalars
    #expect(Swift.abs(bern.reduce(0, +) / Float(n) - 0.3) < 0.005)
    let g = rng.gumbel([n]).scalars
    #expect(Swift.abs(g.reduce(0, +) / Float(n) - 0.5772) < 0.02)  // Euler–Mascheroni
    let ints = rng.integers([n], in: 3..<8).values
    #expect(ints.allSatisfy { (3..<8).contains($0) })
    for v in 3..<8 { #expect(Swift.abs(Float(ints.filter { $0 == v }.count) / Float(n) - 0.2) < 0.01) }
    let perm = rng.permutation(1000)
    #expect(perm.sorted() == Array(0..<1000))
    #expect(perm != Array(0..<1000))
  }

  @Test("dropout keeps the expectation and drops about p of the elements")
  func dropout() {
    var rng = RandomGenerator(seed: 2)
    let x = Tensor.ones([100_000])
    let y = x.dropout(probability: 0.25, generator: &rng).scalars
    let zeros = y.filter { $0 == 0 }.count
    #expect(Swift.abs(Float(zeros) / 100_000 - 0.25) < 0.01)
    #expect(y.allSatisfy { $0 == 0 || Swift.abs($0 - 4.0 / 3.0) < 1e-6 })
  }
}
