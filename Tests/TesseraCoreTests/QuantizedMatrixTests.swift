import Foundation
import Testing
import TesseraCore
import _TestSupport

/// Weight-only quantization: the codes against the weights they stand for, the quantized product
/// against the float product of the dequantized matrix, the same bits in every kernel variant and
/// thread count, and the bytes held.
@Suite("Quantized matrices")
struct QuantizedMatrixTests {
  static let schemes: [QuantizedMatrix.Scheme] = [.int8PerChannel, .int4Grouped(group: 16), .int4Grouped(group: 32)]

  @Test("every weight within half a step of its code's value; a zero row stays zero")
  func roundTrip() {
    var rng = RandomGenerator(seed: 1)
    var w = rng.normal([7, 50]).scalars
    for i in 0..<50 { w[3 * 50 + i] = 0 }
    let weight = Tensor(w, shape: [7, 50])
    for scheme in Self.schemes {
      let q = QuantizedMatrix(weight, scheme: scheme)
      let back = q.dequantized().scalars
      for o in 0..<7 {
        let row = Array(w[(o * 50)..<((o + 1) * 50)])
        // One step: 2·max|w| ÷ 254 (int8), (max − min) ÷ 15 over the row (a bound on every group's).
        let step = scheme == .int8PerChannel ? row.map(abs).max()! / 127 : (row.max()! - row.min()!) / 15
        for i in 0..<50 {
          let error = abs(back[o * 50 + i] - w[o * 50 + i])
          #expect(
            error <= step * 0.5 + 2e-3 * abs(w[o * 50 + i]) + 1e-6, "\(scheme) [\(o), \(i)]: \(error) for step \(step)")
        }
      }
      #expect(back[(3 * 50)..<(4 * 50)].allSatisfy { $0 == 0 }, "\(scheme): the zero row")
    }
  }

  @Test(
    "quantizedLinear = linear(x, dequantized W) + b (1e-5), awkward shapes, every scheme",
    arguments: [(1, 37, 5), (3, 50, 9), (7, 64, 33), (2, 130, 17)])
  func matchesDequantizedProduct(_ shape: (Int, Int, Int)) {
    let (rows, inputs, outputs) = shape
    var rng = RandomGenerator(seed: UInt64(rows * 1000 + inputs))
    let x = rng.normal([rows, inputs]), w = rng.normal([outputs, inputs]), b = rng.normal([outputs])
    for scheme in Self.schemes {
      let q = QuantizedMatrix(w, scheme: scheme)
      for bias in [nil, b] as [Tensor?] {
        let got = quantizedLinear(x, q, bias: bias)
        let expected = linear(x, weight: q.dequantized(), bias: bias)
        #expect(got.shape == [rows, outputs])
        #expect(got.relativeError(to: expected) < 1e-5, "\(scheme) \(shape): \(got.relativeError(to: expected))")
      }
    }
  }

  @Test("the same bits in every kernel variant this CPU runs and with 1 or 2 threads")
  func bitIdenticalAcrossVariants() {
    var rng = RandomGenerator(seed: 5)
    let x = rng.normal([5, 96]), w = rng.normal([70, 96]), b = rng.normal([70])
    for scheme in Self.schemes {
      let q = QuantizedMatrix(w, scheme: scheme)
      let reference = Runtime.withGEMMKernel(.portable(.baseline)) {
        Runtime.withThreadCount(1) { quantizedLinear(x, q, bias: b).scalars }
      }
      for variant in GEMMKernel.Variant.allCases where variant.isSupported {
        for threads in [1, 2] {
          let got = Runtime.withGEMMKernel(.portable(variant)) {
            Runtime.withThreadCount(threads) { quantizedLinear(x, q, bias: b).scalars }
          }
          #expect(got.map(\.bitPattern) == reference.map(\.bitPattern), "\(scheme) \(variant) \(threads) threads")
        }
      }
    }
  }

  @Test("bytes: codes and half-float scales (and minimums); ÷ 3.9 (int8, 256 inputs) and ÷ 6.4 (4-bit, groups of 32)")
  func bytes() {
    let w = Tensor.zeros([64, 256])
    let int8 = QuantizedMatrix(w, scheme: .int8PerChannel)
    #expect(int8.bytes == 64 * 256 + 2 * 64)
    #expect(Double(4 * 64 * 256) / Double(int8.bytes) >= 3.9)
    let int4 = QuantizedMatrix(w, scheme: .int4Grouped(group: 32))
    #expect(int4.bytes == 64 * 128 + 2 * 2 * 64 * 8)
    #expect(Double(4 * 64 * 256) / Double(int4.bytes) >= 6.4)
  }
}
