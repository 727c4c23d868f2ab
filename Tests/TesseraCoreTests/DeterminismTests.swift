import Foundation
import Testing
import TesseraCore

/// Trains a small classifier MLP (Linear → layerNorm → GELU → linear → GELU (tanh) → dropout →
/// Linear → cross-entropy, SGD with momentum) for 20 steps and returns a digest of every parameter's bits and the losses.
/// Sizes are chosen so that the elementwise, row and RNG kernels take their multi-threaded paths.
func trainedDigest(seed: UInt64) -> String {
  let rng = RandomGenerator(seed: seed)
  var init1 = rng.fork("fc1"), init2 = rng.fork("fc2"), init3 = rng.fork("fc3")
  let (batch, input, hidden, classes) = (256, 64, 256, 10)
  var params: [String: Tensor] = [
    "fc1.weight": init1.normal([input, hidden], standardDeviation: 0.1),
    "fc1.bias": Tensor.zeros([hidden]),
    "norm.weight": Tensor.ones([hidden]),
    "norm.bias": Tensor.zeros([hidden]),
    "fc3.weight": init3.normal([hidden, hidden], standardDeviation: 0.05),
    "fc3.bias": Tensor.zeros([hidden]),
    "fc2.weight": init2.normal([hidden, classes], standardDeviation: 0.1),
    "fc2.bias": Tensor.zeros([classes]),
  ]
  var momentum = params.mapValues { Tensor.zeros(like: $0) }
  var data = rng.fork("data")
  var dropout = rng.fork("dropout")
  var losses: [Float] = []
  for _ in 0..<20 {
    let x = data.normal([batch, input])
    let y = data.integers([batch], in: 0..<classes)
    let (loss, grads) = valueAndGradient(at: params) { p in
      var h = matmul(x, p["fc1.weight"]!) + p["fc1.bias"]!
      h = layerNorm(h, weight: p["norm.weight"]!, bias: p["norm.bias"]!).gelu()
      h = linear(h, weight: p["fc3.weight"]!, bias: p["fc3.bias"]!).gelu(approximate: true)
      h = h.dropout(probability: 0.1, generator: &dropout)
      return crossEntropy(matmul(h, p["fc2.weight"]!) + p["fc2.bias"]!, targets: y)
    }
    losses.append(loss.scalar)
    for name in params.keys.sorted() {
      momentum[name] = momentum[name]! * 0.9 + grads[name]!
      params[name] = params[name]! - momentum[name]! * 0.05
    }
  }
  var hash: UInt64 = 0xCBF2_9CE4_8422_2325
  for name in params.keys.sorted() {
    for v in params[name]!.scalars {
      hash = (hash ^ UInt64(v.bitPattern)) &* 0x100_0000_01B3
    }
  }
  return "digest \(String(hash, radix: 16)) first loss \(losses.first!) last loss \(losses.last!)"
}

@Suite("Determinism")
struct DeterminismTests {
  @Test("same seed twice ⇒ identical parameters; another seed differs; the loss falls")
  func sameSeed() {
    let a = trainedDigest(seed: 7), b = trainedDigest(seed: 7), c = trainedDigest(seed: 8)
    #expect(a == b)
    #expect(a != c)
    let parts = a.split(separator: " ")
    #expect(Float(parts[4])! < Float(parts[7])! + 1e9)  // parsable
    #expect(Float(parts[7])! < Float(parts[4])!, "loss did not fall: \(a)")
  }

  /// Each run happens in its own child process, so the thread count (ours and OpenBLAS's) is set
  /// before any work and no other test shares the process.
  @Test("1 thread and 2 threads give bit-identical parameters")
  func threadCountDoesNotMatter() async throws {
    let one = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
      Runtime.withThreadCount(1) { print(trainedDigest(seed: 7)) }
    }
    let two = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
      Runtime.withThreadCount(2) { print(trainedDigest(seed: 7)) }
    }
    let text1 = String(decoding: try #require(one).standardOutputContent, as: UTF8.self)
    let text2 = String(decoding: try #require(two).standardOutputContent, as: UTF8.self)
    #expect(text1.contains("digest"))
    #expect(text1 == text2)
    #expect(text1.contains(trainedDigest(seed: 7)))
  }
}
