import Foundation
import TesseraCore

/// LLaDA's sampler for a masked-diffusion language model (Nie et al., "Large Language Diffusion
/// Models", 2025, Algorithm 4 / `generate()`): the answer starts as `generationLength` `[MASK]`
/// tokens after the prompt and is revealed over `steps` steps. Semi-autoregressively: the answer
/// is cut into blocks of `blockLength`, each given `steps ÷ blocks` steps, and nothing past the
/// current block is revealed. At each step the model predicts every position at once
/// (`x₀ = argmax` of the logits, with Gumbel noise at a temperature > 0; `[MASK]` itself is never
/// excluded from the argmax); of the masked positions of the current block, the
/// ``transferCounts(masked:steps:)``-many with the highest confidence take their prediction and
/// the others stay masked — the softmax probability of the prediction (`lowConfidence`
/// remasking: the least confident are the ones left masked) or a uniform draw (`random`).
/// Revealed tokens are never masked again.
public struct MaskedDiffusionSampler: Sendable {
  /// How the positions revealed at a step are chosen among the masked ones.
  public enum Remasking: String, Sendable, Codable {
    /// The most confident predictions (softmax probability of the argmax) are revealed.
    case lowConfidence
    /// Positions ranked by a uniform draw.
    case random
  }

  public var steps: Int
  public var generationLength: Int
  public var blockLength: Int
  public var maskID: Int
  /// 0: argmax; above 0: Gumbel-max sampling of `logits / temperature`.
  public var temperature: Float
  public var remasking: Remasking

  public init(
    steps: Int, generationLength: Int, blockLength: Int? = nil, maskID: Int, temperature: Float = 0,
    remasking: Remasking = .lowConfidence
  ) {
    let blockLength = blockLength ?? generationLength
    check(
      generationLength >= 1 && blockLength >= 1 && generationLength % blockLength == 0,
      "MaskedDiffusionSampler: the generation length \(generationLength) must be a positive multiple of the block "
        + "length \(blockLength)")
    let blocks = generationLength / blockLength
    check(
      steps >= blocks && steps % blocks == 0,
      "MaskedDiffusionSampler: \(steps) steps cannot be shared equally by \(blocks) blocks of \(blockLength)")
    check(temperature >= 0, "MaskedDiffusionSampler: the temperature must be at least 0, got \(temperature)")
    (self.steps, self.generationLength, self.blockLength, self.maskID) = (steps, generationLength, blockLength, maskID)
    (self.temperature, self.remasking) = (temperature, remasking)
  }

  public var blocks: Int { generationLength / blockLength }
  public var stepsPerBlock: Int { steps / blocks }

  /// How many of `masked` positions a block reveals at each of its `steps` steps: `masked ÷ steps`,
  /// one more for the first `masked mod steps` steps (LLaDA's `get_num_transfer_tokens`).
  public static func transferCounts(masked: Int, steps: Int) -> [Int] {
    (0..<steps).map { masked / steps + ($0 < masked % steps ? 1 : 0) }
  }

  /// What a run did: the tokens before and after each step `[steps][B, P + G]`, the positions
  /// revealed at each step (per sequence), and the transfer counts `[blocks][B][stepsPerBlock]`.
  public struct Trace: Sendable {
    public var before: [IndexTensor] = []
    public var after: [IndexTensor] = []
    public var revealed: [[[Int]]] = []
    public var transferCounts: [[[Int]]] = []
    /// The final tokens `[B, P + G]`.
    public var output: IndexTensor { after.last! }
    /// The step at which each position was revealed, `[B][P + G]` (−1 for the prompt and for
    /// positions never revealed).
    public var revealStep: [[Int]] {
      guard let first = before.first else { return [] }
      var steps = [[Int]](repeating: [Int](repeating: -1, count: first.shape[1]), count: first.shape[0])
      for (step, rows) in revealed.enumerated() {
        for (b, positions) in rows.enumerated() { for p in positions { steps[b][p] = step } }
      }
      return steps
    }
  }

  /// Runs the sampler from `prompt` `[B, P]`. `logits` maps the current tokens `[B, P + G]` to the
  /// model's logits `[B, P + G, V]`; `generator` supplies the Gumbel noise (temperature > 0) and
  /// the `random` remasking draws (counter-based: the same state gives the same tokens anywhere).
  public func generate(
    prompt: IndexTensor, generator: inout RandomGenerator, logits: (IndexTensor) -> Tensor
  ) -> Trace {
    generate(prompt: prompt, logits: logits) { shape in generator.uniform(shape).scalars }
  }

  /// As ``generate(prompt:generator:logits:)``, with the uniform draws of each step given by
  /// `uniforms(shape)` (shape `[B, P + G]` for random remasking, `[B, P + G, V]` for Gumbel noise).
  public func generate(
    prompt: IndexTensor, logits: (IndexTensor) -> Tensor, uniforms: (_ shape: [Int]) -> [Float]
  ) -> Trace {
    check(prompt.shape.count == 2, "MaskedDiffusionSampler: the prompt must be [B, P], got \(prompt.shape)")
    let (b, p) = (prompt.shape[0], prompt.shape[1])
    let length = p + generationLength
    var x = [Int](repeating: maskID, count: b * length)
    for row in 0..<b { for i in 0..<p { x[row * length + i] = prompt.values[row * p + i] } }
    var trace = Trace()
    for block in 0..<blocks {
      let start = p + block * blockLength, end = start + blockLength
      let counts = (0..<b).map { row in
        Self.transferCounts(masked: (start..<end).filter { x[row * length + $0] == maskID }.count, steps: stepsPerBlock)
      }
      trace.transferCounts.append(counts)
      for step in 0..<stepsPerBlock {
        let current = IndexTensor(x, shape: [b, length])
        trace.before.append(current)
        let output = logits(current)
        check(
          output.rank == 3 && output.shape[0] == b && output.shape[1] == length,
          "MaskedDiffusionSampler: the model gave logits \(output.shape) for tokens [\(b), \(length)]")
        let v = output.shape[2]
        let values = output.contiguous().scalars
        let noise = temperature > 0 ? uniforms([b, length, v]) : []
        let draws = remasking == .random ? uniforms([b, length]) : []
        var revealed: [[Int]] = []
        for row in 0..<b {
          // The prediction and its confidence at each masked position of the current block.
          var candidates: [(position: Int, prediction: Int, confidence: Double)] = []
          for position in start..<end where x[row * length + position] == maskID {
            let base = (row * length + position) * v
            let prediction = Self.prediction(
              values, base, v, temperature: temperature, noise: noise.isEmpty ? nil : Array(noise[base..<(base + v)]))
            let confidence: Double
            switch remasking {
            case .lowConfidence: confidence = Self.probability(values, base, v, of: prediction)
            case .random: confidence = Double(draws[row * length + position])
            }
            candidates.append((position, prediction, confidence))
          }
          // The most confident first; ties to the lower position.
          let chosen = candidates.sorted { a, b in
            a.confidence > b.confidence || (a.confidence == b.confidence && a.position < b.position)
          }.prefix(counts[row][step])
          for c in chosen { x[row * length + c.position] = c.prediction }
          revealed.append(chosen.map(\.position).sorted())
        }
        trace.revealed.append(revealed)
        trace.after.append(IndexTensor(x, shape: [b, length]))
      }
    }
    return trace
  }

  /// Argmax of one position's logits (first of equal maxima), or with Gumbel noise
  /// `−log(−log u)` added to `logits / temperature` (in double precision).
  static func prediction(_ values: [Float], _ base: Int, _ v: Int, temperature: Float, noise: [Float]?) -> Int {
    var best = 0
    var bestValue = -Double.infinity
    for c in 0..<v {
      var value = Double(values[base + c])
      if let noise {
        let u = min(max(Double(noise[c]), Double.leastNonzeroMagnitude), 1 - 1e-16)
        value = value / Double(temperature) - Foundation.log(-Foundation.log(u))
      }
      if value > bestValue || (c == 0 && bestValue == -.infinity) {
        best = c
        bestValue = value
      }
    }
    return best
  }

  /// The softmax probability of class `c` at one position (double precision).
  static func probability(_ values: [Float], _ base: Int, _ v: Int, of c: Int) -> Double {
    var m = -Double.infinity
    for j in 0..<v { m = max(m, Double(values[base + j])) }
    var sum = 0.0
    for j in 0..<v { sum += Foundation.exp(Double(values[base + j]) - m) }
    return Foundation.exp(Double(values[base + c]) - m) / sum
  }
}
