import Foundation
import Testing
import TesseraCore
import _TestSupport

/// Softmax attention composed from core ops — matmul → scale → mask → softmax → matmul — in the
/// layout of the reference files: q `[B, T, HQ, D]`, k and v `[B, T, H, D]`, query head `i` reads
/// kv head `i / (HQ / H)`. `window` limits each query to the last `window` keys (itself included).
func composedAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, window: Int? = nil) -> Tensor {
  let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let h = k.shape[2]
  let qh = q.permuted(0, 2, 1, 3).reshaped(b, h, hq / h, t, d)  // [B, H, G, T, D]
  let kh = k.permuted(0, 2, 1, 3).expandingDimensions(at: 2)  // [B, H, 1, T, D]
  let vh = v.permuted(0, 2, 1, 3).expandingDimensions(at: 2)
  let scores = matmul(qh, kh.transposed()) * (1 / Float(d).squareRoot())  // [B, H, G, T, T]
  var allowed = Tensor.ones([t, t]).lowerTriangle()
  if let window { allowed = allowed * Tensor.ones([t, t]).upperTriangle(diagonal: -(window - 1)) }
  let masked = `where`(allowed, scores, -Float.infinity)
  let out = matmul(masked.softmax(), vh)  // [B, H, G, T, D]
  return out.reshaped(b, hq, t, d).permuted(0, 2, 1, 3)
}

/// The golden ops TesseraCore can compute by composition.
let composedGoldenOps: [String: @Sendable (SafeTensors.Contents) -> [String: Tensor]] = [
  "attention_causal": { goldenAttention($0, window: nil) },
  "attention_gqa": { goldenAttention($0, window: nil) },
  "attention_sliding_window": { goldenAttention($0, window: 5) },
]

@Sendable func goldenAttention(_ file: SafeTensors.Contents, window: Int?) -> [String: Tensor] {
  let inputs = ["q", "k", "v"].map { file.tensors[$0]! }
  let (o, grads) = valueAndPullback(at: inputs, cotangent: file.tensors["d_o"]!) { x in
    composedAttention(x[0], x[1], x[2], window: window)
  }
  return ["o": o, "grad_q": grads[0], "grad_k": grads[1], "grad_v": grads[2]]
}

@Suite("Reference vectors by composition of core ops")
struct GoldenAttentionTests {
  static let files = GoldenVectors.files()

  /// The folder of the repository (or `TESSERA_GOLDEN_DIR`) holds a readable file for every op
  /// composed here; a missing folder or file fails, naming it.
  @Test("the golden folder holds every op composed here")
  func folderHoldsTheOps() {
    if let problem = GoldenVectors.folderProblem { Issue.record("\(problem)") }
    for file in Self.files where file.op == nil {
      Issue.record("unreadable golden file \(file.name): \(file.problem ?? "no op")")
    }
    let ops = Set(Self.files.compactMap(\.op))
    for op in composedGoldenOps.keys.sorted() where !ops.contains(op) {
      Issue.record("no golden file of op \(op) in \(GoldenVectors.directory)")
    }
  }

  /// Outputs within 1e-5 and gradients within 1e-4 relative RMS error (the golden README's bounds
  /// for float32).
  /// Only the ops composed here; every golden file is accounted for by the golden suite of
  /// TesseraZooTests.
  @Test("output and gradients match", arguments: files.filter { composedGoldenOps[$0.op ?? ""] != nil })
  func matches(_ golden: GoldenVectors.File) throws {
    let compute = composedGoldenOps[golden.op!]!
    let file = try golden.load()
    let ours = compute(file)
    for (name, value) in ours.sorted(by: { $0.key < $1.key }) {
      let reference = try #require(file.tensors[name], "\(golden) has no \(name)")
      let bound: Float = name == "o" ? 1e-5 : 1e-4
      let error = value.relativeError(to: reference)
      if ProcessInfo.processInfo.environment["SHOW_ERRORS"] != nil { print("GOLDEN", golden.name, name, error) }
      #expect(error <= bound, "\(golden): \(name) relative RMS error \(error)")
    }
  }
}
