import Foundation
import TesseraCore

// The auxiliary losses of routers. Each is a differentiable scalar; its weight lives in the
// layer's options and the layer adds it to the forward context.

/// The load-balancing loss of Switch Transformer (Fedus et al., 2022, eq. 4) and HF's Mixtral,
/// `E · Σ_e f_e · P_e`: `f_e` = tokens routed to `e` (before any dropping) ÷ tokens, `P_e` = the
/// mean router probability of `e`. With top-k routing the `f_e` sum to k, so a perfectly balanced
/// router scores k, not 1. `probabilities` `[N, E]`; `counts` per expert (constants: no gradient
/// flows through the discrete choice).
public func loadBalancingLoss(probabilities: Tensor, counts: [Int]) -> Tensor {
  let (tokens, experts) = (probabilities.shape[0], probabilities.shape[1])
  check(counts.count == experts, "loadBalancingLoss: \(counts.count) counts for \(experts) experts")
  let fraction = Tensor(counts.map { Float($0) / Float(Swift.max(1, tokens)) })
  return (probabilities.mean(axis: 0) * fraction).sum() * Float(experts)
}

/// DeepSeek-V3's sequence-wise balance loss (eqs. 17–20) with α = 1, averaged over sequences:
/// per sequence of `T` tokens, `Σ_e f_e · P_e` with `f_e = E / (k·T) · #{t : e among t's top-k}`
/// and `P_e` the mean over `t` of the scores normalised over all experts, `s_te / Σ_j s_tj`.
/// `scores` `[B, T, E]` (the affinities before any bias); `counts[b][e]`.
public func sequenceBalanceLoss(scores: Tensor, counts: [[Int]], topK: Int) -> Tensor {
  let (sequences, length, experts) = (scores.shape[0], scores.shape[1], scores.shape[2])
  check(counts.count == sequences, "sequenceBalanceLoss: \(counts.count) count rows for \(sequences) sequences")
  let normalised = scores / scores.sum(axis: 2, keepDimensions: true)
  let meanScore = normalised.mean(axis: 1)  // [B, E]
  let scale = Float(experts) / Float(topK * Swift.max(1, length))
  let fraction = Tensor(counts.flatMap { $0.map { Float($0) * scale } }, shape: [sequences, experts])
  return (meanScore * fraction).sum() / Float(Swift.max(1, sequences))
}

/// The router z-loss of ST-MoE (Zoph et al., 2022, eq. 5): `mean_n (log Σ_e exp(logits_ne))²`,
/// which keeps the router's logits small. `logits` `[N, E]`.
public func routerZLoss(logits: Tensor) -> Tensor {
  let lse = logits.logSumExp(axes: [1])
  return (lse * lse).mean()
}

/// Per-row statistics of a router's scores `[N, E]` (nonnegative: probabilities, or sigmoid
/// affinities), in one pass over the rows, untraced: the mean entropy (nats) of each row
/// normalised to sum 1, and each row's highest-scoring column (the first of equals). Rows run in
/// parallel; their entropies are summed in row order, so any thread count gives the same value.
public func routerRowStatistics(_ scores: Tensor) -> (meanEntropy: Double, top: [Int]) {
  let rows = scores.shape[0], experts = scores.shape[1]
  guard rows > 0, experts > 0 else { return (0, [Int](repeating: 0, count: rows)) }
  var entropies = [Double](repeating: 0, count: rows)
  var top = [Int](repeating: 0, count: rows)
  scores.contiguous().withScalars { p in
    entropies.withUnsafeMutableBufferPointer { entropies in
      top.withUnsafeMutableBufferPointer { top in
        Runtime.parallelFor(rows, grain: Swift.max(1, 2048 / experts)) { range in
          for n in range {
            let row = p.baseAddress! + n * experts
            var sum: Float = 0
            var best = 0
            for e in 0..<experts {
              sum += row[e]
              if row[e] > row[best] { best = e }
            }
            var entropy = 0.0
            for e in 0..<experts {
              let q = row[e] / sum
              if q > 0 { entropy -= Double(q) * Foundation.log(Double(q)) }
            }
            entropies[n] = entropy
            top[n] = best
          }
        }
      }
    }
  }
  return (entropies.reduce(0, +) / Double(rows), top)
}
