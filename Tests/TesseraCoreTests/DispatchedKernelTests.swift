import Foundation
import Testing
import TesseraCore
import _TestSupport

/// The C kernels built per instruction set must give the bits of the Swift definitions they
/// replace in every variant (each one this CPU runs is tested): otherwise a result would depend on
/// the machine.
@Suite("Kernels built per instruction set")
struct DispatchedKernelTests {
  /// Values over the whole useful range plus the edges: ±0, tiny, near the Taylor/exp switch,
  /// the exp clamps, ±∞ and NaN; 100,003 elements so every vector tail is exercised.
  static let inputs: [Float] = {
    var values: [Float] = [
      0, -0, 1e-30, -1e-30, 0.125, -0.125, 0.12499999, 1, -1, 9, -9, 20, -20, 44, -44, 87, -87, 88.7, -88.7, 90,
      -90, 1e30, -1e30, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
    ]
    var rng = RandomGenerator(seed: 11)
    values += rng.normal([50_000], standardDeviation: 3).scalars
    values += rng.uniform([49_975], low: -100, high: 100).scalars
    return values
  }()

  static func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
  }

  static let variants = GEMMKernel.Variant.allCases.filter(\.isSupported)

  @Test("exponentiate(x, subtracting: s) is VectorMath.exp(x − s) bit for bit, in every variant")
  func shiftedExponential() {
    #expect(Self.variants.contains(.baseline))
    for variant in Self.variants {
      for shift: Float in [0, 3.5, -2] {
        var values = Self.inputs
        values.withUnsafeMutableBufferPointer {
          VectorMath.exponentiate($0.baseAddress!, $0.count, subtracting: shift, variant: variant)
        }
        #expect(Self.bitsEqual(values, Self.inputs.map { VectorMath.exp($0 - shift) }), "\(variant.rawValue)")
      }
    }
  }

  @Test("GELU (tanh) and its backward are the composed formula bit for bit, in every variant")
  func geluTanh() {
    for variant in Self.variants {
      Runtime.withGEMMKernel(.portable(variant)) { geluTanh(variant) }
    }
  }

  func geluTanh(_ variant: GEMMKernel.Variant) {
    let x = Tensor(Self.inputs.filter { $0.isFinite && abs($0) < 1e4 })
    let c: Float = 0.797_884_56
    // 0.5·x·(1 + tanh(c·(x + 0.044715·x³))), each op rounded as the kernel rounds it.
    let t = ((x * 0.044715 * x * x + x) * c).tanh()
    let forward = x * 0.5 * (t + 1)
    #expect(Self.bitsEqual(x.gelu(approximate: true).scalars, forward.scalars), "\(variant.rawValue)")

    var generator = RandomGenerator(seed: 3)
    let g = generator.normal(x.shape)
    // g·(0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3·0.044715·x²))
    let derivative = (t + 1) * 0.5 + x * 0.5 * (1 - t * t) * c * (x * (Float(3) * 0.044715) * x + 1)
    let analytic = gradient(at: x) { ($0.gelu(approximate: true) * g).sum() }
    #expect(Self.bitsEqual(analytic.scalars, (g * derivative).scalars), "\(variant.rawValue)")
  }

  @Test("GELU (tanh) is within 1e-6 of the formula in double precision")
  func geluAccuracy() {
    let values = Self.inputs.filter { $0.isFinite && abs($0) < 50 }
    let ours = Tensor(values).gelu(approximate: true).scalars
    for (x, y) in zip(values, ours) {
      let d = Double(x)
      let exact = 0.5 * d * (1 + Foundation.tanh(0.797_884_560_802_865_4 * (d + 0.044715 * d * d * d)))
      #expect(abs(Double(y) - exact) <= 1e-6 * max(1, abs(exact)), "x = \(x)")
    }
  }
}
