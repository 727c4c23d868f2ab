import Foundation
import TesseraCore

/// Timing and JSON-line output shared by the benchmark groups.
enum BenchReport {
  /// Prints one JSON object; `bench`, `case`, `metric`, `value` first, then `extra` sorted.
  static func emit(_ bench: String, _ name: String, metric: String, value: Double, extra: [String: String] = [:]) {
    var fields: [(String, String)] = [
      ("bench", json(bench)), ("case", json(name)), ("metric", json(metric)),
      ("value", value.isFinite ? String(format: "%.4g", value) : "null"),
      ("threads", String(Runtime.threadCount)), ("blas_core", json(Runtime.blasCore)),
      ("gemm", json("\(GEMMKernel.current.mode.rawValue)/\(GEMMKernel.current.instructionSet)")),
    ]
    for key in extra.keys.sorted() { fields.append((key, extra[key]!)) }
    print("{" + fields.map { "\(json($0.0)): \($0.1)" }.joined(separator: ", ") + "}")
    fflush(nil)
  }

  static func json(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }

  /// Median seconds per call of `body`, after one warm-up, over at least `minimumRepeats`
  /// calls and about `budget` seconds.
  static func time(budget: Double, minimumRepeats: Int = 3, _ body: () -> Void) -> Double {
    body()
    var samples: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    while samples.count < minimumRepeats || Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 < budget {
      let t0 = DispatchTime.now().uptimeNanoseconds
      body()
      samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
      if samples.count >= 1000 { break }
    }
    samples.sort()
    return samples[samples.count / 2]
  }

  /// Two timings taken in alternating rounds, so that a slow moment of a shared machine slows both
  /// sides of a round: the median seconds of each side and the median, lowest and highest of the
  /// rounds' ratios `first ÷ second`.
  struct Paired {
    var first: Double
    var second: Double
    var ratio: Double
    var low: Double
    var high: Double

    /// `low`, `high` and the round count as extra fields of an emitted line.
    func spread(rounds: Int) -> [String: String] {
      ["rounds": "\(rounds)", "low": String(format: "%.3f", low), "high": String(format: "%.3f", high)]
    }
  }

  static func paired(rounds: Int, _ first: () -> Double, _ second: () -> Double) -> Paired {
    var firsts: [Double] = [], seconds: [Double] = [], ratios: [Double] = []
    for _ in 0..<rounds {
      let a = first(), b = second()
      firsts.append(a)
      seconds.append(b)
      ratios.append(a / b)
    }
    func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
    return Paired(
      first: median(firsts), second: median(seconds), ratio: median(ratios), low: ratios.min()!, high: ratios.max()!)
  }
}
