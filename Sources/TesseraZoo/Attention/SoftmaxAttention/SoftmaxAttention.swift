import Foundation
import TesseraCore

/// Scaled dot-product attention (Vaswani et al., "Attention Is All You Need", 2017), the
/// specification every faster form is tested against:
///
///     O = softmax(Q Kᵀ / √D + M) V
///
/// with `M` = 0 where the ``AttentionMask`` allows a key and −∞ elsewhere.
///
/// Layout (as flash-attention's): `q` `[B, T, HQ, D]`, `k` and `v` `[B, S, H, D]` with `HQ` a
/// multiple of `H` — query head `i` reads key/value head `i / (HQ / H)`: multi-head attention when
/// `H = HQ`, grouped-query when `1 < H < HQ` (Ainslie et al., 2023), multi-query when `H = 1`
/// (Shazeer, 2019). Output `[B, T, HQ, D]`.
///
/// This form materialises the `T × S` score matrix for every head; ``tiledAttention`` does not.
func naiveAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask = .causal, scale: Float? = nil
) -> Tensor {
  checkAttentionShapes(q, k, v, function: "naiveAttention")
  let (t, s) = (q.shape[1], k.shape[1])
  return maskedAttention(q, k, v, allowed: Tensor(mask.dense(time: t, keyTime: s), shape: [t, s]), scale: scale)
}

/// Attention under an explicit dense 0/1 mask, the specification of every sparse pattern:
///
///     O = softmax(Q Kᵀ · scale + M) V,    M = 0 where `allowed` is 1, −∞ where 0
///
/// `allowed` is `[T, S]` (every batch and head) or `[B, HQ, T, S]`; a query that sees no key gets
/// a zero output and no gradient. Layout as ``naiveAttention``. Materialises the `T × S` scores.
public func maskedAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, allowed: Tensor, scale: Float? = nil) -> Tensor {
  checkAttentionShapes(q, k, v, function: "maskedAttention")
  let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (s, h) = (k.shape[1], k.shape[2])
  check(
    allowed.shape == [t, s] || allowed.shape == [b, hq, t, s],
    "maskedAttention: the mask \(allowed.shape) must be [T, S] = [\(t), \(s)] or [B, HQ, T, S]")
  let qh = q.permuted(0, 2, 1, 3).reshaped(b, h, hq / h, t, d)  // [B, H, G, T, D]
  let kh = k.permuted(0, 2, 1, 3).expandingDimensions(at: 2)  // [B, H, 1, S, D]
  let vh = v.permuted(0, 2, 1, 3).expandingDimensions(at: 2)
  let scores = matmul(qh, kh.transposed()) * (scale ?? 1 / Float(d).squareRoot())  // [B, H, G, T, S]
  let mask = allowed.rank == 2 ? allowed : allowed.reshaped(b, h, hq / h, t, s)
  // A finite fill: a row that sees some key gets exp(fill − max) = 0 exactly, as with −∞; a row
  // that sees none stays finite (uniform) and is zeroed below.
  let masked = `where`(mask, scores, -1e30)
  var out = matmul(masked.softmax(), vh)  // [B, H, G, T, D]
  let seesSome = withoutGradients { mask.max(axis: mask.rank - 1, keepDimensions: true) }
  if seesSome.scalars.contains(0) { out = out * seesSome }
  return out.reshaped(b, hq, t, d).permuted(0, 2, 1, 3)
}

func checkAttentionShapes(_ q: Tensor, _ k: Tensor, _ v: Tensor, function: String) {
  check(
    q.rank == 4 && k.rank == 4 && v.rank == 4,
    "\(function): q, k, v must be [B, T, H, D]; got \(q.shape), \(k.shape), \(v.shape)")
  check(
    k.shape == v.shape && q.shape[0] == k.shape[0] && q.shape[3] == k.shape[3],
    "\(function): q \(q.shape), k \(k.shape), v \(v.shape) do not agree on batch, time or head size")
  check(
    q.shape[2] % k.shape[2] == 0,
    "\(function): \(q.shape[2]) query heads are not a multiple of \(k.shape[2]) key/value heads")
}

/// The forms of ``attention(_:_:_:mask:scale:form:)``.
public let attentionForms: [Form] = [.reference, .tiled(queryBlock: 128, keyBlock: 128)]

/// Scaled dot-product attention in `form`: `.reference` materialises the scores
/// (``naiveAttention``), `.tiled(queryBlock:keyBlock:)` is FlashAttention-2 (``tiledAttention``).
/// Layout as in ``naiveAttention``: q `[B, T, HQ, D]`, k and v `[B, S, H, D]` → `[B, T, HQ, D]`.
public func attention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask = .causal, scale: Float? = nil,
  form: Form = .tiled(queryBlock: 128, keyBlock: 128)
) -> Tensor {
  switch form {
  case .reference: return naiveAttention(q, k, v, mask: mask, scale: scale)
  case .tiled(let queryBlock, let keyBlock):
    return tiledAttention(q, k, v, mask: mask, scale: scale, queryBlock: queryBlock, keyBlock: keyBlock)
  default: checkFailed("attention: no \(form) form; the forms are \(attentionForms)")
  }
}
