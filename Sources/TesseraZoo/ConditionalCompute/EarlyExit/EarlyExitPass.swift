import TesseraCore

/// One forward pass's early exits (``LanguageModel/forward(_:options:)``). With
/// ``ForwardOptions/exitHeads``, every exit head's logits for every example; under an
/// ``ExitPolicy`` (inference), after each exit block the examples still in the batch are scored at
/// the policy's position, the confident ones take that head's logits and leave — the hidden
/// states of the rest are gathered into a smaller batch, so the later blocks never see an exited
/// example — and the final logits are put back together in the batch's order.
struct EarlyExitPass {
  let model: LanguageModel
  let batch: Int
  let time: Int
  let policy: ExitPolicy?
  let wantsHeads: Bool
  let exitAfter: [Int: Int]
  /// The examples still in the batch (indices into the original batch), in batch order.
  var active: [Int]
  /// Logits of examples that left, with their original indices.
  var exited: [(rows: [Int], logits: Tensor)] = []
  var layers: [Int]
  var ran: [Int: Int] = [:]
  var exitLogits: [Tensor] = []
  /// The last block's hidden state at the policy's position, kept when an exit follows it (the
  /// state-cosine measure).
  var previous: Tensor?

  init(_ model: LanguageModel, batch: Int, time: Int, options: ForwardOptions) {
    self.model = model
    self.batch = batch
    self.time = time
    policy = model.exits.isEmpty ? nil : options.exit
    wantsHeads = options.exitHeads && !model.exits.isEmpty
    exitAfter = Dictionary(uniqueKeysWithValues: model.exitBlocks.enumerated().map { ($1, $0) })
    active = Array(0..<batch)
    layers = [Int](repeating: model.layers.count, count: batch)
    if let policy {
      check(!options.training, "early exit: an ExitPolicy is for inference; training runs every block")
      if let p = policy.position {
        check((0..<time).contains(p), "early exit: the policy's position \(p) is outside a sequence of \(time)")
      }
    }
  }

  var everyExampleExited: Bool { policy != nil && active.isEmpty }

  /// Examples that ran each block, for the counted cost; nil without a policy.
  /// A block the pass never reached (every example had left) ran on no example.
  var blockRows: GateRows? {
    policy == nil
      ? nil
      : GateRows(
        batch: batch, time: time,
        kept: Dictionary(uniqueKeysWithValues: model.layers.indices.map { ($0, ran[$0] ?? 0) }))
  }

  /// Each example's number of blocks run; nil without a policy.
  var exitLayers: [Int]? { policy == nil ? nil : layers }

  /// The logits of exit head `k` for hidden states `[b, ..., D]`.
  func headLogits(_ k: Int, _ h: Tensor) -> Tensor {
    let exit = model.exits[k]
    if let norm = exit.norm, let head = exit.head { return head(norm(h)) }
    return model.logits(h)
  }

  /// After block `i` ran on the active examples' states `x`: the exit head's work, and `x` with
  /// the exited examples removed.
  mutating func afterBlock(_ i: Int, _ x: Tensor) -> Tensor {
    guard let policy else {
      if wantsHeads, let k = exitAfter[i] { exitLogits.append(headLogits(k, x)) }
      return x
    }
    ran[i] = active.count
    let position = policy.position ?? (time - 1)
    let before = previous
    // The state measure compares an exit block's state with the block before it: keep a block's
    // state at the position only when an exit follows it.
    previous =
      policy.measure == .hiddenStateCosine && exitAfter[i + 1] != nil ? x.select(axis: 1, index: position) : nil
    guard let k = exitAfter[i] else { return x }
    let here = previous ?? x.select(axis: 1, index: position)  // [b, D]
    let confidence: [Float]
    switch policy.measure {
    case .hiddenStateCosine:
      confidence = policy.measure.confidence(logits: nil, hidden: here, previousHidden: i == 0 ? nil : before)
    case .softmaxMax, .softmaxDifference:
      confidence = policy.measure.confidence(logits: headLogits(k, here), hidden: nil, previousHidden: nil)
    }
    let leaving = confidence.indices.filter { confidence[$0] >= policy.threshold }
    guard !leaving.isEmpty else { return x }
    let staying = confidence.indices.filter { confidence[$0] < policy.threshold }
    let leavingRows = leaving.map { active[$0] }
    exited.append((leavingRows, headLogits(k, x.indexSelect(axis: 0, indices: IndexTensor(leaving)))))
    for row in leavingRows { layers[row] = i + 1 }
    active = staying.map { active[$0] }
    let stayingRows = IndexTensor(staying)
    previous = previous?.indexSelect(axis: 0, indices: stayingRows)
    return x.indexSelect(axis: 0, indices: stayingRows)
  }

  /// The logits `[B, T, vocabulary]` of every example in batch order: the final head's for the
  /// examples that ran every block (`x`), each exited example's exit head's.
  func finish(_ x: Tensor) -> Tensor {
    guard policy != nil, !exited.isEmpty else { return model.logits(x) }
    var pieces = exited
    if !active.isEmpty { pieces.append((active, model.logits(x))) }
    let vocabulary = pieces[0].logits.shape[2]
    var out = Tensor.zeros([batch, time, vocabulary])
    for piece in pieces { out = out.indexAdding(axis: 0, indices: IndexTensor(piece.rows), source: piece.logits) }
    return out
  }
}
