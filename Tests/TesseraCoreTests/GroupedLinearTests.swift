import Testing
import TesseraCore
import _TestSupport

@Suite("Grouped linear maps")
struct GroupedLinearTests {
  /// Each group's rows through its own weight, as separate `linear` calls: outputs and every
  /// gradient (1e-6 relative RMS), with an empty group first, in the middle and last, many groups
  /// (spread over the threads whole) and few (each product split), on 1 and 2 threads bit for bit.
  @Test("groupedLinear equals linear per group: outputs and gradients, empty groups, any thread count")
  func matchesPerGroup() throws {
    for sizes in [[0, 5, 0, 7, 0], [3], [40, 1, 2, 0, 9, 13, 6, 3, 17, 4], [130, 70]] {
      var rng = RandomGenerator(seed: UInt64(sizes.count))
      let rows = sizes.reduce(0, +)
      let offsets = sizes.reduce(into: [0]) { $0.append($0.last! + $1) }
      let x = rng.normal([rows, 24]), g = rng.normal([rows, 40])
      let weights = sizes.map { _ in rng.normal([40, 24]) }
      let (grouped, groupedGradients) = valueAndGradient(at: [x] + weights) { t in
        (groupedLinear(t[0], weights: Array(t.dropFirst()), offsets: offsets) * g).sum()
      }
      let (reference, referenceGradients) = valueAndGradient(at: [x] + weights) { t in
        let parts = sizes.indices.filter { sizes[$0] > 0 }.map { i in
          linear(t[0].slice(axis: 0, offsets[i]..<offsets[i + 1]), weight: t[i + 1])
        }
        return (concatenate(parts, axis: 0) * g).sum()
      }
      #expect(grouped.relativeError(to: reference) < 1e-6, "\(sizes): output")
      for (i, (a, b)) in zip(groupedGradients, referenceGradients).enumerated() {
        #expect(
          a.relativeError(to: b) < 1e-6 || (a.square().sum().scalar == 0 && b.square().sum().scalar == 0),
          "\(sizes): ∂input \(i)")
      }
      let one = Runtime.withThreadCount(1) {
        gradient(at: [x] + weights) { t in
          (groupedLinear(t[0], weights: Array(t.dropFirst()), offsets: offsets) * g).sum()
        }
      }
      let two = Runtime.withThreadCount(2) {
        gradient(at: [x] + weights) { t in
          (groupedLinear(t[0], weights: Array(t.dropFirst()), offsets: offsets) * g).sum()
        }
      }
      for (a, b) in zip(one, two) { #expect(a.scalars == b.scalars, "\(sizes): threads") }
    }
  }

  @Test("groupedLinear's backward against finite differences")
  func finiteDifferences() {
    var rng = RandomGenerator(seed: 3)
    let offsets = [0, 2, 2, 5]
    let inputs = [rng.normal([5, 3])] + (0..<3).map { _ in rng.normal([4, 3]) }
    let result = GradientCheck.check(inputs) { t in groupedLinear(t[0], weights: Array(t.dropFirst()), offsets: offsets)
    }
    #expect(result.worst < 2e-3, "\(result)")
  }
}
