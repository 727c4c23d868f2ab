import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

/// The masked-diffusion losses against their definitions written out, and the sampler's rules
/// (the golden files check both against the authors' code on one input each).
@Suite("Masked diffusion")
struct MaskedDiffusionTests {
  /// Random logits, targets and a mask with at least one masked and one unmasked token per row.
  static func batch(_ b: Int, _ l: Int, _ v: Int, seed: UInt64) -> (Tensor, IndexTensor, [Float]) {
    var rng = RandomGenerator(seed: seed)
    let logits = rng.normal([b, l, v])
    let targets = IndexTensor(rng.uniform([b * l]).scalars.map { Int($0 * Float(v - 1)) }, shape: [b, l])
    var masked = rng.uniform([b * l]).scalars.map { $0 < 0.5 ? Float(1) : 0 }
    for row in 0..<b {
      masked[row * l] = 0
      masked[row * l + l - 1] = 1
    }
    return (logits, targets, masked)
  }

  /// −log softmax(logits[b, l])[target], in double precision.
  static func crossEntropy(_ logits: [Float], _ base: Int, _ v: Int, _ target: Int, excluding: Int? = nil) -> Double {
    let values = (0..<v).map { Double(logits[base + $0]) - ($0 == excluding ? 1e6 : 0) }
    let m = values.max()!
    return m + Foundation.log(values.reduce(0) { $0 + Foundation.exp($1 - m) }) - values[target]
  }

  @Test("LLaDA's, LLaDA SFT's and MDLM's losses equal their sums written out; unmasked tokens get no gradient")
  func lossesMatchDefinitions() {
    let (b, l, v) = (3, 11, 7)
    let (logits, targets, maskedValues) = Self.batch(b, l, v, seed: 4)
    let masked = Tensor(maskedValues, shape: [b, l])
    let t: [Float] = [0.3, 0.9, 0.05]
    let p = MaskedDiffusion.maskProbability(t: t)
    let x = logits.scalars
    let ce = { (i: Int, excluding: Int?) in Self.crossEntropy(x, i * v, v, targets.values[i], excluding: excluding) }

    var llada = 0.0
    for i in 0..<(b * l) where maskedValues[i] == 1 { llada += ce(i, nil) / Double(p[i / l]) }
    llada /= Double(b * l)
    let (lladaValue, lladaGradient) = valueAndGradient(at: logits) {
      lladaLoss(logits: $0, targets: targets, masked: masked, maskProbability: p)
    }
    #expect(abs(Double(lladaValue.scalar) - llada) <= 1e-5 * llada, "LLaDA: \(lladaValue.scalar) vs \(llada)")

    // SFT: prompts of 2, 0 and 4 tokens, never masked.
    let prompts = [2, 0, 4]
    var sftMask = maskedValues
    for (row, prompt) in prompts.enumerated() { for i in 0..<prompt { sftMask[row * l + i] = 0 } }
    var sft = 0.0
    for i in 0..<(b * l) where sftMask[i] == 1 {
      sft += ce(i, nil) / Double(p[i / l]) / Double(l - prompts[i / l]) / Double(b)
    }
    let sftValue = lladaSFTLoss(
      logits: logits, targets: targets, masked: Tensor(sftMask, shape: [b, l]), maskProbability: p,
      promptLengths: prompts)
    #expect(abs(Double(sftValue.scalar) - sft) <= 1e-5 * sft, "SFT: \(sftValue.scalar) vs \(sft)")

    // MDLM: the mask id's logit removed, weights 1/t, the last position of row 0 not counted.
    let maskID = v - 1
    var counted = [Float](repeating: 1, count: b * l)
    counted[l - 1] = 0
    var mdlm = 0.0
    for i in 0..<(b * l) where maskedValues[i] == 1 && counted[i] == 1 { mdlm += ce(i, maskID) / Double(t[i / l]) }
    mdlm /= Double(counted.reduce(0, +))
    let (mdlmValue, mdlmGradient) = valueAndGradient(at: logits) {
      mdlmLoss(
        logits: $0, targets: targets, masked: masked, weights: t.map { 1 / $0 },
        attentionMask: Tensor(counted, shape: [b, l]), maskID: maskID)
    }
    #expect(abs(Double(mdlmValue.scalar) - mdlm) <= 1e-5 * mdlm, "MDLM: \(mdlmValue.scalar) vs \(mdlm)")

    for (name, gradient) in [("LLaDA", lladaGradient), ("MDLM", mdlmGradient)] {
      let g = gradient.scalars
      for i in 0..<(b * l) where maskedValues[i] == 0 {
        #expect(g[(i * v)..<((i + 1) * v)].allSatisfy { $0 == 0 }, "\(name): unmasked token \(i) has a gradient")
      }
      #expect(g.contains { $0 != 0 }, "\(name): no gradient at all")
    }
    // SUBS: the mask id's own logit never gets a gradient.
    #expect(stride(from: maskID, to: b * l * v, by: v).allSatisfy { mdlmGradient.scalars[$0] == 0 })
  }

  @Test("corruption: rate p per sequence, prompts never masked, the same draws from the same seed")
  func corruption() {
    let (b, l) = (4, 2000)
    let tokens = IndexTensor((0..<(b * l)).map { $0 % 5 }, shape: [b, l])
    var rng = RandomGenerator(seed: 9)
    let (noisy, masked, p) = MaskedDiffusion.corrupt(tokens, maskID: 7, protected: [0, 10, 0, 100], generator: &rng)
    for row in 0..<b {
      let prompt = [0, 10, 0, 100][row]
      let rate = Double(masked[(row * l + prompt)..<((row + 1) * l)].reduce(0, +)) / Double(l - prompt)
      #expect(abs(rate - Double(p[row])) < 0.05, "row \(row): masked \(rate), p \(p[row])")
      #expect(masked[(row * l)..<(row * l + prompt)].allSatisfy { $0 == 0 }, "row \(row): a prompt token is masked")
      for i in 0..<l {
        let index = row * l + i
        #expect(
          (noisy.values[index] == 7) == (masked[index] == 1)
            && (masked[index] == 1 || noisy.values[index] == tokens.values[index]))
      }
    }
    var again = RandomGenerator(seed: 9)
    #expect(MaskedDiffusion.corrupt(tokens, maskID: 7, protected: [0, 10, 0, 100], generator: &again).noisy == noisy)
  }

  /// A stand-in model: logits from a fixed table per (position, token) plus a term that depends on
  /// the current tokens, so that predictions change as positions are revealed; the mask id's logit
  /// is low.
  static func toyModel(v: Int, maskID: Int) -> (IndexTensor) -> Tensor {
    { tokens in
      let (b, length) = (tokens.shape[0], tokens.shape[1])
      var values = [Float](repeating: 0, count: b * length * v)
      for row in 0..<b {
        let revealed = tokens.values[(row * length)..<((row + 1) * length)].filter { $0 != maskID }.reduce(0, +)
        for position in 0..<length {
          for c in 0..<v {
            let angle = Float(position * 7 + c * 3 + row * 11 + revealed)
            values[(row * length + position) * v + c] = c == maskID ? -20 : sin(angle) * 3
          }
        }
      }
      return Tensor(values, shape: [b, length, v])
    }
  }

  @Test(
    "the sampler: blocks revealed in order, each step's count as LLaDA computes it, nothing masked at the end",
    arguments: [MaskedDiffusionSampler.Remasking.lowConfidence, .random], [Float(0), 0.7])
  func samplerRules(remasking: MaskedDiffusionSampler.Remasking, temperature: Float) {
    let (v, maskID) = (9, 8)
    let sampler = MaskedDiffusionSampler(
      steps: 12, generationLength: 20, blockLength: 5, maskID: maskID, temperature: temperature, remasking: remasking)
    let prompt = IndexTensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    var rng = RandomGenerator(seed: 3)
    let trace = sampler.generate(prompt: prompt, generator: &rng, logits: Self.toyModel(v: v, maskID: maskID))
    #expect(trace.before.count == 12 && trace.after.count == 12)
    #expect(trace.transferCounts.count == 4 && trace.transferCounts.allSatisfy { $0.allSatisfy { $0 == [2, 2, 1] } })
    #expect(!trace.output.values.contains(maskID), "masks left: \(trace.output.values)")
    for row in 0..<2 {
      #expect(
        Array(trace.output.values[(row * 23)..<(row * 23 + 3)]) == Array(prompt.values[(row * 3)..<(row * 3 + 3)]))
      for (position, step) in trace.revealStep[row].enumerated() where position >= 3 {
        let block = (position - 3) / 5
        #expect(step / 3 == block, "row \(row): position \(position) of block \(block) revealed at step \(step)")
      }
    }
    // Each step reveals exactly the positions that changed, and revealed tokens never change again.
    for step in 0..<12 {
      for row in 0..<2 {
        let changed = (0..<23).filter {
          trace.before[step].values[row * 23 + $0] != trace.after[step].values[row * 23 + $0]
        }
        #expect(changed == trace.revealed[step][row], "step \(step) row \(row)")
        #expect(changed.allSatisfy { trace.before[step].values[row * 23 + $0] == maskID })
      }
    }
    var again = RandomGenerator(seed: 3)
    let repeated = sampler.generate(prompt: prompt, generator: &again, logits: Self.toyModel(v: v, maskID: maskID))
    #expect(repeated.output == trace.output, "the same seed gives other tokens")
  }

  @Test("low-confidence remasking reveals the most confident predictions first (ties to the lower position)")
  func lowConfidenceOrder() {
    // One block of 4 masked positions, 2 steps of 2: confidences 0.5, 0.9, 0.9, 0.9 by construction,
    // so the first step cuts between three equal confidences.
    let v = 3
    let peaks: [Float] = [0.5, 0.9, 0.9, 0.9]
    let model = { (tokens: IndexTensor) -> Tensor in
      var values = [Float]()
      for position in 0..<5 {
        let q = position == 0 ? 0.5 : peaks[position - 1]
        // softmax over (log q, log((1−q)/1), −∞ for the mask id 2) gives q for class 0.
        values += [Foundation.log(q), Foundation.log(1 - q), -1e9]
      }
      return Tensor(values, shape: [1, 5, v])
    }
    let sampler = MaskedDiffusionSampler(steps: 2, generationLength: 4, maskID: 2)
    let trace = sampler.generate(prompt: IndexTensor([1], shape: [1, 1]), logits: model) { _ in [] }
    #expect(trace.revealed[0][0] == [2, 3], "\(trace.revealed)")
    #expect(trace.revealed[1][0] == [1, 4], "\(trace.revealed)")
  }
}
