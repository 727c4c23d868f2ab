import TesseraCore
import TesseraNN

/// Native Sparse Attention as a causal mixer (Yuan et al., 2025): the projections of
/// ``MultiHeadAttention`` (grouped heads allowed; the selection is shared by a key/value head's
/// query group), a gate projection `x → σ(W x + b)` giving each query head its three branch
/// weights, and the three-branch core
/// (``nativeSparseAttention(_:_:_:compressedGate:selectedGate:windowGate:block:selectedBlocks:window:scale:form:)``).
/// `[B, T, D] → [B, T, D]`; decoding from a key/value cache recomputes the compressed blocks,
/// the selection and the window over the cache, as the parallel form does. Kind `nsa`.
public final class NativeSparseAttentionLayer: MultiHeadAttention, RecurrentLayer {
  public struct Options: LayerOptions {
    /// Tokens per compressed and per selected block (the paper: 32 with stride 16 and 64).
    public var block = 64
    public var selectedBlocks = 16
    public var window = 512
    /// The paper's learned compressor (``BlockCompressor``) instead of fla's mean pooling.
    public var learnedCompressor = false
    public var heads = 4
    public var keyValueHeads: Int?
    public var rotary = true
    public var form = Form.tiled(queryBlock: 64, keyBlock: 64)
    public init() {}
  }

  public static let kind = "nsa"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding, .dataDependentCost]
  public static let forms = nsaForms
  public static let summary = "NSA: compressed + selected + sliding branches, gated (Yuan et al., 2025)"
  public let options: Options
  public let gateProjection: Linear
  /// The learned compressors of keys and of values (with `learnedCompressor`).
  public let keyCompressor: BlockCompressor?
  public let valueCompressor: BlockCompressor?
  /// The counted core FLOPs of the last forward pass, with its shape.
  public private(set) var lastDecisions: (batch: Int, time: Int, coreFlops: Int)?

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("block", options.block, 1) + minimumProblem("selectedBlocks", options.selectedBlocks, 1)
      + minimumProblem("window", options.window, 1)
      + attentionProblems(
        heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width, forms: nsaForms)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    gateProjection = Linear(width, 3 * options.heads, generator: &generator)
    let headDimension = width / max(1, options.heads)
    keyCompressor =
      options.learnedCompressor
      ? BlockCompressor(block: options.block, dimension: headDimension, generator: &generator) : nil
    valueCompressor =
      options.learnedCompressor
      ? BlockCompressor(block: options.block, dimension: headDimension, generator: &generator) : nil
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads, mask: .causal,
      form: options.form, rotary: options.rotary, generator: &generator)
  }

  /// The core on projected heads and the input the gates read (`[B, T, D]`).
  func core(_ q: Tensor, _ k: Tensor, _ v: Tensor, gatesFrom x: Tensor, form: Form) -> NativeSparseAttentionOutput {
    let (b, t) = (x.shape[0], x.shape[1])
    let gates = gateProjection(x).sigmoid().reshaped(b, t, 3, queryHeads)
    return nativeSparseAttention(
      q, k, v, compressedGate: gates.select(axis: 2, index: 0), selectedGate: gates.select(axis: 2, index: 1),
      windowGate: gates.select(axis: 2, index: 2), block: options.block, selectedBlocks: options.selectedBlocks,
      window: options.window, form: form,
      compressor: keyCompressor.map { keys in
        let values = valueCompressor!
        return { x, isKeys in isKeys ? keys(x) : values(x) }
      })
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    let (q, k, v) = heads(x, offset: 0)
    let result = core(q, k, v, gatesFrom: x, form: form)
    context.record("attended_key_fraction", [attendedFraction(result.selection, keyTime: t)])
    if !result.blockMasks.isEmpty {
      let flops = result.blockMasks.reduce(0) { total, mask in
        total + tiledCoreFlops(mask, batch: b, queryHeads: queryHeads, dimension: headDimension)
      }
      lastDecisions = (b, t, flops + extraFlops(batch: b, time: t))
    }
    return oProj(result.output.reshaped(b, t, queryHeads * headDimension))
  }

  /// Raw keys a query reads (its selected blocks' keys up to itself, and its window), ÷ the keys
  /// up to itself, averaged over batches, heads and queries.
  func attendedFraction(_ selection: KeySelection, keyTime: Int) -> Double {
    var kept = 0, visible = 0
    let block = options.block
    for b in 0..<selection.batch {
      for h in 0..<selection.heads {
        for t in 0..<selection.time {
          let position = t + keyTime - selection.time
          let window = max(0, position - options.window + 1)...position
          var count = window.count
          for c in selection.chosen(b, h, t) {
            let keys = (c * block)...min(position, (c + 1) * block - 1)
            count += keys.count - keys.clamped(to: window).count
          }
          kept += count
          visible += position + 1
        }
      }
    }
    return Double(kept) / Double(max(1, visible))
  }

  /// Everything but the three attention cores: the gate projection and σ, the block means of k
  /// and v, the selection's compressed scores (`2D` per query head and block) and the mixing
  /// (three products and two sums per output element).
  func extraFlops(batch: Int, time: Int) -> Int {
    let blocks = (time + options.block - 1) / options.block
    // Mean pooling: a sum per key and a scale per block; learned: the position add and φ per block.
    let compression =
      keyCompressor.map { c in
        2 * (batch * keyValueHeads * blocks * (options.block * headDimension + c.projection.flops(rows: 1)))
      } ?? 2 * batch * keyValueHeads * headDimension * (time + blocks)
    return gateProjection.flops(rows: batch * time) + batch * time * 3 * queryHeads * FlopCount.sigmoid
      + compression
      + batch * queryHeads * time * blocks * 2 * headDimension
      + 5 * batch * time * queryHeads * headDimension
  }

  override func coreFlops(batch: Int, time: Int, mask: AttentionMask) -> Int {
    if let last = lastDecisions, last.batch == batch, last.time == time { return last.coreFlops }
    return 3 * super.coreFlops(batch: batch, time: time, mask: .causal) + extraFlops(batch: batch, time: time)
  }

  public override func step(_ x: Tensor, _ cache: inout KeyValueCache) -> Tensor {
    let b = x.shape[0]
    let token = x.reshaped(b, 1, x.shape[1])
    let (q, k, v) = heads(token, offset: cache.position)
    let (keys, values) = cache.append(k, v)
    let out = core(q, keys, values, gatesFrom: token, form: .reference).output
    return oProj(out.reshaped(b, queryHeads * headDimension))
  }
}
