/// A value made of tensors that a gradient can be taken with respect to: a tensor, an array or
/// dictionary of them, or (in TesseraNN) a module's parameter tree. The gradient has the same
/// structure as the value.
public protocol TensorTree {
  /// The same structure with every tensor replaced by `transform(tensor)`.
  func mapTensors(_ transform: (Tensor) throws -> Tensor) rethrows -> Self
}

extension Tensor: TensorTree {
  public func mapTensors(_ transform: (Tensor) throws -> Tensor) rethrows -> Tensor { try transform(self) }
}

extension Array: TensorTree where Element: TensorTree {
  public func mapTensors(_ transform: (Tensor) throws -> Tensor) rethrows -> [Element] {
    try map { try $0.mapTensors(transform) }
  }
}

extension Dictionary: TensorTree where Value: TensorTree {
  public func mapTensors(_ transform: (Tensor) throws -> Tensor) rethrows -> [Key: Value] {
    try mapValues { try $0.mapTensors(transform) }
  }
}

extension Optional: TensorTree where Wrapped: TensorTree {
  public func mapTensors(_ transform: (Tensor) throws -> Tensor) rethrows -> Wrapped? {
    try map { try $0.mapTensors(transform) }
  }
}

/// Evaluates `f(x)` and its gradient with respect to every tensor in `x` (reverse mode).
///
/// The function must return a scalar (a tensor of one element). Only operations that happen
/// inside `f` are recorded, and the record is gone when the call returns: nothing leaks into the
/// next call.
///
/// ```swift
/// let (loss, grads) = valueAndGradient(at: ["w": w, "b": b]) { p in
///   ((x.matmul(p["w"]!) + p["b"]!) - y).square().mean()
/// }
/// ```
public func valueAndGradient<T: TensorTree>(at x: T, _ f: (T) throws -> Tensor) rethrows -> (value: Tensor, gradient: T)
{
  let traced = x.mapTensors { t -> Tensor in
    var leaf = t
    leaf.node = GradientNode(op: "input", shape: t.shape, inputs: [], pullback: nil)
    return leaf
  }
  let value = try GradientRecording.unpaused { try f(traced) }
  check(
    value.count == 1,
    "valueAndGradient: the function returned a tensor of shape \(value.shape.shapeDescription); "
      + "a gradient needs a scalar (one element). Reduce it first, e.g. with .sum() or .mean().")
  let grads = Backpropagation.run(from: value, cotangent: Tensor(repeating: 1, shape: value.shape))
  let gradient = traced.mapTensors { t in
    grads[ObjectIdentifier(t.node!)] ?? Tensor.zeros(t.shape)
  }
  var plain = value
  plain.node = nil
  return (plain, gradient)
}

/// The gradient of the scalar `f(x)` with respect to every tensor in `x`.
public func gradient<T: TensorTree>(at x: T, _ f: (T) throws -> Tensor) rethrows -> T {
  try valueAndGradient(at: x, f).gradient
}

/// Evaluates `f(x)` and the vector–Jacobian product `cotangent · ∂f/∂x` for a function with any
/// output shape; `cotangent` must have the output's shape.
public func valueAndPullback<T: TensorTree>(
  at x: T, cotangent: Tensor, _ f: (T) throws -> Tensor
) rethrows -> (value: Tensor, gradient: T) {
  let traced = x.mapTensors { t -> Tensor in
    var leaf = t
    leaf.node = GradientNode(op: "input", shape: t.shape, inputs: [], pullback: nil)
    return leaf
  }
  let value = try GradientRecording.unpaused { try f(traced) }
  check(
    value.shape == cotangent.shape,
    "valueAndPullback: cotangent shape \(cotangent.shape.shapeDescription) differs from the value's \(value.shape.shapeDescription)"
  )
  let grads = Backpropagation.run(from: value, cotangent: cotangent)
  let gradient = traced.mapTensors { t in grads[ObjectIdentifier(t.node!)] ?? Tensor.zeros(t.shape) }
  var plain = value
  plain.node = nil
  return (plain, gradient)
}

/// Whether operations on this thread record for gradients now (false inside
/// ``withoutGradients(_:)``).
public var isRecordingGradients: Bool { GradientRecording.isEnabled }

/// Runs `body` without recording anything for gradients (for evaluation, metrics, or updates
/// inside a traced function). Tensors produced inside are constants.
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
  try GradientRecording.paused(body)
}

extension Tensor {
  /// This value as a constant: gradients do not flow through it.
  public func detached() -> Tensor {
    var t = self
    t.node = nil
    return t
  }
}

extension GradientRecording {
  /// Runs `body` with recording on, even when called from inside a paused region.
  static func unpaused<R>(_ body: () throws -> R) rethrows -> R {
    let saved = pausedDepth
    pausedDepth = 0
    defer { pausedDepth = saved }
    return try body()
  }
}

/// Reverse sweep over a recorded graph.
enum Backpropagation {
  /// Returns the cotangent of every leaf reached from `root`, keyed by leaf node.
  static func run(from root: Tensor, cotangent: Tensor) -> [ObjectIdentifier: Tensor] {
    guard let rootNode = root.node else { return [:] }
    // Iterative post-order DFS: children before parents ⇒ reversed, a topological order.
    var order: [GradientNode] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(GradientNode, Int)] = [(rootNode, 0)]
    visited.insert(ObjectIdentifier(rootNode))
    while let (node, start) = stack.popLast() {
      var next = start
      var descended = false
      while next < node.inputs.count {
        let child = node.inputs[next]
        next += 1
        if let child, visited.insert(ObjectIdentifier(child)).inserted {
          stack.append((node, next))
          stack.append((child, 0))
          descended = true
          break
        }
      }
      if !descended { order.append(node) }
    }
    var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(rootNode): cotangent]
    // Accumulators owned by this pass, filled region by region by slices of their node's value.
    var regions: [ObjectIdentifier: Tensor] = [:]
    var leaves: [ObjectIdentifier: Tensor] = [:]
    GradientRecording.paused {
      for node in order.reversed() {
        let id = ObjectIdentifier(node)
        var incoming = pending.removeValue(forKey: id)
        if let accumulated = regions.removeValue(forKey: id) {
          incoming = incoming.map { $0 + accumulated } ?? accumulated
        }
        guard let g = incoming else { continue }
        if let region = node.region, let input = node.inputs[0] {
          let key = ObjectIdentifier(input)
          let accumulator = regions[key] ?? Tensor.zeros(input.shape)
          var window = accumulator
          window.offset = region.start * accumulator.strides[region.axis]
          window.shape[region.axis] = g.shape[region.axis]
          window.strides[region.axis] *= region.step
          StridedCopy.add(g, into: window)
          regions[key] = accumulator
          continue
        }
        guard let pullback = node.pullback else {
          leaves[id] = g
          continue
        }
        let grads = pullback(g)
        for (input, grad) in zip(node.inputs, grads) {
          guard let input, let grad else { continue }
          check(
            grad.shape == input.shape,
            "gradient of \(node.op): cotangent shape \(grad.shape.shapeDescription) for an input of shape \(input.shape.shapeDescription)"
          )
          let key = ObjectIdentifier(input)
          if let existing = pending[key] {
            pending[key] = existing + grad
          } else {
            pending[key] = grad
          }
        }
      }
    }
    return leaves
  }
}
