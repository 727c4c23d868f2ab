import Testing

import TesseraCore

/// `unitLowerTriangularInverse`: forward substitution of our own (no BLAS), so its bits are the
/// same on every machine. (Its gradient is checked in GradientTests.)
@Suite("Unit lower-triangular inverse")
struct TriangularTests {
  @Test("(I + L)·X = I for a batch of 64 × 64 unit triangles; the diagonal and upper part are not read")
  func inverse() {
    var rng = RandomGenerator(seed: 5)
    let n = 64
    let raw = rng.normal([3, n, n]) * 0.2
    let x = raw.unitLowerTriangularInverse()
    let identity = Tensor.eye(n)
    let product = matmul(identity + raw.lowerTriangle(diagonal: -1), x)
    let error = (product - identity).abs().max().scalar
    #expect(error < 1e-5, "max |(I + L)X − I| = \(error)")
    // Whatever is on and above the diagonal does not matter.
    let scribbled = raw + rng.normal([3, n, n]).upperTriangle(diagonal: 0) * 100
    #expect(scribbled.unitLowerTriangularInverse().scalars == x.scalars)
    // X is unit lower triangular itself.
    #expect(x.upperTriangle(diagonal: 1).abs().max().scalar == 0)
    #expect((0..<n).allSatisfy { x[index: 0, $0, $0] == 1 })
  }

  @Test("a 3 × 3 case by hand: rows accumulate left to right")
  func byHand() {
    let l = Tensor([9, 9, 9, 2, 9, 9, 3, 4, 9], shape: [3, 3])
    // (I + L)⁻¹ for L = [[0,0,0],[2,0,0],[3,4,0]]: row 1 = e1 − 2·e0, row 2 = e2 − 3·e0 − 4·(e1 − 2·e0).
    #expect(l.unitLowerTriangularInverse().scalars == [1, 0, 0, -2, 1, 0, 5, -4, 1])
  }
}
