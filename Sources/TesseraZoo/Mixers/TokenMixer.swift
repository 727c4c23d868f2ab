import TesseraCore
import TesseraNN

/// What a sequence mixer costs for one shape: counted, not measured.
public struct MixerCost: Codable, Sendable, Equatable {
  /// Floating-point operations of the forward pass (a multiply–add counts 2).
  public var flops: Int
  /// Bytes of activations the forward pass keeps for the backward pass (float32).
  public var activationBytes: Int
  /// Bytes of recurrent state carried between decoding steps, per sequence batch (float32).
  public var stateBytes: Int

  public init(flops: Int, activationBytes: Int, stateBytes: Int) {
    self.flops = flops
    self.activationBytes = activationBytes
    self.stateBytes = stateBytes
  }
}

/// A layer that mixes information across time: `[batch, time, model] → [batch, time, model]`.
/// Every architecture family's mixer conforms (attention, linear attention, SSMs, …), so a
/// model is a pattern of mixers.
public protocol TokenMixer: Module {
  /// The training / prefill form.
  func callAsFunction(_ x: Tensor) -> Tensor
  /// FLOPs and memory of the forward pass for `batch × time` tokens.
  func cost(batch: Int, time: Int) -> MixerCost
}

/// A mixer that can also run one token at a time, carrying a state (a KV cache, a recurrent
/// state): `step` on `[batch, model]` reproduces the parallel form's outputs token by token.
public protocol RecurrentMixer: TokenMixer {
  associatedtype State
  func initialState(batch: Int) -> State
  /// One decoding step: `[batch, model] → [batch, model]`.
  func step(_ x: Tensor, _ state: inout State) -> Tensor
}
