/// What a layer costs for one shape: counted, not measured.
public struct LayerCost: Codable, Sendable, Equatable {
  /// Floating-point operations of the forward pass (a multiply–add counts 2).
  public var flops: Int
  /// Bytes of activations the forward pass keeps for the backward pass (float32).
  public var activationBytes: Int
  /// Bytes of state carried between decoding steps, for the whole batch (float32).
  public var stateBytes: Int

  public init(flops: Int, activationBytes: Int, stateBytes: Int) {
    self.flops = flops
    self.activationBytes = activationBytes
    self.stateBytes = stateBytes
  }

  public static let zero = LayerCost(flops: 0, activationBytes: 0, stateBytes: 0)

  public static func + (a: LayerCost, b: LayerCost) -> LayerCost {
    LayerCost(
      flops: a.flops + b.flops, activationBytes: a.activationBytes + b.activationBytes,
      stateBytes: a.stateBytes + b.stateBytes)
  }
}

/// The setting a cost is counted in: the direction, and (for layers whose cost depends on the
/// data) the decisions taken.
public struct CostContext: Sendable {
  public var direction: Direction
  public init(direction: Direction = .causal) { self.direction = direction }
}
