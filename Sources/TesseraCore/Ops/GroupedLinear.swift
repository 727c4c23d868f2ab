// A grouped linear map: consecutive row groups of one matrix, each through its own weight.
//   y[r, o] = Σ_i x[r, i] W_g[o, i]     for offsets[g] ≤ r < offsets[g + 1]
//   dx_g = g_g · W_g,   dW_g = g_gᵀ · x_g   (zero for a group without rows)
// One batched product per direction: the groups' products run whole, spread over the threads
// (the portable kernel's bits do not depend on how they are spread), and a group without rows
// costs nothing. What a mixture of experts runs after sorting its tokens by expert.

/// Weight gradients of a grouped product at least this large in all are written with
/// non-temporal stores (``GEMMKernel/sgemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:streaming:)``).
let groupedGradientStreamingBytes = 32 << 20

/// `x` `[M, in]` in consecutive row groups (`offsets`, `groups + 1` of them, from 0 to M), group
/// `g` times `weights[g]ᵀ` (`[out, in]`, one shape for all): `[M, out]`. Differentiable in `x`
/// and every weight.
public func groupedLinear(_ x: Tensor, weights: [Tensor], offsets: [Int]) -> Tensor {
  check(x.rank == 2, "groupedLinear: input must be [rows, in], got \(x.shape.shapeDescription)")
  check(
    !weights.isEmpty && offsets.count == weights.count + 1,
    "groupedLinear: \(offsets.count) offsets for \(weights.count) weights")
  let (outputs, inputs) = (weights[0].shape[0], weights[0].shape[1])
  for (g, w) in weights.enumerated() {
    check(
      w.shape == [outputs, inputs],
      "groupedLinear: weight \(g) is \(w.shape.shapeDescription), weight 0 \(weights[0].shape.shapeDescription)")
  }
  let rows = x.shape[0]
  check(x.shape[1] == inputs, "groupedLinear: input \(x.shape.shapeDescription) for weights of \(inputs) inputs")
  check(
    offsets.first == 0 && offsets.last == rows && zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 },
    "groupedLinear: offsets must rise from 0 to the \(rows) rows, got \(offsets)")
  let xs = x.contiguousUntraced()
  let ws = weights.map { $0.contiguousUntraced() }
  let out = Tensor(uninitializedShape: [rows, outputs])
  if rows > 0 && outputs > 0 {
    if inputs == 0 {
      out.storage.base.update(repeating: 0, count: out.count)
    } else {
      Runtime.prepareBLAS()
      var tiles: [GEMM.Tile] = []
      for g in weights.indices where offsets[g + 1] > offsets[g] {
        tiles.append(
          GEMM.Tile(
            a: xs.basePointer + offsets[g] * inputs, b: ws[g].basePointer, c: out.storage.base + offsets[g] * outputs,
            m: offsets[g + 1] - offsets[g], n: outputs))
      }
      // A = x rows [m, in]; B = W_gᵀ (W_g [out, in] read transposed).
      GEMM.run(
        tiles, GEMM.Operand(rows: rows, cols: inputs, rowStride: inputs, colStride: 1)!,
        GEMM.Operand(rows: inputs, cols: outputs, rowStride: 1, colStride: inputs)!, k: inputs, ldc: outputs,
        splitting: tiles.count < 2 * Runtime.threadCount)
    }
  }
  withExtendedLifetime((xs, ws)) {}
  return Tensor.record(out, op: "groupedLinear", inputs: [x] + weights) { g, needs in
    let gs = g.contiguousUntraced()
    var grads: [Tensor?] = Array(repeating: nil, count: weights.count + 1)
    let nonEmpty = weights.indices.filter { offsets[$0 + 1] > offsets[$0] }
    if needs[0] {
      let dx = Tensor(uninitializedShape: [rows, inputs])
      if rows > 0 && inputs > 0 {
        if outputs == 0 {
          dx.storage.base.update(repeating: 0, count: dx.count)
        } else {
          let tiles = nonEmpty.map { i in
            GEMM.Tile(
              a: gs.basePointer + offsets[i] * outputs, b: ws[i].basePointer, c: dx.storage.base + offsets[i] * inputs,
              m: offsets[i + 1] - offsets[i], n: inputs)
          }
          // A = g rows [m, out]; B = W_g [out, in].
          GEMM.run(
            tiles, GEMM.Operand(rows: rows, cols: outputs, rowStride: outputs, colStride: 1)!,
            GEMM.Operand(rows: outputs, cols: inputs, rowStride: inputs, colStride: 1)!, k: outputs, ldc: inputs,
            splitting: tiles.count < 2 * Runtime.threadCount)
        }
      }
      grads[0] = dx
    }
    // dW_g = g_gᵀ · x_g: the inner length is the group's rows, so each group is its own product.
    let wanted = weights.indices.filter { needs[$0 + 1] }
    // A group with rows has its gradient written whole by its product (β = 0); only an empty one is zero.
    let dw: [Tensor] = wanted.map {
      offsets[$0 + 1] > offsets[$0] && inputs > 0
        ? Tensor(uninitializedShape: [outputs, inputs]) : Tensor.zeros([outputs, inputs])
    }
    let work = wanted.filter { offsets[$0 + 1] > offsets[$0] }
    let slot = Dictionary(uniqueKeysWithValues: wanted.enumerated().map { ($1, $0) })
    let kernel = GEMMKernel.current  // read here: the worker threads below do not see task-local values
    // Gradients larger than a last-level cache in all (64 experts' [512, 256]: 32 MiB) are written
    // around the caches: they would only push out what the rest of the pass reads, and skipping the
    // caches saves reading each line before writing it (measured: 5% of these products, 2 threads).
    let streaming = work.count * outputs * inputs * MemoryLayout<Float>.size >= groupedGradientStreamingBytes
    func weightGradient(_ i: Int, split: Bool) {
      let m = offsets[i + 1] - offsets[i]
      // A = g_gᵀ [out, m] (g rows read transposed); B = x_g [m, in].
      let opA = GEMM.Operand(rows: outputs, cols: m, rowStride: 1, colStride: outputs)!
      let opB = GEMM.Operand(rows: m, cols: inputs, rowStride: inputs, colStride: 1)!
      let (a, b, c) = (
        gs.basePointer + offsets[i] * outputs, xs.basePointer + offsets[i] * inputs, dw[slot[i]!].storage.base
      )
      if split {
        GEMM.run([GEMM.Tile(a: a, b: b, c: c, m: outputs, n: inputs)], opA, opB, k: m, ldc: inputs)
      } else {
        GEMM.sgemm(
          opA, opB, m: outputs, n: inputs, k: m, a: a, b: b, c: c, ldc: inputs, kernel: kernel, streaming: streaming)
      }
    }
    if work.count >= 2 * Runtime.threadCount {
      Runtime.balancedFor(costs: work.map { offsets[$0 + 1] - offsets[$0] }) { weightGradient(work[$0], split: false) }
    } else {
      for i in work { weightGradient(i, split: true) }
    }
    for (k, i) in wanted.enumerated() { grads[i + 1] = dw[k] }
    withExtendedLifetime((gs, xs, ws)) {}
    return grads
  }
}
