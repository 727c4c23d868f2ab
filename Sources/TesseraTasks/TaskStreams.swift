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

  /// A batch of labelled examples: inputs and targets as ``batch(_:size:length:evaluation:_:)``,
  /// each head's labels stacked (`[B]` where an example has one label, `[B, T]` where it has one
  /// per position), and each example's kind.
  func labelledBatch(
    _ index: Int, size: Int, length: Int, evaluation: Bool, _ make: (inout RandomGenerator) -> LabelledExample
  ) -> TokenBatch {
    var examples: [LabelledExample] = []
    let plain = batch(index, size: size, length: length, evaluation: evaluation) { rng in
      let example = make(&rng)
      examples.append(example)
      return (example.inputs, example.targets)
    }
    var labels: [String: IndexTensor] = [:]
    for head in examples.first?.labels.keys.sorted() ?? [] {
      let count = examples[0].labels[head]!.count
      check(count == 1 || count == length, "\(name): head \"\(head)\" has \(count) labels, expected 1 or \(length)")
      var values: [Int] = []
      for example in examples {
        let own = example.labels[head] ?? []
        check(
          own.count == count, "\(name): head \"\(head)\" has \(own.count) labels in one example, \(count) in another")
        values += own
      }
      labels[head] = IndexTensor(values, shape: count == 1 ? [size] : [size, length])
    }
    return TokenBatch(
      inputs: plain.inputs, targets: plain.targets, labels: labels, simple: examples.map(\.simple))
  }
}

/// One example of a task with classification labels: next-token inputs and targets (the same
/// question asked of a plain language model), each head's labels (one per sequence or one per
/// position), and whether it is simple by construction.
public struct LabelledExample: Sendable, Equatable {
  public var inputs: [Int]
  public var targets: [Int]
  public var labels: [String: [Int]]
  public var simple: Bool

  public init(inputs: [Int], targets: [Int], labels: [String: [Int]] = [:], simple: Bool) {
    (self.inputs, self.targets, self.labels, self.simple) = (inputs, targets, labels, simple)
  }
}

/// A task whose examples carry classification labels and their kind (``LabelledExample``); its
/// batches carry them too (``TokenBatch/labels``, ``TokenBatch/simple``).
public protocol LabelledExampleTask: SequenceTask {
  var seed: UInt64 { get }
  var streamName: String { get }
  func labelledExample(_ rng: inout RandomGenerator, evaluation: Bool) -> LabelledExample
}

extension LabelledExampleTask {
  public func batch(_ index: Int, size: Int) -> TokenBatch {
    ExampleStream(seed: seed, name: streamName).labelledBatch(
      index, size: size, length: sequenceLength, evaluation: false
    ) { labelledExample(&$0, evaluation: false) }
  }

  public func evaluationBatch(_ index: Int, size: Int) -> TokenBatch {
    ExampleStream(seed: seed, name: streamName).labelledBatch(
      index, size: size, length: sequenceLength, evaluation: true
    ) { labelledExample(&$0, evaluation: true) }
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
