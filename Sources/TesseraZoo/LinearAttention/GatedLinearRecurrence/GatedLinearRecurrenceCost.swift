// Counted cost of ``GatedLinearRecurrence/evaluate(_:_:_:logDecay:scale:initialState:form:)``, for
// the layers built on it (counting rules in ``LayerCost``).

import TesseraCore

extension GatedLinearRecurrence {
  /// FLOPs of one (sequence, head) over `time` steps with keys of `keys`, values of `values` and a
  /// log decay of width `gate` (0: none, 1: one per step, `keys`: one per key channel), in `form`:
  /// the query scaling, then the steps (`.reference`), one block of `time` (`.parallel`) or blocks
  /// of the chunk size and a last partial block (`.chunked(size:)`).
  static func flops(time: Int, keys k: Int, values v: Int, gate g: Int, form: Form) -> Int {
    let scaling = time * k * FlopCount.arithmetic
    switch form {
    case .reference: return scaling + time * stepFlops(keys: k, values: v, gate: g)
    case .parallel, .chunked:
      let blocks = blockLengths(time: time, size: form == .parallel ? time : form.chunkLength(time: time))
      return scaling + blocks.reduce(0) { $0 + $1.count * blockFlops(length: $1.length, keys: k, values: v, gate: g) }
    default: return scaling
    }
  }

  /// One step of ``recurrent(_:_:_:_:_:)``: the decay's exp and its product with `S`, `k_tᵀ v_t`
  /// and its sum into `S`, and `q_t S`.
  static func stepFlops(keys k: Int, values v: Int, gate g: Int) -> Int {
    let (a, e) = (FlopCount.arithmetic, FlopCount.transcendental)
    let decay = g > 0 ? g * e + k * v * a : 0
    return decay + 4 * k * v + k * v * a
  }

  /// One block of `c` steps of ``chunk(_:_:_:_:_:)`` from a carried state: the products
  /// `Q Kᵀ`, the scores times `V`, `Q S₀` and `Kᵀ V` (each `2·m·k·n`) and, with a decay, its running
  /// sum `G`, the masked `e^{G_t − G_s}` (`c²` per gate channel), `e^{G_t}` on the queries and
  /// `e^{G_T − G_s}` on the keys; a per-channel decay forms the scores element by element
  /// (`q ⊙ k ⊙ decay`, summed over the keys) instead of by a product.
  static func blockFlops(length c: Int, keys k: Int, values v: Int, gate g: Int) -> Int {
    let (a, e) = (FlopCount.arithmetic, FlopCount.transcendental)
    let products = 2 * c * c * v + 2 * c * k * v + 2 * c * k * v + (g <= 1 ? 2 * c * c * k : 0)
    guard g > 0 else {
      // The causal mask on the scores, the two sums of the output and of the state.
      return products + a * (c * c + c * v + k * v)
    }
    let scores = g == 1 ? c * c : 3 * c * c * k  // the decay on the scores, or q ⊙ k ⊙ decay summed
    let elementwise =
      c * g + 2 * c * c * g + scores + c * k + c * v + c * g + k * v + c * k + k * v
    let exponentials = c * c * g + c * g + c * g + g
    return products + a * elementwise + e * exponentials
  }

  /// Values the forms keep for the backward pass per (sequence, head): the state each block starts
  /// from (`K·V`) and, for the block forms, its `c × c` scores and `c × c` decays per gate channel.
  static func savedValues(time: Int, keys k: Int, values v: Int, gate g: Int, form: Form) -> Int {
    switch form {
    case .parallel, .chunked:
      let blocks = blockLengths(time: time, size: form == .parallel ? time : form.chunkLength(time: time))
      return blocks.reduce(0) { $0 + $1.count * (k * v + $1.length * $1.length * (1 + g)) }
    default: return time * k * v
    }
  }
}
