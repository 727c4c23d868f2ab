import Foundation
import TesseraCore
import TesseraZoo

/// `tessera bench attention`: tiled against naive softmax attention — forward time at long
/// sequences, forward + backward time, and the peak tensor memory of forward + backward.
///
/// Shapes follow `[B, T, H, D]` with B 1, H 8, D 64, causal (the case of
/// `Scripts/compare-pytorch.py`, which times `scaled_dot_product_attention` on the same shapes).
struct AttentionBench {
  let quick: Bool
  let filter: String?
  var budget: Double { quick ? 0.2 : 1.0 }

  func wanted(_ name: String) -> Bool { filter.map { name.contains($0) } ?? true }

  func run() {
    let heads = 8, dimension = 64
    var rng = RandomGenerator(seed: 0)
    let forwardLengths = quick ? [1024, 2048] : [1024, 2048, 4096, 8192]
    for t in forwardLengths where wanted("forward") {
      let q = rng.normal([1, t, heads, dimension]), k = rng.normal([1, t, heads, dimension])
      let v = rng.normal([1, t, heads, dimension])
      let name = "B1 T\(t) H\(heads) D\(dimension) causal"
      let tiled = BenchReport.time(budget: budget, minimumRepeats: 2) {
        _ = attention(q, k, v, form: .tiled(queryBlock: 128, keyBlock: 128))
      }
      BenchReport.emit("attention_forward", name, metric: "ms", value: tiled * 1e3, extra: ["impl": "\"tiled\""])
      // Causal attention: 2·T²·D multiply–adds per head for QKᵀ and PV, half of them masked.
      let flops = 2.0 * 2.0 * Double(t) * Double(t) * Double(dimension) * Double(heads) / 2
      BenchReport.emit(
        "attention_forward", name, metric: "gflops", value: flops / tiled / 1e9, extra: ["impl": "\"tiled\""])
      if t >= 4096 {
        // Other block shapes for long sequences: larger key blocks mean fewer, larger GEMMs.
        for (qb, kb) in [(64, 256), (128, 256), (256, 256)] {
          let seconds = BenchReport.time(budget: budget, minimumRepeats: 2) {
            _ = attention(q, k, v, form: .tiled(queryBlock: qb, keyBlock: kb))
          }
          BenchReport.emit(
            "attention_forward", name, metric: "ms", value: seconds * 1e3, extra: ["impl": "\"tiled \(qb)x\(kb)\""])
        }
      }
      if t <= 4096 {
        let naive = BenchReport.time(budget: budget, minimumRepeats: 2) { _ = attention(q, k, v, form: .reference) }
        BenchReport.emit("attention_forward", name, metric: "ms", value: naive * 1e3, extra: ["impl": "\"naive\""])
      }
    }
    let memoryLengths = quick ? [1024] : [4096, 8192]
    for t in memoryLengths where wanted("memory") {
      let q = rng.normal([1, t, heads, dimension]), k = rng.normal([1, t, heads, dimension])
      let v = rng.normal([1, t, heads, dimension]), dO = rng.normal([1, t, heads, dimension])
      let name = "B1 T\(t) H\(heads) D\(dimension) causal forward+backward"
      let inputs = TensorMemory.current
      for (impl, run) in [
        ("tiled", { attention($0, $1, $2, form: .tiled(queryBlock: 128, keyBlock: 128)) }),
        ("naive", { attention($0, $1, $2, form: .reference) }),
      ]
        as [(String, (Tensor, Tensor, Tensor) -> Tensor)]
      {
        TensorMemory.resetPeak()
        let start = DispatchTime.now().uptimeNanoseconds
        _ = valueAndPullback(at: [q, k, v], cotangent: dO) { x in run(x[0], x[1], x[2]) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let extra = ["impl": "\"\(impl)\""]
        BenchReport.emit(
          "attention_memory", name, metric: "peak_mib", value: Double(TensorMemory.peak - inputs) / 1_048_576,
          extra: extra)
        BenchReport.emit("attention_memory", name, metric: "ms", value: seconds * 1e3, extra: extra)
      }
    }
  }
}
