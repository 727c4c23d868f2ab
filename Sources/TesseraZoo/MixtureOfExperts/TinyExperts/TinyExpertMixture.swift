import Dispatch
import Synchronization
import TesseraCore
import TesseraNN

/// The shape of a ``TinyExpertMixture``: each expert a whole small model of its own (its own
/// width and depth; one vocabulary), and the router's width and rule.
public struct TinyExpertMixtureSpec: Codable, Sendable, Equatable {
  public var experts: [ModelSpec]
  public var routerWidth: Int
  /// A query runs its most probable experts until their router probabilities sum to `coverage`
  /// (at least one, at most `maxExperts`).
  public var coverage: Double
  public var maxExperts: Int
  /// Weight of the router's cross-entropy toward each query's `"expert"` label, where the batch
  /// has one (the auxiliary loss `router`).
  public var routerLossWeight: Double

  public init(
    experts: [ModelSpec], routerWidth: Int = 32, coverage: Double = 0.9, maxExperts: Int = 2,
    routerLossWeight: Double = 1
  ) {
    self.experts = experts
    self.routerWidth = routerWidth
    self.coverage = coverage
    self.maxExperts = maxExperts
    self.routerLossWeight = routerLossWeight
  }
}

/// A mixture of tiny expert models (the modular case of small specialised models): a small router
/// — the mean of the query's token embeddings through a linear map, a softmax over the experts —
/// decides which experts a query needs (``TinyExpertMixtureSpec/coverage``), and only those experts
/// run, each on the queries that chose it (gathered out of the batch), in parallel lanes at
/// inference. A query's output is `log Σ_e w_e softmax(z_e)` over its experts, `w` its router
/// probabilities renormalised over them (with one expert: that expert's log-softmax).
/// Tokens `[B, T]` → log-probabilities `[B, T, vocabulary]`.
///
/// Each expert's parameters are its own (`experts.2.layers.0.mixer.…`), so one expert can be
/// retrained (``TrainingSettings/frozenParameters`` naming the router and the others) while the
/// others stay bit-identical.
public final class TinyExpertMixture: Module {
  public let spec: TinyExpertMixtureSpec
  public let routerEmbedding: Embedding
  public let router: Linear
  public let experts: [LanguageModel]
  /// Queries each expert ran in the last pass, with its batch and time.
  public private(set) var lastRouting: (batch: Int, time: Int, queries: [Int])?

  public init(_ spec: TinyExpertMixtureSpec, generator: inout RandomGenerator) throws {
    guard let vocabulary = spec.experts.first?.vocabulary else {
      throw ModelSpecError("experts", "a mixture needs at least one expert")
    }
    for (i, expert) in spec.experts.enumerated() {
      if expert.vocabulary != vocabulary {
        throw ModelSpecError(
          "experts[\(i)].vocabulary",
          "\(expert.vocabulary): every expert reads and writes one vocabulary (\(vocabulary))")
      }
      if expert.heads.first?.kind != .languageModel {
        throw ModelSpecError("experts[\(i)].heads[0]", "an expert answers with a language-model head")
      }
    }
    if !(spec.coverage > 0 && spec.coverage <= 1) {
      throw ModelSpecError("coverage", "\(spec.coverage) is not in (0, 1]")
    }
    if spec.maxExperts < 1 { throw ModelSpecError("maxExperts", "\(spec.maxExperts): at least one expert runs") }
    self.spec = spec
    routerEmbedding = Embedding(vocabulary, spec.routerWidth, generator: &generator)
    router = Linear(spec.routerWidth, spec.experts.count, generator: &generator)
    experts = try spec.experts.enumerated().map { i, expertSpec in
      do { return try LanguageModel(expertSpec, generator: &generator) } catch let error as ModelSpecError {
        throw ModelSpecError("experts[\(i)].\(error.path)", error.message)
      }
    }
  }

  /// Router logits `[B, experts]` for tokens `[B, T]`.
  public func routerLogits(_ tokens: IndexTensor) -> Tensor { router(routerEmbedding(tokens).mean(axis: 1)) }

  /// Each query's experts, most probable first, from router probabilities `[B, experts]`.
  public func choose(_ probabilities: Tensor) -> [[Int]] {
    let (b, e) = (probabilities.shape[0], probabilities.shape[1])
    let p = probabilities.detached().contiguous().scalars
    let limit = min(spec.maxExperts, e)
    let ranked = topColumns(probabilities.detached(), limit)
    return (0..<b).map { row in
      var picked: [Int] = []
      var covered = 0.0
      for k in 0..<limit where picked.isEmpty || covered < spec.coverage {
        let expert = ranked[row * limit + k]
        picked.append(expert)
        covered += Double(p[row * e + expert])
      }
      return picked
    }
  }

  /// Log-probabilities `[B, T, vocabulary]`, the router's logits, and each query's experts.
  /// `lanes > 1` runs the chosen experts concurrently (inference only: without gradients), each
  /// lane on one thread; the result is the same bits as one lane.
  public func forward(_ tokens: IndexTensor, lanes: Int = 1) -> (
    logProbabilities: Tensor, routerLogits: Tensor, experts: [[Int]]
  ) {
    let (b, t) = (tokens.shape[0], tokens.shape[1])
    let logits = routerLogits(tokens)
    let probabilities = logits.softmax(axis: -1)
    let chosen = choose(probabilities)
    let count = experts.count
    let rows = (0..<count).map { e in (0..<b).filter { chosen[$0].contains(e) } }
    lastRouting = (b, t, rows.map(\.count))
    let work = (0..<count).filter { !rows[$0].isEmpty }
    let inputs = work.reduce(into: [Int: IndexTensor]()) { picked, e in
      picked[e] = IndexTensor(rows[e].flatMap { tokens.values[($0 * t)..<(($0 + 1) * t)] }, shape: [rows[e].count, t])
    }
    func run(_ e: Int) -> Tensor { experts[e](inputs[e]!) }
    var outputs = [Tensor?](repeating: nil, count: count)
    if lanes > 1 && work.count > 1 && !isRecordingGradients {
      let results = Mutex([Tensor?](repeating: nil, count: count))
      let next = Atomic<Int>(0)
      nonisolated(unsafe) let model = self
      DispatchQueue.concurrentPerform(iterations: min(lanes, work.count)) { _ in
        while true {
          let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
          guard i < work.count else { return }
          let e = work[i]
          let out = Runtime.withThreadCount(1) { withoutGradients { model.experts[e](inputs[e]!) } }
          nonisolated(unsafe) let sent = out
          results.withLock { $0[e] = sent }
        }
      }
      outputs = results.withLock { $0 }
    } else {
      for e in work { outputs[e] = run(e) }
    }
    // One expert for the whole batch (a single query, say): its log-softmax, nothing to gather.
    if work.count == 1, rows[work[0]].count == b, chosen.allSatisfy({ $0.count == 1 }) {
      return (outputs[work[0]]!.logSoftmax(axis: -1), logits, chosen)
    }
    let vocabulary = spec.experts[0].vocabulary
    var out = Tensor.zeros([b, t, vocabulary])
    // Queries with one expert take its log-softmax; the others mix probabilities.
    let mixed = (0..<b).filter { chosen[$0].count > 1 }
    var mixture = mixed.isEmpty ? nil : Tensor.zeros([b, t, vocabulary])
    var weights: Tensor?
    if !mixed.isEmpty {
      // w_e = p_e / Σ_{chosen} p over each query's experts (zero for the others).
      var mask = [Float](repeating: 0, count: b * count)
      for row in 0..<b { for e in chosen[row] { mask[row * count + e] = 1 } }
      let kept = probabilities * Tensor(mask, shape: [b, count])
      weights = kept / kept.sum(axis: 1, keepDimensions: true)
    }
    for e in work {
      let z = outputs[e]!
      let local = rows[e]
      let singles = local.indices.filter { chosen[local[$0]].count == 1 }
      if !singles.isEmpty {
        let picked = singles.count == local.count ? z : z.indexSelect(axis: 0, indices: IndexTensor(singles))
        out = out.indexAdding(
          axis: 0, indices: IndexTensor(singles.map { local[$0] }), source: picked.logSoftmax(axis: -1))
      }
      let mixes = local.indices.filter { chosen[local[$0]].count > 1 }
      if !mixes.isEmpty, let weights {
        let queries = IndexTensor(mixes.map { local[$0] })
        let w = weights.select(axis: 1, index: e).indexSelect(axis: 0, indices: queries).reshaped([mixes.count, 1, 1])
        let p = z.indexSelect(axis: 0, indices: IndexTensor(mixes)).softmax(axis: -1) * w
        mixture = mixture!.indexAdding(axis: 0, indices: queries, source: p)
      }
    }
    if let mixture {
      let queries = IndexTensor(mixed)
      out = out.indexAdding(axis: 0, indices: queries, source: mixture.indexSelect(axis: 0, indices: queries).log())
    }
    return (out, logits, chosen)
  }

  /// Counted FLOPs of the last pass (``forward(_:lanes:)``): the router (embedding mean, linear,
  /// softmax), and each expert's blocks, final norm and head over the queries it ran.
  public var lastPassFlops: Int {
    guard let routing = lastRouting else { return 0 }
    let (b, t) = (routing.batch, routing.time)
    var flops = b * t * spec.routerWidth + router.flops(rows: b) + 3 * b * experts.count
    for (e, queries) in routing.queries.enumerated() where queries > 0 {
      let expert = experts[e]
      flops +=
        expert.cost(batch: queries, time: t).flops + expert.norm.flops(rows: queries * t)
        + 2 * queries * t * expert.spec.width * expert.spec.vocabulary
    }
    return flops
  }

  public var label: String { "tiny experts ×\(experts.count)" }
}
