import TesseraCore

/// Decoding a token-to-concept stage one token at a time: a concept is formed when its boundary
/// arrives. Each token's boundary probability needs only the previous token's key (ConceptMoE) or
/// query (H-Net); at a boundary the token enters the inner blocks as the next concept (their own
/// decoders advance by one concept), and the smoothed concept z is updated by the EMA; every token
/// reads the current z (plus itself for ConceptMoE). Sequences of a batch form concepts at
/// different tokens, so each keeps its own inner decoders. Reproduces the parallel form
/// (``ChunkingLayer`` and the stage's blocks over the concepts) token by token.
final class ChunkedStageDecoder: LayerDecoder {
  struct Row {
    /// k_{t−1} (ConceptMoE) or q_{t−1} (H-Net), `[1, D]`.
    var previous: Tensor?
    /// The smoothed concept z, `[1, D]`.
    var smoothed: Tensor?
    var decoders: [any LayerDecoder]
  }

  let chunking: ChunkingLayer
  let blocks: [Block]
  var rows: [Row]

  init(chunking: ChunkingLayer, blocks: [Block], batch: Int, makeRowDecoders: () -> [any LayerDecoder]) {
    self.chunking = chunking
    self.blocks = blocks
    rows = (0..<batch).map { _ in Row(decoders: makeRowDecoders()) }
  }

  func step(_ x: Tensor) -> Tensor {
    let rule = chunking.options.rule
    let conceptMoE = rule == .conceptMoE
    let width = x.shape[1]
    let queries = chunking.qProj(x), keys = chunking.kProj(x)
    var outputs: [Tensor] = []
    for r in rows.indices {
      let token = x.slice(axis: 0, r..<(r + 1))
      let q = queries.slice(axis: 0, r..<(r + 1)), k = keys.slice(axis: 0, r..<(r + 1))
      var p: Float = 1
      if let previous = rows[r].previous {
        let (current, before) = conceptMoE ? (q, previous) : (previous, k)
        p = DynamicChunking.boundaryProbability(current, before).scalars[0]
      }
      rows[r].previous = conceptMoE ? k : q
      if rule.isBoundary(p) {
        var h = token
        for (i, block) in blocks.enumerated() { h = block.step(h, rows[r].decoders[i]) }
        let rate = min(max(p, rule.rateBounds.lowerBound), rule.rateBounds.upperBound)
        let before = rows[r].smoothed ?? Tensor.zeros([1, width])
        rows[r].smoothed = before * (1 - rate) + h * rate
      }
      let y = rows[r].smoothed!
      outputs.append(conceptMoE ? token + y : y)
    }
    return concatenate(outputs, axis: 0)
  }

  var stateBytes: Int {
    rows.reduce(0) { total, row in
      total + heldBytes(row.previous as Any) + heldBytes(row.smoothed as Any)
        + row.decoders.reduce(0) { $0 + $1.stateBytes }
    }
  }
}
