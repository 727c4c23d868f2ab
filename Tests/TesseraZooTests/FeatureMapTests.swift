import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

@Suite("Linear attention feature maps and normalisation")
struct FeatureMapTests {
  @Test("Taylor features reproduce 1 + q·k + (q·k)²/2; elu+1 is positive and matches its formula")
  func featureMaps() {
    let q = RandomTensors.make([1, 3, 2, 5], seed: 1), k = RandomTensors.make([1, 3, 2, 5], seed: 2)
    let dot = (q * k).sum(axis: 3)
    let taylor = (FeatureMap.taylor(q) * FeatureMap.taylor(k)).sum(axis: 3)
    #expect(taylor.relativeError(to: 1 + dot + dot * dot * 0.5) <= 1e-6)
    #expect(FeatureMap.taylor(q).shape == [1, 3, 2, FeatureMap.taylor.dimension(5)])
    let elu = FeatureMap.eluPlusOne(q)
    let expected = Tensor(q.scalars.map { $0 > 0 ? $0 + 1 : Foundation.exp($0) }, shape: q.shape)
    #expect(elu.relativeError(to: expected) <= 1e-6)
    #expect(elu.scalars.allSatisfy { $0 > 0 })
    let check = GradientCheck.check([q]) {
      FeatureMap.eluPlusOne($0[0]) + FeatureMap.taylor($0[0]).sum(axis: 3, keepDimensions: true)
    }
    #expect(check.worst <= 1e-3, "\(check)")
  }

  /// The quadratic form: causal scores φ(q)·φ(k), divided by their row sums when normalised.
  static func naive(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ map: FeatureMap, normalized: Bool) -> Tensor {
    let t = q.shape[1]
    let fq = map(q).permuted(0, 2, 1, 3), fk = map(k).permuted(0, 2, 1, 3), vh = v.permuted(0, 2, 1, 3)
    var scores = matmul(fq, fk.transposed()) * Tensor.ones([t, t]).lowerTriangle()
    if normalized {
      scores = scores / (scores.sum(axis: 3, keepDimensions: true) + 1e-6)
    } else {
      scores = scores * (1 / Float(fq.shape[3]).squareRoot())
    }
    return matmul(scores, vh).permuted(0, 2, 1, 3)
  }

  @Test(
    "every feature map, normalised or not, equals its quadratic form in every form, with gradients",
    arguments: [1, 7, 63, 64, 65, 130])
  func matchesQuadraticForm(_ time: Int) {
    let seed = UInt64(time)
    let inputs = [
      RandomTensors.make([2, time, 2, 4], seed: seed) * 0.5, RandomTensors.make([2, time, 2, 4], seed: seed + 1) * 0.5,
      RandomTensors.make([2, time, 2, 3], seed: seed + 2),
    ]
    let cotangent = RandomTensors.make([2, time, 2, 3], seed: seed + 3)
    for map in FeatureMap.allCases {
      for normalized in [false, true] where map != .identity || !normalized {
        let (o, g) = valueAndPullback(at: inputs, cotangent: cotangent) { x in
          Self.naive(x[0], x[1], x[2], map, normalized: normalized)
        }
        for form in linearForms {
          let (of, gf) = valueAndPullback(at: inputs, cotangent: cotangent) { x in
            featureMapLinearAttention(x[0], x[1], x[2], featureMap: map, normalized: normalized, form: form)
          }
          // Normalised with one token the output is v and dQ, dK vanish (up to ε): rounding-level
          // values there are compared in absolute terms.
          expectAgree(
            [of] + gf, [o] + g, tolerance: 2e-5, absolute: 1e-6, "\(map) normalised \(normalized) T \(time) \(form)")
        }
      }
    }
  }
}
