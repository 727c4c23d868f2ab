import TesseraCore

/// The transformer's position-wise feed-forward block: `down(gelu(up(x)))` with GPT-2's tanh form of GELU,
/// `[..., D] → [..., D]` through a hidden width (usually 4D).
public final class MLP: Module {
  public let up: Linear
  public let down: Linear

  public init(_ dimension: Int, hidden: Int, generator: inout RandomGenerator) {
    up = Linear(dimension, hidden, generator: &generator)
    down = Linear(hidden, dimension, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { down(up(x).gelu(approximate: true)) }

  public func flops(rows: Int) -> Int { up.flops(rows: rows) + down.flops(rows: rows) }
}

/// The gated feed-forward block of LLaMA (Shazeer, "GLU Variants Improve Transformer", 2020):
/// `down(silu(gate(x)) ⊙ up(x))`, `[..., D] → [..., D]`, no biases.
public final class SwiGLU: Module {
  public let gate: Linear
  public let up: Linear
  public let down: Linear

  public init(_ dimension: Int, hidden: Int, generator: inout RandomGenerator) {
    gate = Linear(dimension, hidden, bias: false, generator: &generator)
    up = Linear(dimension, hidden, bias: false, generator: &generator)
    down = Linear(hidden, dimension, bias: false, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { down(gate(x).silu() * up(x)) }

  public func flops(rows: Int) -> Int { gate.flops(rows: rows) + up.flops(rows: rows) + down.flops(rows: rows) }
}
