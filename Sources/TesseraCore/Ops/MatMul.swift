internal import CBLAS
internal import CKernels

// Matrix product with NumPy batch broadcasting, through cblas_sgemm.
//   C[..., m, n] = Σ_k A[..., m, k] B[..., k, n]
//   dA = g · Bᵀ,  dB = Aᵀ · g  (summed over the batch axes each operand was broadcast along)
// Transposed views reach sgemm as transpose flags, not copies.

extension Tensor {
  /// Matrix product `self · other` (see ``matmul(_:_:)``).
  public func matmul(_ other: Tensor) -> Tensor { TesseraCore.matmul(self, other) }
}

/// Matrix product with batch broadcasting: `[..., m, k] × [..., k, n] → [..., m, n]`.
/// A rank-1 left operand is a row `[1, k]`, a rank-1 right operand a column `[k, 1]`; the added
/// axis is removed from the result, as in NumPy.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
  check(
    a.rank >= 1 && b.rank >= 1,
    "matmul: \(a.shape.shapeDescription) × \(b.shape.shapeDescription): operands must have rank ≥ 1")
  if a.rank == 1 {
    let r = matmul(a.expandingDimensions(at: 0), b)
    return r.squeezed(axes: [r.rank - 2])
  }
  if b.rank == 1 {
    let r = matmul(a, b.expandingDimensions(at: 1))
    return r.squeezed(axes: [r.rank - 1])
  }
  let k = a.shape[a.rank - 1]
  check(
    k == b.shape[b.rank - 2],
    "matmul: \(a.shape.shapeDescription) × \(b.shape.shapeDescription): inner dimensions \(k) and \(b.shape[b.rank - 2]) differ"
  )
  let out = GEMM.product(a, b)
  return Tensor.record(out, op: "matmul", inputs: [a, b]) { g, needs in
    var ga: Tensor? = nil, gb: Tensor? = nil
    if needs[0] {
      if a.rank == 2 && b.rank == 2 {
        ga = GEMM.product(g, b.transposed())
      } else {
        ga = GEMM.product(g, b.transposed()).sum(toShape: a.shape)
      }
    }
    if needs[1] {
      if b.rank == 2 {
        // Fold the batch into the rows: dB = A_flatᵀ · g_flat, no [batch, k, n] temporary. When B
        // is a transposed view (a Linear layer's Wᵀ), compute dBᵀ = g_flatᵀ · A_flat instead, so
        // the gradient comes out in B's own layout and W's gradient is dense.
        let n = b.shape[1]
        let aFlat = a.detached().reshaped([-1, k]), gFlat = g.reshaped([-1, n])
        if b.strides[0] == 1 && b.strides[1] != 1 {
          gb = GEMM.product(gFlat.transposed(), aFlat).transposed()
        } else {
          gb = GEMM.product(aFlat.transposed(), gFlat)
        }
      } else {
        gb = GEMM.product(a.transposed(), g).sum(toShape: b.shape)
      }
    }
    return [ga, gb]
  }
}

enum GEMM {
  /// How a `rows × cols` matrix view reaches sgemm.
  struct Operand {
    var transposed: Bool
    var leadingDimension: Int

    /// nil when the view needs a dense copy first.
    init?(rows: Int, cols: Int, rowStride: Int, colStride: Int) {
      if (colStride == 1 || cols == 1) && (rowStride >= Swift.max(1, cols) || rows == 1) {
        transposed = false
        leadingDimension = rows == 1 ? Swift.max(cols, 1) : rowStride
      } else if (rowStride == 1 || rows == 1) && (colStride >= Swift.max(1, rows) || cols == 1) {
        transposed = true
        leadingDimension = cols == 1 ? Swift.max(rows, 1) : colStride
      } else {
        return nil
      }
    }
  }

  /// The batched product of two rank-≥2 tensors, untraced.
  static func product(_ a0: Tensor, _ b0: Tensor) -> Tensor {
    Runtime.prepareBLAS()
    var a = a0, b = b0
    let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
    var opA = Operand(rows: m, cols: k, rowStride: a.strides[a.rank - 2], colStride: a.strides[a.rank - 1])
    if opA == nil {
      a = a.contiguousCopy()
      opA = Operand(rows: m, cols: k, rowStride: k, colStride: 1)
    }
    var opB = Operand(rows: k, cols: n, rowStride: b.strides[b.rank - 2], colStride: b.strides[b.rank - 1])
    if opB == nil {
      b = b.contiguousCopy()
      opB = Operand(rows: k, cols: n, rowStride: n, colStride: 1)
    }
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    let batch = Shape.broadcast(
      batchA, batchB, op: "matmul \(a0.shape.shapeDescription) × \(b0.shape.shapeDescription)")
    let out = Tensor(uninitializedShape: batch + [m, n])
    if out.count == 0 { return out }
    let c = out.storage.base
    if k == 0 {
      c.update(repeating: 0, count: out.count)
      return out
    }
    let pa = a.storage.base + a.offset, pb = b.storage.base + b.offset
    let batchCount = Shape.count(batch)
    let sa = Shape.broadcastStrides(shape: batchA, strides: Array(a.strides.dropLast(2)), to: batch)
    let sb = Shape.broadcastStrides(shape: batchB, strides: Array(b.strides.dropLast(2)), to: batch)

    // One GEMM when B is shared by the whole batch and A's rows stack densely: M = batch·m.
    if sb.allSatisfy({ $0 == 0 }) && !opA!.transposed && batchCount > 1 {
      let rows = StridedRows(shape: batch + [m], strides: [sa + [opA!.leadingDimension]])
      if rows.rowCount == 1 && rows.rowStrides[0] == opA!.leadingDimension {
        run([Tile(a: pa, b: pb, c: c, m: batchCount * m, n: n)], opA!, opB!, k: k, ldc: n)
        return out
      }
    }
    var tiles: [Tile] = []
    tiles.reserveCapacity(batchCount)
    let rows = StridedRows(shape: batch.isEmpty ? [1] : batch, strides: [sa.isEmpty ? [0] : sa, sb.isEmpty ? [0] : sb])
    let len = rows.rowLength, ra = rows.rowStrides[0], rb = rows.rowStrides[1]
    rows.forEachRow(in: 0..<rows.rowCount) { r, off in
      for i in 0..<len {
        tiles.append(Tile(a: pa + off[0] + i * ra, b: pb + off[1] + i * rb, c: c + (r * len + i) * m * n, m: m, n: n))
      }
    }
    run(tiles, opA!, opB!, k: k, ldc: n)
    return out
  }

  /// One sgemm call: `C[m, n] = op(A)[m, k] · op(B)[k, n]` at the given pointers.
  struct Tile {
    var a: UnsafePointer<Float>
    var b: UnsafePointer<Float>
    var c: UnsafeMutablePointer<Float>
    var m: Int
    var n: Int
  }

  /// Splits large tiles into pieces whose bounds depend only on the shape, then runs all pieces
  /// over the threads, each on single-threaded OpenBLAS. OpenBLAS's own threading changes results
  /// with the thread count; this partition does not, so the product is bit-identical for any
  /// ``Runtime/threadCount``.
  ///
  /// A tile is cut along its longer side (rows when m ≥ n): each piece repacks the operand it
  /// shares with the others, which costs least when that operand is the smaller one. Four pieces
  /// (eight above 2³⁰ multiply–adds) keep two threads busy with few repacks; pieces are at least
  /// 32 wide, so a `[256, 256]` weight gradient over 2,048 rows is split too.
  static func piecesCount(m: Int, n: Int, k: Int) -> Int {
    let work = m * n * k
    guard work >= 1 << 21 else { return 1 }
    let wanted = work >= 1 << 30 ? 8 : 4
    return Swift.max(1, Swift.min(wanted, Swift.max(m, n) / 32))
  }

  /// Rows (or columns) per piece when `length` is cut into `pieces`: a multiple of 16.
  static func pieceLength(_ length: Int, pieces: Int) -> Int { ((length + pieces - 1) / pieces + 15) / 16 * 16 }

  /// With `splitting` false the tiles run whole, spread over the threads (many small products,
  /// such as a mixture's experts: splitting them would repack each one's operands).
  static func run(
    _ tiles: [Tile], _ opA: Operand, _ opB: Operand, k: Int, ldc: Int, beta: Float = 0, splitting: Bool = true
  ) {
    let kernel = GEMMKernel.current  // read here: the worker threads below do not see task-local values
    check(beta == 0 || beta == 1, "GEMM: β must be 0 or 1, got \(beta)")
    if !splitting {
      tiles.withUnsafeBufferPointer { list in
        Runtime.balancedFor(costs: list.map { $0.m * $0.n }) { i in
          let t = list[i]
          sgemm(opA, opB, m: t.m, n: t.n, k: k, a: t.a, b: t.b, c: t.c, ldc: ldc, beta: beta, kernel: kernel)
        }
      }
      return
    }
    if kernel.mode == .portable, tiles.count == 1, Runtime.threadCount > 1 {
      let t = tiles[0]
      let count = Swift.min(piecesCount(m: t.m, n: t.n, k: k), t.m / 16)
      if count > 1 {
        runSharingB(t, opA, opB, k: k, ldc: ldc, beta: beta, pieces: count, variant: kernel.variant)
        return
      }
    }
    var pieces: [Tile] = []
    pieces.reserveCapacity(tiles.count)
    for t in tiles {
      let count = piecesCount(m: t.m, n: t.n, k: k)
      guard count > 1 else {
        pieces.append(t)
        continue
      }
      if t.m >= t.n {
        let step = pieceLength(t.m, pieces: count)
        var i = 0
        while i < t.m {
          let rows = Swift.min(step, t.m - i)
          let aOffset = opA.transposed ? i : i * opA.leadingDimension
          pieces.append(Tile(a: t.a + aOffset, b: t.b, c: t.c + i * ldc, m: rows, n: t.n))
          i += rows
        }
      } else {
        let step = pieceLength(t.n, pieces: count)
        var j = 0
        while j < t.n {
          let cols = Swift.min(step, t.n - j)
          let bOffset = opB.transposed ? j * opB.leadingDimension : j
          pieces.append(Tile(a: t.a, b: t.b + bOffset, c: t.c + j, m: t.m, n: cols))
          j += cols
        }
      }
    }
    let total = pieces.reduce(0) { $0 + $1.m * $1.n } * k
    if pieces.count == 1 || total < 1 << 18 {
      for p in pieces {
        sgemm(opA, opB, m: p.m, n: p.n, k: k, a: p.a, b: p.b, c: p.c, ldc: ldc, beta: beta, kernel: kernel)
      }
      return
    }
    pieces.withUnsafeBufferPointer { list in
      Runtime.parallelFor(list.count, grain: 1) { range in
        for p in list[range] {
          sgemm(opA, opB, m: p.m, n: p.n, k: k, a: p.a, b: p.b, c: p.c, ldc: ldc, beta: beta, kernel: kernel)
        }
      }
    }
  }

  /// One product split into row blocks over the threads, op(B) packed once for all of them (the
  /// packing split over the threads by column panels). The portable kernel's bits do not depend on
  /// the split, so this partition may follow the thread count; each block would otherwise pack
  /// all of op(B) again (measured: 15–20% of a training step).
  static func runSharingB(
    _ t: Tile, _ opA: Operand, _ opB: Operand, k: Int, ldc: Int, beta: Float, pieces: Int,
    variant: GEMMKernel.Variant
  ) {
    let code = variant.code
    let panels = tessera_gemm_b_panel_count(code, t.n)
    guard let packed = tessera_gemm_shared_buffer(tessera_gemm_packed_b_count(code, t.n, k)) else {
      fatalError("GEMM: out of memory packing a [\(k), \(t.n)] operand")
    }
    let (b, ldb, transB) = (t.b, opB.leadingDimension, opB.transposed ? Int32(1) : 0)
    let slices = Swift.min(panels, 4 * Runtime.threadCount)
    Runtime.parallelFor(slices, grain: 1) { range in
      for s in range {
        tessera_gemm_pack_b(code, transB, t.n, k, b, ldb, s * panels / slices, (s + 1) * panels / slices, packed)
      }
    }
    let step = pieceLength(t.m, pieces: pieces)
    let count = (t.m + step - 1) / step
    let transA: Int32 = opA.transposed ? 1 : 0
    Runtime.parallelFor(count, grain: 1) { range in
      for p in range {
        let i = p * step, rows = Swift.min(step, t.m - p * step)
        let a = t.a + (opA.transposed ? i : i * opA.leadingDimension)
        let status = tessera_sgemm_fma_chain_packed_b(
          code, transA, rows, t.n, k, 1, a, opA.leadingDimension, packed, t.c + i * ldc, ldc, beta == 1 ? 1 : 0)
        check(status == 0, "GEMM: the \(variant.rawValue) kernel failed (status \(status))")
      }
    }
  }

  @inline(__always)
  static func sgemm(
    _ opA: Operand, _ opB: Operand, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0,
    kernel: GEMMKernel, streaming: Bool = false
  ) {
    kernel.sgemm(
      transA: opA.transposed, transB: opB.transposed, m: m, n: n, k: k, a: a, lda: opA.leadingDimension, b: b,
      ldb: opB.leadingDimension, beta: beta, c: c, ldc: ldc, streaming: streaming)
  }

}
