import TesseraCore

/// Builds batches example by example from a seeded stream: example `n` of batch `i` depends only
/// on (seed, stream, i, n), so batches are reproducible and independent of what was drawn before.
struct ExampleStream {
  let seed: UInt64
  let name: String

  func batch(
    _ index: Int, size: Int, length: Int, evaluation: Bool,
    _ make: (inout RandomGenerator) -> (inputs: [Int], targets: [Int])
  ) -> TokenBatch {
    let stream = RandomGenerator(seed: seed).fork(name + (evaluation ? "-eval" : "-train")).fork(index)
    var inputs: [Int] = [], targets: [Int] = []
    inputs.reserveCapacity(size * length)
    targets.reserveCapacity(size * length)
    for n in 0..<size {
      var rng = stream.fork(n)
      let (x, y) = make(&rng)
      check(x.count == length && y.count == length, "\(name): an example has \(x.count) tokens, expected \(length)")
      inputs += x
      targets += y
    }
    return TokenBatch(
      inputs: IndexTensor(inputs, shape: [size, length]), targets: IndexTensor(targets, shape: [size, length]))
  }
}

/// A task built example by example from its seeded stream: it names the stream and makes one
/// example (inputs and targets of `sequenceLength` tokens); its training and held-out batches
/// follow (``ExampleStream``: example `n` of batch `i` depends only on the seed, the stream, `i`
/// and `n`).
public protocol ExampleTask: SequenceTask {
  var seed: UInt64 { get }
  /// The stream's name (training batches draw from `name-train`, held-out ones from `name-eval`).
  var streamName: String { get }
  func example(_ rng: inout RandomGenerator) -> (inputs: [Int], targets: [Int])
}

extension ExampleTask {
  public func batch(_ index: Int, size: Int) -> TokenBatch {
    ExampleStream(seed: seed, name: streamName).batch(index, size: size, length: sequenceLength, evaluation: false) {
      example(&$0)
    }
  }

  public func evaluationBatch(_ index: Int, size: Int) -> TokenBatch {
    ExampleStream(seed: seed, name: streamName).batch(index, size: size, length: sequenceLength, evaluation: true) {
      example(&$0)
    }
  }
}
