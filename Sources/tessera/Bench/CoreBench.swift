import CBLAS
import Foundation
import TesseraCore

/// `tessera bench core`: GEMM through `matmul` next to a bare `cblas_sgemm` of the same size,
/// bandwidth of the row kernels and elementwise ops, and a small MLP training step.
struct CoreBench {
  let quick: Bool
  let filter: String?
  var budget: Double { quick ? 0.15 : 0.6 }

  func wanted(_ name: String) -> Bool { filter.map { name.contains($0) } ?? true }

  mutating func run() {
    var rng = RandomGenerator(seed: 0)
    // Square GEMMs, then the shapes of a transformer layer (tokens 2048, model 256, MLP 1024):
    // NN forward, NT (x·Wᵀ as in Linear), TN (Aᵀ·B as in a weight gradient).
    if wanted("matmul") || wanted("fma-chain") {
      var cases: [GEMMCase] = (quick ? [512, 1024] : [512, 1024, 2048]).map { n in
        GEMMCase(
          name: "\(n)x\(n)x\(n)", a: rng.normal([n, n]), b: rng.normal([n, n]), transposeA: false, transposeB: false)
      }
      cases.append(
        GEMMCase(
          name: "NN 2048x256 · 256x1024", a: rng.normal([2048, 256]), b: rng.normal([256, 1024]), transposeA: false,
          transposeB: false))
      cases.append(
        GEMMCase(
          name: "NT 2048x256 · (1024x256)ᵀ", a: rng.normal([2048, 256]), b: rng.normal([1024, 256]), transposeA: false,
          transposeB: true))
      cases.append(
        GEMMCase(
          name: "TN (256x2048)ᵀ · 256x1024", a: rng.normal([256, 2048]), b: rng.normal([256, 1024]), transposeA: true,
          transposeB: false))
      if wanted("matmul") { gemm(cases) }
      if wanted("fma-chain") { fmaChain(cases) }
    }
    let rows = quick ? 2048 : 8192
    if wanted("softmax") {
      let x = rng.normal([rows, 1024])
      let t = BenchReport.time(budget: budget) { _ = x.softmax() }
      BenchReport.emit("softmax", "\(rows)x1024", metric: "gbps", value: Double(2 * x.count * 4) / t / 1e9)
    }
    if wanted("layerNorm") {
      let x = rng.normal([rows, 512]), w = rng.normal([512]), b = rng.normal([512])
      let t = BenchReport.time(budget: budget) { _ = layerNorm(x, weight: w, bias: b) }
      BenchReport.emit("layerNorm", "\(rows)x512", metric: "gbps", value: Double(2 * x.count * 4) / t / 1e9)
    }
    if wanted("elementwise") {
      let n = quick ? 1 << 20 : 1 << 22
      let a = rng.normal([n]), b = rng.normal([n])
      let tAdd = BenchReport.time(budget: budget) { _ = a + b }
      BenchReport.emit("elementwise", "add \(n)", metric: "gbps", value: Double(3 * n * 4) / tAdd / 1e9)
      let tExp = BenchReport.time(budget: budget) { _ = a.exp() }
      BenchReport.emit("elementwise", "exp \(n)", metric: "gbps", value: Double(2 * n * 4) / tExp / 1e9)
      let m = b.reshaped(-1, 1024)
      let bias = rng.normal([1024])
      let tBias = BenchReport.time(budget: budget) { _ = m + bias }
      BenchReport.emit(
        "elementwise", "add broadcast [\(n / 1024),1024]+[1024]", metric: "gbps", value: Double(2 * n * 4) / tBias / 1e9
      )
    }
    if wanted("mlp") { mlpStep(&rng) }
  }

  struct GEMMCase {
    var name: String
    var a: Tensor
    var b: Tensor
    var transposeA: Bool
    var transposeB: Bool

    var m: Int { transposeA ? a.shape[1] : a.shape[0] }
    var k: Int { transposeA ? a.shape[0] : a.shape[1] }
    var n: Int { transposeB ? b.shape[0] : b.shape[1] }
    var flops: Double { 2.0 * Double(m) * Double(n) * Double(k) }

    /// Seconds per product on `kernel` over the operands' plain buffers (one call: no `Tensor`, no
    /// split over threads beyond what the kernel does itself).
    func time(on kernel: GEMMKernel, budget: Double) -> Double {
      let (m, n, k) = (self.m, self.n, self.k)
      let aData = a.scalars, bData = b.scalars
      let (lda, ldb) = (a.shape[1], b.shape[1])
      var out = [Float](repeating: 0, count: m * n)
      return BenchReport.time(budget: budget) {
        kernel.sgemm(
          transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: aData, lda: lda, b: bData, ldb: ldb, c: &out,
          ldc: n)
      }
    }
  }

  /// Times `matmul` on (possibly transposed) views, then a bare `cblas_sgemm` on the same
  /// buffers with OpenBLAS's own threading over ``Runtime/threadCount`` threads. (Tessera keeps
  /// OpenBLAS single-threaded and splits GEMMs itself, so that results do not depend on the
  /// thread count.) All Tessera cases run first: once OpenBLAS's thread pool has worked, its
  /// threads spin for a while and would steal a core from the next measurement.
  func gemm(_ cases: [GEMMCase]) {
    let ours = cases.map { c -> Double in
      let lhs = c.transposeA ? c.a.transposed() : c.a
      let rhs = c.transposeB ? c.b.transposed() : c.b
      return BenchReport.time(budget: budget) { _ = matmul(lhs, rhs) }
    }
    openblas_set_num_threads(Int32(Runtime.threadCount))
    defer { openblas_set_num_threads(1) }
    for (c, ourTime) in zip(cases, ours) {
      let flops = c.flops
      let bare = c.time(on: .fast, budget: budget)
      BenchReport.emit("matmul", c.name, metric: "gflops", value: flops / ourTime / 1e9, extra: ["impl": "\"tessera\""])
      BenchReport.emit("matmul", c.name, metric: "gflops", value: flops / bare / 1e9, extra: ["impl": "\"cblas\""])
      BenchReport.emit("matmul", c.name, metric: "overhead_percent", value: (ourTime / bare - 1) * 100)
    }
  }

  /// The ISA-independent FMA-chain GEMM (`tessera_sgemm_fma_chain`, every variant this CPU runs)
  /// against single-threaded OpenBLAS on the same buffers, one thread each, in paired rounds (the
  /// two alternate, and the ratio is the median of the rounds' ratios, so a slow moment of a
  /// shared machine slows both sides of a round): the ratio says what the portable mode costs per
  /// core.
  func fmaChain(_ cases: [GEMMCase]) {
    openblas_set_num_threads(1)
    let rounds = quick ? 3 : 7
    for c in cases {
      let flops = c.flops
      for variant in GEMMKernel.Variant.allCases where variant.isSupported {
        if variant == .baseline && flops > 1e9 { continue }  // software fmaf: minutes
        let times = BenchReport.paired(
          rounds: rounds, { c.time(on: .fast, budget: budget / 2) },
          { c.time(on: .portable(variant), budget: budget / 2) })
        let name = variant.rawValue
        BenchReport.emit(
          "fma_chain", c.name, metric: "gflops", value: flops / times.first / 1e9,
          extra: ["impl": "\"cblas 1 thread\"", "paired_with": "\"\(name)\""])
        BenchReport.emit(
          "fma_chain", c.name, metric: "gflops", value: flops / times.second / 1e9, extra: ["impl": "\"\(name)\""])
        BenchReport.emit(
          "fma_chain", c.name, metric: "ratio_to_cblas", value: times.ratio,
          extra: times.spread(rounds: rounds).merging(["impl": "\"\(name)\""]) { a, _ in a })
      }
    }
  }

  /// One training step of a 2-layer GELU MLP (forward, backward, SGD update).
  func mlpStep(_ rng: inout RandomGenerator) {
    let batch = quick ? 256 : 1024, width = 256, hidden = 1024
    let x = rng.normal([batch, width]), y = rng.normal([batch, width])
    var params: [String: Tensor] = [
      "w1": rng.normal([width, hidden], standardDeviation: 0.05), "b1": Tensor.zeros([hidden]),
      "w2": rng.normal([hidden, width], standardDeviation: 0.05), "b2": Tensor.zeros([width]),
    ]
    let t = BenchReport.time(budget: budget) {
      let (_, g) = valueAndGradient(at: params) { p in
        let h = (matmul(x, p["w1"]!) + p["b1"]!).gelu()
        return (matmul(h, p["w2"]!) + p["b2"]! - y).square().mean()
      }
      for key in params.keys.sorted() { params[key] = params[key]! - g[key]! * 0.01 }
    }
    BenchReport.emit("mlp", "fwd+bwd+sgd batch \(batch) \(width)-\(hidden)-\(width)", metric: "ms", value: t * 1e3)
  }

  /// Re-runs the GEMM cases in child processes, one per kernel family this CPU can run.
  static func compareKernelFamilies(quick: Bool) throws {
    for core in BLASCore.runnable {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: ThisExecutable.forChildren)
      process.arguments = ["bench", "core", "--filter", "matmul"] + (quick ? ["--quick"] : [])
      var env = ProcessInfo.processInfo.environment
      env["OPENBLAS_CORETYPE"] = core
      process.environment = env
      try process.run()
      process.waitUntilExit()
    }
  }
}
