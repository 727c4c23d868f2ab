import Foundation
import TesseraCore
import TesseraNN

/// How an attention layer computes softmax attention.
public enum AttentionImplementation: Codable, Sendable, Equatable {
  /// ``naiveAttention``: the specification, `T × T` scores per head.
  case naive
  /// ``tiledAttention`` with the given block sizes: `O(T)` memory.
  case tiled(queryBlock: Int, keyBlock: Int)

  public static let tiled = AttentionImplementation.tiled(queryBlock: 128, keyBlock: 128)
}

/// Multi-head softmax attention as a token mixer: `[B, T, D] → [B, T, D]`.
///
/// `q_proj`, `k_proj`, `v_proj` map the model width `D` to `queryHeads × headDimension` and
/// `keyValueHeads × headDimension`; `o_proj` maps back. `keyValueHeads` = `queryHeads` is MHA,
/// fewer is GQA (Ainslie et al., 2023), 1 is MQA (Shazeer, 2019). Optional rotary position
/// embedding on queries and keys (Su et al., 2021). Decoding one token at a time reads and
/// extends a key/value cache (``step(_:_:)``), reproducing the parallel form's outputs.
public final class MultiHeadAttention: RecurrentMixer {
  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let oProj: Linear
  public let queryHeads: Int
  public let keyValueHeads: Int
  public let headDimension: Int
  public let mask: AttentionMask
  public var implementation: AttentionImplementation
  public let rotary: RotaryEmbedding?

  public init(
    modelDimension: Int, queryHeads: Int, keyValueHeads: Int? = nil, mask: AttentionMask = .causal,
    implementation: AttentionImplementation = .tiled, rotary: Bool = true, generator: inout RandomGenerator
  ) {
    let kvHeads = keyValueHeads ?? queryHeads
    check(
      modelDimension % queryHeads == 0,
      "MultiHeadAttention: model dimension \(modelDimension) is not a multiple of \(queryHeads) heads")
    check(
      queryHeads % kvHeads == 0,
      "MultiHeadAttention: \(queryHeads) query heads are not a multiple of \(kvHeads) kv heads")
    let d = modelDimension / queryHeads
    self.queryHeads = queryHeads
    self.keyValueHeads = kvHeads
    self.headDimension = d
    self.mask = mask
    self.implementation = implementation
    self.rotary = rotary ? RotaryEmbedding(dimension: d) : nil
    qProj = Linear(modelDimension, queryHeads * d, bias: false, generator: &generator)
    kProj = Linear(modelDimension, kvHeads * d, bias: false, generator: &generator)
    vProj = Linear(modelDimension, kvHeads * d, bias: false, generator: &generator)
    oProj = Linear(queryHeads * d, modelDimension, bias: false, generator: &generator)
  }

  /// Projections into `[B, T, H, D]` heads, with rotary embedding from position `offset`.
  func heads(_ x: Tensor, offset: Int) -> (q: Tensor, k: Tensor, v: Tensor) {
    let (b, t) = (x.shape[0], x.shape[1])
    var q = qProj(x).reshaped(b, t, queryHeads, headDimension)
    var k = kProj(x).reshaped(b, t, keyValueHeads, headDimension)
    let v = vProj(x).reshaped(b, t, keyValueHeads, headDimension)
    if let rotary {
      q = rotary(q, offset: offset)
      k = rotary(k, offset: offset)
    }
    return (q, k, v)
  }

  func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Tensor {
    switch implementation {
    case .naive: return naiveAttention(q, k, v, mask: mask)
    case .tiled(let qb, let kb): return tiledAttention(q, k, v, mask: mask, queryBlock: qb, keyBlock: kb)
    }
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    let (q, k, v) = heads(x, offset: 0)
    return oProj(attend(q, k, v).reshaped(b, t, queryHeads * headDimension))
  }

  /// Keys and values of the tokens seen so far, `[B, S, H, D]` each.
  public struct KeyValueCache {
    public var keys: Tensor?
    public var values: Tensor?
    public var length: Int { keys?.shape[1] ?? 0 }
  }

  public func initialState(batch: Int) -> KeyValueCache { KeyValueCache() }

  /// Decodes one token `[B, D]`: appends its key and value to the cache and attends over it.
  public func step(_ x: Tensor, _ cache: inout KeyValueCache) -> Tensor {
    let b = x.shape[0]
    let (q, k, v) = heads(x.reshaped(b, 1, x.shape[1]), offset: cache.length)
    let keys = cache.keys.map { concatenate([$0, k], axis: 1) } ?? k
    let values = cache.values.map { concatenate([$0, v], axis: 1) } ?? v
    cache.keys = keys
    cache.values = values
    let out = naiveAttention(q, keys, values, mask: mask)  // one query row: nothing to tile
    return oProj(out.reshaped(b, queryHeads * headDimension))
  }

  public func cost(batch: Int, time: Int) -> MixerCost {
    let rows = batch * time
    let projections =
      qProj.flops(rows: rows) + kProj.flops(rows: rows) + vProj.flops(rows: rows) + oProj.flops(rows: rows)
    let visible = (0..<time).reduce(0) { $0 + mask.visibleKeys(query: $1, time: time) }
    // QKᵀ and PV: 2 multiply–adds per visible (query, key) pair and channel, per head.
    let attention = 4 * batch * queryHeads * headDimension * visible
    let saved: Int
    switch implementation {
    case .naive: saved = batch * queryHeads * time * time  // the probabilities
    case .tiled: saved = batch * queryHeads * time  // the row log-sum-exp
    }
    let activations = 4 * (saved + batch * time * (2 * queryHeads + 2 * keyValueHeads) * headDimension)
    return MixerCost(
      flops: projections + attention, activationBytes: activations,
      stateBytes: 4 * 2 * batch * time * keyValueHeads * headDimension)
  }
}
