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

  /// 75 groups with rows (5 without) of `[512, 256]` weights: their gradients (37.5 MiB in all)
  /// are written with non-temporal stores, and must keep the bits of each group's own product.
  @Test("weight gradients large enough to be written around the caches keep each group's bits")
  func streamedWeightGradients() {
    var rng = RandomGenerator(seed: 7)
    let sizes = (0..<80).map { $0 % 16 == 5 ? 0 : 1 + $0 % 3 }
    let rows = sizes.reduce(0, +)
    let offsets = sizes.reduce(into: [0]) { $0.append($0.last! + $1) }
    let x = rng.normal([rows, 256]), g = rng.normal([rows, 512])
    let weights = sizes.map { _ in rng.normal([512, 256], standardDeviation: 0.05) }
    let grouped = gradient(at: weights) { w in (groupedLinear(x, weights: w, offsets: offsets) * g).sum() }
    for i in sizes.indices {
      let rowsOfGroup = offsets[i]..<offsets[i + 1]
      let own = gradient(at: [weights[i]]) { w in
        (linear(x.slice(axis: 0, rowsOfGroup), weight: w[0]) * g.slice(axis: 0, rowsOfGroup)).sum()
      }[0]
      let differing = zip(grouped[i].scalars, own.scalars).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(differing == 0, "group \(i) (\(sizes[i]) rows): \(differing) elements differ")
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

@Suite("Weighted scatter-add")
struct WeightedScatterTests {
  /// Against the composite it replaces (a product by the weights, then indexAdding): output and
  /// both gradients, with repeated destinations, untouched rows and no slots; and on 1 and 2
  /// threads bit for bit.
  @Test("weightedScatterAdd equals weights × rows added by index: output, gradients, threads")
  func matchesComposite() {
    for indices in [[3, 0, 3, 5, 0, 0, 2], [1], [Int]()] {
      var rng = RandomGenerator(seed: UInt64(indices.count))
      let rows = rng.normal([indices.count, 70]), weights = rng.normal([indices.count]), g = rng.normal([6, 70])
      let (fused, fusedGradients) = valueAndGradient(at: [rows, weights]) { t in
        (weightedScatterAdd(t[0], weights: t[1], indices: indices, count: 6) * g).sum()
      }
      let (composite, compositeGradients) = valueAndGradient(at: [rows, weights]) { t in
        let weighted = t[0] * t[1].reshaped([indices.count, 1])
        return (Tensor.zeros([6, 70]).indexAdding(axis: 0, indices: IndexTensor(indices), source: weighted) * g).sum()
      }
      #expect(abs(fused.scalar - composite.scalar) <= 1e-5 * max(1, abs(composite.scalar)), "\(indices)")
      for (a, b) in zip(fusedGradients, compositeGradients) {
        #expect(a.shape == b.shape && (a.count == 0 || a.relativeError(to: b) < 1e-6), "\(indices)")
      }
      let one = Runtime.withThreadCount(1) {
        gradient(at: [rows, weights]) { t in
          (weightedScatterAdd(t[0], weights: t[1], indices: indices, count: 6) * g).sum()
        }
      }
      let two = Runtime.withThreadCount(2) {
        gradient(at: [rows, weights]) { t in
          (weightedScatterAdd(t[0], weights: t[1], indices: indices, count: 6) * g).sum()
        }
      }
      for (a, b) in zip(one, two) { #expect(a.scalars == b.scalars, "\(indices): threads") }
    }
  }

  @Test("weightedScatterAdd's backward against finite differences")
  func finiteDifferences() {
    var rng = RandomGenerator(seed: 5)
    let result = GradientCheck.check([rng.normal([5, 3]), rng.normal([5])]) { t in
      weightedScatterAdd(t[0], weights: t[1], indices: [2, 0, 2, 1, 0], count: 4)
    }
    #expect(result.worst < 2e-3, "\(result)")
  }
}
