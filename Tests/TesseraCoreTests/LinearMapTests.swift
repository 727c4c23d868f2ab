import Testing
import TesseraCore
import _TestSupport

@Suite("The linear map op")
struct LinearMapTests {
  @Test("linear(x, W, b) equals matmul(x, Wᵀ) + b, forward and backward (split GEMMs included)")
  func matchesMatmulPlusBias() {
    // [3, 700, 96] rows · a [130, 96] weight: 2,100 rows, so the GEMM is cut into pieces.
    let x = RandomTensors.make([3, 700, 96], seed: 1)
    let w = RandomTensors.make([130, 96], seed: 2), b = RandomTensors.make([130], seed: 3)
    let cotangent = RandomTensors.make([3, 700, 130], seed: 4)
    let (fused, fusedGrads) = valueAndGradient(at: [x, w, b]) { ($0[0].linear($0[1], $0[2]) * cotangent).sum() }
    let (composed, composedGrads) = valueAndGradient(at: [x, w, b]) {
      ((matmul($0[0], $0[1].transposed()) + $0[2]) * cotangent).sum()
    }
    #expect(abs(fused.scalar - composed.scalar) <= 1e-4 * abs(composed.scalar))
    let y1 = linear(x, weight: w, bias: b), y2 = matmul(x, w.transposed()) + b
    #expect(relativeRMS(y1, y2) < 1e-6)
    for (g1, g2) in zip(fusedGrads, composedGrads) {
      #expect(g1.shape == g2.shape)
      #expect(relativeRMS(g1, g2) < 1e-6)
    }
    // W's gradient is dense in W's layout.
    #expect(fusedGrads[1].isContiguous)
  }

  @Test("bad shapes name the op and both shapes")
  func shapeErrors() async {
    await #expect(processExitsWith: .failure) {
      _ = linear(Tensor.zeros([2, 3]), weight: Tensor.zeros([4, 5]))
    }
  }

  func relativeRMS(_ a: Tensor, _ b: Tensor) -> Float {
    let d = (a - b).square().mean().scalar.squareRoot()
    return d / max(b.square().mean().scalar.squareRoot(), 1e-30)
  }
}

extension Tensor {
  fileprivate func linear(_ weight: Tensor, _ bias: Tensor) -> Tensor {
    TesseraCore.linear(self, weight: weight, bias: bias)
  }
}
