import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

/// An attention form under test.
enum AttentionForm: String, CaseIterable, CustomStringConvertible, Sendable {
  case naive, tiled
  var description: String { rawValue }
  func run(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask, blocks: (Int, Int) = (16, 16)) -> Tensor {
    switch self {
    case .naive: return attention(q, k, v, mask: mask, form: .reference)
    case .tiled: return attention(q, k, v, mask: mask, form: .tiled(queryBlock: blocks.0, keyBlock: blocks.1))
    }
  }
}

/// Output and q/k/v gradients of `form` for the cotangent `dO`.
func attentionWithGradients(
  _ form: AttentionForm, _ q: Tensor, _ k: Tensor, _ v: Tensor, dO: Tensor, mask: AttentionMask,
  blocks: (Int, Int) = (16, 16)
) -> [String: Tensor] {
  let (o, g) = valueAndPullback(at: [q, k, v], cotangent: dO) { x in
    form.run(x[0], x[1], x[2], mask: mask, blocks: blocks)
  }
  return ["o": o, "grad_q": g[0], "grad_k": g[1], "grad_v": g[2]]
}

/// RMS(a − b) / RMS(b); where the reference is exactly zero (one visible key: T = 1, or a window
/// of one), only an exact zero passes.
func agreementError(_ a: Tensor, _ b: Tensor) -> Float {
  let error = a.relativeError(to: b)
  if ProcessInfo.processInfo.environment["SHOW_ERRORS"] != nil { print("ERROR", error) }
  return error
}

@Suite("Softmax attention")
struct AttentionTests {
  static let lengths = [1, 7, 63, 64, 65, 130, 1000]
  static let masks: [AttentionMask] = [.none, .causal, .slidingWindow(9)]

  /// Tiled against naive: relative RMS error ≤ 2e-6 (outputs) and ≤ 1e-5 (gradients), head
  /// dimensions 8 and 16. With one visible key (T = 1, or the first query of a causal mask) the
  /// query and key gradients are zero in exact arithmetic: the naive form returns exact zeros
  /// and so must the tiled one (no floor on the error hides rounding noise there).
  @Test(
    "tiled equals naive: outputs and gradients, awkward lengths, head sizes, block sizes, masks, GQA",
    arguments: Self.lengths)
  func tiledEqualsNaive(_ time: Int) {
    let blockSizes = time >= 500 ? [(64, 64), (128, 32)] : [(16, 16), (17, 33), (64, 64)]
    for (hq, h) in [(2, 2), (4, 2), (4, 1)] {
      for d in time >= 500 ? [8] : [8, 16] {
        for mask in Self.masks + [.slidingWindow(1)] {
          let seed = UInt64(time * 1000 + hq * 100 + h * 10 + d)
          let q = RandomTensors.make([2, time, hq, d], seed: seed)
          let k = RandomTensors.make([2, time, h, d], seed: seed + 1)
          let v = RandomTensors.make([2, time, h, d], seed: seed + 2)
          let dO = RandomTensors.make([2, time, hq, d], seed: seed + 3)
          let reference = attentionWithGradients(.naive, q, k, v, dO: dO, mask: mask)
          for blocks in blockSizes {
            let tiled = attentionWithGradients(.tiled, q, k, v, dO: dO, mask: mask, blocks: blocks)
            for (name, value) in tiled {
              let error = agreementError(value, reference[name]!)
              #expect(
                error <= (name == "o" ? 2e-6 : 1e-5),
                "T \(time), heads \(hq)/\(h), D \(d), \(mask), blocks \(blocks): \(name) error \(error)")
            }
          }
        }
      }
    }
  }

  @Test("tiled attention gives the same bits with 1 and 2 threads")
  func deterministic() {
    let q = RandomTensors.make([2, 70, 4, 8], seed: 1), k = RandomTensors.make([2, 70, 2, 8], seed: 2)
    let v = RandomTensors.make([2, 70, 2, 8], seed: 3), dO = RandomTensors.make([2, 70, 4, 8], seed: 4)
    let results = [1, 2].map { threads in
      Runtime.withThreadCount(threads) { attentionWithGradients(.tiled, q, k, v, dO: dO, mask: .causal) }
    }
    for name in results[0].keys { #expect(results[0][name]!.scalars == results[1][name]!.scalars, "\(name)") }
  }
}
