import Foundation
import TesseraCore

/// The training losses of masked-diffusion language models. A sequence `x₀` is corrupted by
/// replacing each token with `[MASK]` independently with probability `p` (drawn per sequence);
/// the model sees the corrupted sequence bidirectionally and is trained to predict the original
/// token at every masked position. The losses differ in the weight of each masked token and in
/// what is divided by:
///
/// - ``lladaLoss(logits:targets:masked:maskProbability:)``: LLaDA pre-training (Nie et al., "Large
///   Language Diffusion Models", 2025, Eq. 3), `Σ_{b,l} m_bl · CE_bl / p_b / (B·L)` with
///   `p_b = (1 − ε)·t_b + ε`;
/// - ``lladaSFTLoss(logits:targets:masked:maskProbability:promptLengths:)``: LLaDA's supervised
///   fine-tuning (prompt never masked), each sequence divided by its answer length, then by `B`;
/// - ``mdlmLoss(logits:targets:masked:weights:attentionMask:maskID:)``: MDLM's SUBS
///   parameterisation (Sahoo et al., "Simple and Effective Masked Diffusion Language Models",
///   2024): the `[MASK]` logit pushed to −10⁶, unmasked tokens carried over (no loss, no
///   gradient), each masked token weighted `1/t_b`, divided by the counted tokens.
///
/// `logits` `[B, L, V]`, `targets` (the clean tokens) and `masked` `[B, L]` (1 where the token was
/// replaced by `[MASK]`), per-sequence quantities `[B]`. Each loss is a scalar whose gradient
/// reaches `logits` only at masked positions.
public enum MaskedDiffusion {
  /// LLaDA's floor on the masking probability: `p = (1 − ε)·t + ε`.
  public static let epsilon: Float = 1e-3

  /// LLaDA's forward process: the masking probability `p_b = (1 − ε)·t_b + ε` of each sequence.
  public static func maskProbability(t: [Float], epsilon: Float = MaskedDiffusion.epsilon) -> [Float] {
    t.map { (1 - epsilon) * $0 + epsilon }
  }

  /// Corrupts `tokens` `[B, L]`: per sequence `t_b ~ U(0, 1)`, `p_b` as
  /// ``maskProbability(t:epsilon:)``, and each token not in the sequence's first `protected[b]`
  /// positions (an SFT prompt) replaced by `maskID` when its own uniform draw is below `p_b`.
  /// Returns the corrupted tokens, the 0/1 mask and `p`. Counter-based: the same generator state
  /// gives the same corruption on any machine and thread count.
  public static func corrupt(
    _ tokens: IndexTensor, maskID: Int, protected: [Int]? = nil, epsilon: Float = MaskedDiffusion.epsilon,
    generator: inout RandomGenerator
  ) -> (noisy: IndexTensor, masked: [Float], maskProbability: [Float]) {
    check(tokens.shape.count == 2, "MaskedDiffusion.corrupt: tokens must be [B, L], got \(tokens.shape)")
    let (b, l) = (tokens.shape[0], tokens.shape[1])
    check(
      protected == nil || protected!.count == b,
      "MaskedDiffusion.corrupt: \(protected?.count ?? 0) prompt lengths for \(b) sequences")
    let t = generator.uniform([b]).scalars
    let draws = generator.uniform([b, l]).scalars
    let p = maskProbability(t: t, epsilon: epsilon)
    var noisy = tokens.values
    var masked = [Float](repeating: 0, count: b * l)
    for row in 0..<b {
      for position in (protected?[row] ?? 0)..<l where draws[row * l + position] < p[row] {
        noisy[row * l + position] = maskID
        masked[row * l + position] = 1
      }
    }
    return (IndexTensor(noisy, shape: [b, l]), masked, p)
  }

  static func checkShapes(_ function: String, logits: Tensor, targets: IndexTensor, masked: Tensor, perSequence: Int) {
    check(logits.rank == 3, "\(function): logits must be [B, L, V], got \(logits.shape)")
    let (b, l) = (logits.shape[0], logits.shape[1])
    check(targets.shape == [b, l], "\(function): targets \(targets.shape) must be [B, L] = [\(b), \(l)]")
    check(masked.shape == [b, l], "\(function): masked \(masked.shape) must be [B, L] = [\(b), \(l)]")
    check(perSequence == b, "\(function): \(perSequence) per-sequence values for \(b) sequences")
  }
}

/// LLaDA's pre-training loss: `Σ_{b,l} masked_bl · CE(logits_bl, targets_bl) / p_b / (B·L)`
/// (see ``MaskedDiffusion``). `maskProbability` `[B]` is `p_b = (1 − ε)·t_b + ε`, not `t_b`.
public func lladaLoss(logits: Tensor, targets: IndexTensor, masked: Tensor, maskProbability: [Float]) -> Tensor {
  MaskedDiffusion.checkShapes(
    "lladaLoss", logits: logits, targets: targets, masked: masked, perSequence: maskProbability.count)
  let (b, l) = (logits.shape[0], logits.shape[1])
  let m = masked.contiguous().scalars
  let weights = (0..<(b * l)).map { i in m[i] == 0 ? 0 : m[i] / maskProbability[i / l] / Float(b * l) }
  return weightedCrossEntropySum(logits, targets: targets, weights: weights)
}

/// LLaDA's supervised fine-tuning loss: prompt positions (`l < promptLengths[b]`) are never
/// masked; `Σ_{b,l} masked_bl · CE_bl / p_b / (L − promptLengths[b]) / B`.
public func lladaSFTLoss(
  logits: Tensor, targets: IndexTensor, masked: Tensor, maskProbability: [Float], promptLengths: [Int]
) -> Tensor {
  MaskedDiffusion.checkShapes(
    "lladaSFTLoss", logits: logits, targets: targets, masked: masked, perSequence: maskProbability.count)
  let (b, l) = (logits.shape[0], logits.shape[1])
  check(promptLengths.count == b, "lladaSFTLoss: \(promptLengths.count) prompt lengths for \(b) sequences")
  for (row, prompt) in promptLengths.enumerated() {
    check(
      prompt >= 0 && prompt < l, "lladaSFTLoss: prompt length \(prompt) of sequence \(row) leaves no answer in \(l)")
  }
  let m = masked.contiguous().scalars
  for i in 0..<(b * l) where m[i] != 0 && i % l < promptLengths[i / l] {
    checkFailed("lladaSFTLoss: sequence \(i / l) has a masked token at \(i % l), inside its prompt")
  }
  let weights = (0..<(b * l)).map { i -> Float in
    let row = i / l
    return m[i] == 0 ? 0 : m[i] / maskProbability[row] / Float(l - promptLengths[row]) / Float(b)
  }
  return weightedCrossEntropySum(logits, targets: targets, weights: weights)
}

/// MDLM's loss with the SUBS parameterisation: the `[MASK]` logit lowered by 10⁶ before the
/// log-softmax, unmasked tokens carried over (they add nothing and get no gradient), each masked
/// token weighted by its sequence's `weights[b]` (`dσ/expm1(σ) = 1/t_b` under the log-linear
/// schedule), summed over counted positions (`attentionMask`, all ones when nil) and divided by
/// their number.
public func mdlmLoss(
  logits: Tensor, targets: IndexTensor, masked: Tensor, weights: [Float], attentionMask: Tensor? = nil, maskID: Int
) -> Tensor {
  MaskedDiffusion.checkShapes("mdlmLoss", logits: logits, targets: targets, masked: masked, perSequence: weights.count)
  let (b, l, v) = (logits.shape[0], logits.shape[1], logits.shape[2])
  check(maskID >= 0 && maskID < v, "mdlmLoss: mask id \(maskID) outside the vocabulary of \(v)")
  let counted = attentionMask.map { $0.contiguous().scalars } ?? [Float](repeating: 1, count: b * l)
  check(counted.count == b * l, "mdlmLoss: attention mask \(attentionMask?.shape ?? []) must be [B, L] = [\(b), \(l)]")
  let total = counted.reduce(0, +)
  check(total > 0, "mdlmLoss: the attention mask counts no position")
  let m = masked.contiguous().scalars
  let tokenWeights = (0..<(b * l)).map { i in m[i] * counted[i] == 0 ? 0 : m[i] * counted[i] * weights[i / l] / total }
  var shift = [Float](repeating: 0, count: v)
  shift[maskID] = -1e6
  let substituted = logits + Tensor(shift, shape: [v])
  return weightedCrossEntropySum(substituted, targets: targets, weights: tokenWeights)
}
