import TesseraCore
import TesseraNN

/// NSA's learned compression (Yuan et al., 2025, §3.3.1): each block of `block` keys (or values)
/// gets a learned intra-block position embedding, is flattened, and is mapped to one vector by a
/// linear layer, `φ([k_1 + p_1, …, k_block + p_block]) ∈ ℝ^D`. A last, partial block is padded with
/// zeros. `[B, S, H, D] → [B, ⌈S/block⌉, H, D]`; non-overlapping blocks (stride = block).
public final class BlockCompressor: Module {
  public let block: Int
  @Parameter public var positions: Tensor
  public let projection: Linear

  public init(block: Int, dimension: Int, generator: inout RandomGenerator) {
    self.block = block
    positions = generator.normal([block, dimension], standardDeviation: 0.02)
    projection = Linear(block * dimension, dimension, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    let (b, s, h, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let blocks = (s + block - 1) / block
    let padded = blocks * block == s ? x : x.padded(axis: 1, before: 0, after: blocks * block - s)
    let placed = padded.reshaped(b, blocks, block, h, d) + positions.reshaped(1, 1, block, 1, d)
    return projection(placed.permuted(0, 1, 3, 2, 4).reshaped(b, blocks, h, block * d))
  }
}
