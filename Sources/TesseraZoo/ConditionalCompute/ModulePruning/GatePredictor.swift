import TesseraCore
import TesseraNN

/// The gate predictor of module pruning (``GatingSpec``): each sequence's context id embedded
/// and / or the mean of its input embeddings projected, to `hidden`, ReLU, then keep/skip logits
/// for every gated module: `[B, T, D]` embeddings → `[B, modules, 2]` (class 1 = keep). The keep
/// logits start 2 above the skip logits, so every module starts almost always on.
public final class GatePredictor: Module {
  public let spec: GatingSpec
  public let moduleCount: Int
  public let contextEmbedding: Embedding?
  public let pooledProjection: Linear?
  public let output: Linear

  public init(_ spec: GatingSpec, width: Int, modules: Int, generator: inout RandomGenerator) {
    self.spec = spec
    moduleCount = modules
    contextEmbedding = spec.inputs == .pooled ? nil : Embedding(spec.contexts, spec.hidden, generator: &generator)
    pooledProjection = spec.inputs == .context ? nil : Linear(width, spec.hidden, generator: &generator)
    output = Linear(spec.hidden, 2 * modules, generator: &generator)
    output.bias = Tensor((0..<(2 * modules)).map { $0 % 2 == 1 ? 2 : 0 }, shape: [2 * modules])
  }

  /// Keep/skip logits `[B, modules, 2]` from the input embeddings `[B, T, D]` and one context id
  /// per sequence (needed when the spec's inputs include it).
  public func logits(embeddings x: Tensor, contexts: [Int]?) -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    var hidden: Tensor?
    if let contextEmbedding {
      guard let contexts else {
        checkFailed(
          "the model's gate predictor reads a context id per sequence: pass ForwardOptions(contexts:) (a task's batches carry them)"
        )
      }
      check(contexts.count == b, "gate predictor: \(contexts.count) context ids for \(b) sequences")
      if let bad = contexts.first(where: { !(0..<spec.contexts).contains($0) }) {
        checkFailed("gate predictor: context id \(bad) is outside 0..<\(spec.contexts) (gating.contexts)")
      }
      hidden = contextEmbedding(IndexTensor(contexts, shape: [b]))
    }
    if let pooledProjection {
      let n = min(spec.pooledPrefix ?? t, t)
      let pooled = pooledProjection(x.slice(axis: 1, 0..<n).mean(axis: 1))
      hidden = hidden.map { $0 + pooled } ?? pooled
    }
    return output(hidden!.relu()).reshaped(b, moduleCount, 2)
  }
}
