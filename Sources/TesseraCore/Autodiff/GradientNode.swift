#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One recorded step of a traced computation: the nodes of its inputs and the pullback that
/// maps the cotangent of its output to the cotangents of its inputs.
///
/// Nodes hang off the tensors they produced, so a graph lives exactly as long as the values that
/// can reach it; there is no global tape to reset between calls. A leaf (a traced input) has no
/// pullback.
final class GradientNode {
  /// The op that produced the value, for error messages.
  let op: String
  /// Shape of the value this node produced; cotangents must match it.
  let shape: [Int]
  private(set) var inputs: [GradientNode?]
  /// Given the output cotangent, returns one cotangent per input (nil where the input needs none).
  private(set) var pullback: ((Tensor) -> [Tensor?])?
  /// For a slice of its single input: where the slice sits. Backpropagation then adds the
  /// cotangent into that region of one accumulator per input, instead of materialising a
  /// full-size cotangent per slice — a loop over T slices costs O(T), not O(T²).
  let region: (axis: Int, start: Int, step: Int)?

  init(
    op: String, shape: [Int], inputs: [GradientNode?], pullback: ((Tensor) -> [Tensor?])?,
    region: (axis: Int, start: Int, step: Int)? = nil
  ) {
    self.op = op
    self.shape = shape
    self.inputs = inputs
    self.pullback = pullback
    self.region = region
  }

  /// Releasing a graph must not recurse once per node: a scan over 16k steps is a chain of ~10⁵
  /// nodes, and a recursive release overflows the stack. A node's inputs and pullback (whose
  /// captures may hold more nodes) go to a per-thread queue, which the outermost release drains
  /// in a loop; a release met while draining only adds to the queue.
  deinit {
    let queue = ReleaseQueue.current
    queue.items.append(inputs)
    inputs = []
    if let pullback {
      queue.items.append(pullback)
      self.pullback = nil
    }
    if queue.draining { return }
    queue.draining = true
    while let item = queue.items.popLast() { withExtendedLifetime(item) {} }
    queue.draining = false
  }
}

/// The per-thread queue of graph parts waiting to be released (see `GradientNode.deinit`).
final class ReleaseQueue {
  var items: [Any] = []
  var draining = false

  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { pointer in
      if let pointer { Unmanaged<ReleaseQueue>.fromOpaque(pointer).release() }
    }
    return key
  }()

  static var current: ReleaseQueue {
    if let pointer = pthread_getspecific(key) {
      return Unmanaged<ReleaseQueue>.fromOpaque(pointer).takeUnretainedValue()
    }
    let queue = ReleaseQueue()
    pthread_setspecific(key, Unmanaged.passRetained(queue).toOpaque())
    return queue
  }
}

/// Thread-local switch that turns recording off (``withoutGradients(_:)``, and during backward).
enum GradientRecording {
  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  static var pausedDepth: Int {
    get { Int(bitPattern: pthread_getspecific(key)) }
    set { pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
  }

  static var isEnabled: Bool { pausedDepth == 0 }

  static func paused<R>(_ body: () throws -> R) rethrows -> R {
    pausedDepth += 1
    defer { pausedDepth -= 1 }
    return try body()
  }
}

extension Tensor {
  /// Attaches a node to `output` when any of `inputs` is traced and recording is on.
  ///
  /// `pullback(g, needs)` receives the output cotangent and which inputs are traced, and returns
  /// one cotangent per input (shaped like that input), or nil where `needs` is false.
  @inline(__always)
  static func record(
    _ output: Tensor, op: String, inputs: [Tensor],
    pullback: @escaping (_ cotangent: Tensor, _ needs: [Bool]) -> [Tensor?]
  ) -> Tensor {
    guard GradientRecording.isEnabled, inputs.contains(where: { $0.node != nil }) else {
      return output
    }
    let needs = inputs.map { $0.node != nil }
    var out = output
    out.node = GradientNode(
      op: op, shape: output.shape, inputs: inputs.map(\.node),
      pullback: { g in pullback(g, needs) })
    return out
  }

  /// Unary form of ``record(_:op:inputs:pullback:)``.
  @inline(__always)
  static func record(_ output: Tensor, op: String, input: Tensor, pullback: @escaping (Tensor) -> Tensor) -> Tensor {
    guard GradientRecording.isEnabled, input.node != nil else { return output }
    var out = output
    out.node = GradientNode(op: op, shape: output.shape, inputs: [input.node], pullback: { g in [pullback(g)] })
    return out
  }
}
