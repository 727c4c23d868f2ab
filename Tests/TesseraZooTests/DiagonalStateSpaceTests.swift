import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

@Suite("Diagonal state space model (S4D)")
struct DiagonalStateSpaceTests {
  /// A model with `H` channels and `N` modes, S4D-Lin-like parameters with some spread.
  static func model(channels h: Int = 3, modes n: Int = 4, seed: UInt64 = 1, skip: Bool = true) -> [Tensor] {
    var rng = RandomGenerator(seed: seed)
    var x = [
      rng.uniform([h], low: Float(Foundation.log(0.01)), high: Float(Foundation.log(0.3))),  // log Δ
      rng.uniform([h, n], low: -1.5, high: 0),  // log decay
      Tensor((0..<(h * n)).map { Float.pi * Float($0 % n) }, shape: [h, n])
        + rng.normal([h, n], standardDeviation: 0.1),
      rng.normal([h, n], standardDeviation: 0.7), rng.normal([h, n], standardDeviation: 0.7),
    ]
    if skip { x.append(rng.normal([h])) }
    return x
  }

  static func ssm(_ p: [Tensor]) -> DiagonalStateSpace {
    DiagonalStateSpace(
      logStep: p[0], logDecay: p[1], frequency: p[2], cReal: p[3], cImag: p[4], d: p.count > 5 ? p[5] : nil)
  }

  @Test(
    "the convolution forms (whole, chunks of 16 and 64) equal the scan: output, final state, gradients, any start",
    arguments: [1, 7, 63, 64, 65, 130])
  func formsAgree(_ time: Int) {
    let params = Self.model(seed: UInt64(time))
    var rng = RandomGenerator(seed: UInt64(100 + time))
    let u = rng.normal([2, time, 3])
    let start = rng.normal([2, 3, 4, 2])
    let cotangent = rng.normal([2, time, 3]), stateCotangent = rng.normal([2, 3, 4, 2])
    for initial in [nil, start] as [Tensor?] {
      func run(_ form: Form) -> [Tensor] {
        let inputs = [u] + params + (initial.map { [$0] } ?? [])
        func call(_ x: [Tensor]) -> (output: Tensor, finalState: Tensor) {
          Self.ssm(Array(x[1...6]))(x[0], initialState: initial == nil ? nil : x[7], form: form)
        }
        let (y, g) = valueAndPullback(at: inputs, cotangent: cotangent) { call($0).output }
        let (state, gs) = valueAndPullback(at: inputs, cotangent: stateCotangent) { call($0).finalState }
        return [y, state] + g + gs
      }
      let scan = run(.reference)
      for form in [.parallel, .chunked(size: 16), .chunked(size: 64)]
        as [Form]
      {
        expectAgree(run(form), scan, tolerance: 2e-5, "\(form) T \(time) start \(initial != nil)")
      }
    }
  }

  @Test("the kernel is the impulse response; two calls with the state carried equal one call")
  func kernelAndCarriedState() {
    let ssm = Self.ssm(Self.model(skip: false))
    var impulse = [Float](repeating: 0, count: 20 * 3)
    for c in 0..<3 { impulse[c] = 1 }
    let response = ssm(Tensor(impulse, shape: [1, 20, 3]), form: .reference).output.reshaped(20, 3).transposed()
    #expect(ssm.kernel(length: 20).relativeError(to: response) <= 1e-5)

    let full = Self.ssm(Self.model())
    var rng = RandomGenerator(seed: 9)
    let u = rng.normal([2, 50, 3])
    let whole = full(u)
    let a = full(u.slice(axis: 1, 0..<23))
    let b = full(u.slice(axis: 1, 23..<50), initialState: a.finalState)
    #expect(concatenate([a.output, b.output], axis: 1).relativeError(to: whole.output) <= 1e-5)
    #expect(b.finalState.relativeError(to: whole.finalState) <= 1e-5)
  }

  @Test("gradients of the scan match finite differences")
  func finiteDifferences() {
    var rng = RandomGenerator(seed: 4)
    let inputs = [rng.normal([1, 6, 2])] + Self.model(channels: 2, modes: 3, seed: 4)
    let result = GradientCheck.check(inputs) { x in
      Self.ssm(Array(x[1...])).callAsFunction(x[0], form: .reference).output
    }
    #expect(result.worst <= 1e-3, "\(result)")
  }
}
