import Foundation
import Testing
import TesseraCore
import _TestSupport

/// `C = A·B` by three loops in Double, the reference for the BLAS path.
func naiveMatmul(_ a: Tensor, _ b: Tensor) -> [Float] {
  let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
  var c = [Float](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var s: Double = 0
      for p in 0..<k { s += Double(a[index: i, p]) * Double(b[index: p, j]) }
      c[i * n + j] = Float(s)
    }
  }
  return c
}

@Suite("Tensor semantics")
struct TensorTests {
  /// Shapes that stay in one sgemm call, and shapes large enough to be split into tiles along M
  /// or N; operands dense, transposed views, and strided views.
  @Test(
    "matmul equals the naive product", arguments: [(3, 4, 5), (70, 33, 9), (300, 40, 200), (40, 50, 600)],
    [Layout.contiguous, .transposed, .strided])
  func matmulMatchesNaive(_ dims: (Int, Int, Int), _ layout: Layout) {
    let (m, k, n) = dims
    let a = layout.apply(RandomTensors.make([m, k], seed: 1)), b = layout.apply(RandomTensors.make([k, n], seed: 2))
    let c = matmul(a, b)
    #expect(c.shape == [m, n])
    let reference = Tensor(naiveMatmul(a, b), shape: [m, n])
    #expect(c.relativeError(to: reference) < 1e-6, "\(dims) \(layout)")
  }

  @Test("batched matmul broadcasts batch axes like NumPy")
  func batchedMatmul() {
    let a = RandomTensors.make([2, 1, 130, 8], seed: 3), b = RandomTensors.make([3, 8, 140], seed: 4)
    let c = matmul(a, b)
    #expect(c.shape == [2, 3, 130, 140])
    for i in 0..<2 {
      for j in 0..<3 {
        let expected = Tensor(naiveMatmul(a[i][0], b[j]), shape: [130, 140])
        #expect(c[i][j].relativeError(to: expected) < 1e-6)
      }
    }
    // Batch folded into rows: [4, 5, 6] · [6, 7].
    let x = RandomTensors.make([4, 5, 6], seed: 5), w = RandomTensors.make([6, 7], seed: 6)
    let y = matmul(x, w)
    for i in 0..<4 { #expect(y[i].relativeError(to: Tensor(naiveMatmul(x[i], w), shape: [5, 7])) < 1e-6) }
  }

  @Test("broadcasting arithmetic and reductions give the expected numbers")
  func arithmetic() {
    let a = Tensor([[1, 2, 3], [4, 5, 6]])
    let b = Tensor([10, 20, 30])
    #expect((a + b).scalars == [11, 22, 33, 14, 25, 36])
    #expect((a * Tensor([[2], [3]])).scalars == [2, 4, 6, 12, 15, 18])
    #expect(a.sum(axis: 0).scalars == [5, 7, 9])
    #expect(a.sum(axis: 1, keepDimensions: true).shape == [2, 1])
    #expect(a.mean().scalar == 3.5)
    #expect(a.max(axis: 1).scalars == [3, 6])
    #expect(a.min(axis: 0).scalars == [1, 2, 3])
    #expect(Swift.abs(a.variance().scalar - 35.0 / 12.0) < 1e-6)
    #expect(a.argmax(axis: 1).values == [2, 2])
    #expect(a.transposed().sum(axes: [0]).scalars == [6, 15])
    #expect(Swift.abs(Tensor([1000, 1000]).logSumExp().scalar - (1000 + Float(M_LN2))) < 1e-3)
    #expect(a.cumulativeSum(axis: 1).scalars == [1, 3, 6, 4, 9, 15])
    #expect(a.cumulativeProduct(axis: 0).scalars == [1, 2, 3, 4, 10, 18])
    #expect((a .> 2).scalars == [0, 0, 1, 1, 1, 1])
    #expect(`where`(a .> 2, a, 0).scalars == [0, 0, 3, 4, 5, 6])
  }

  @Test("views share storage without copying and keep value semantics")
  func views() {
    let x = Tensor.arange(0, 24).reshaped(2, 3, 4)
    let t = x.permuted(2, 0, 1)
    #expect(t.shape == [4, 2, 3])
    #expect(!t.isContiguous)
    #expect(t[index: 1, 1, 2] == x[index: 1, 2, 1])
    #expect(x.slice(axis: 2, 1..<4, step: 2).scalars == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23])
    #expect(t.reshaped(-1).count == 24)
    var copy = x
    copy.withMutableScalars { $0[0] = 100 }
    #expect(x.scalars[0] == 0)
    #expect(copy.scalars[0] == 100)
    #expect(x.broadcast(to: [5, 2, 3, 4]).sum().scalar == 5 * 276)
  }

  @Test("softmax rows sum to one, survive large and -inf inputs")
  func softmax() {
    let x = Tensor([[1000, 1001, 999], [0, -Float.infinity, 1]])
    let y = x.softmax()
    for row in 0..<2 { #expect(Swift.abs(y[row].sum().scalar - 1) < 1e-6) }
    #expect(y[index: 1, 1] == 0)
    // log-space at |x| ≈ 1000 carries ulp(1000) ≈ 6e-5 absolute error into exp: 1e-4 relative.
    #expect(x.logSoftmax().exp().isApproximatelyEqual(to: y, relativeTolerance: 1e-4))
  }

  @Test("joining, padding, triangles")
  func joining() {
    let a = Tensor([[1, 2], [3, 4]]), b = Tensor([[5], [6]])
    #expect(concatenate([a, b], axis: 1).scalars == [1, 2, 5, 3, 4, 6])
    #expect(stack([a, a], axis: 0).shape == [2, 2, 2])
    #expect(a.padded([(1, 0), (0, 1)], value: 9).scalars == [9, 9, 9, 1, 2, 9, 3, 4, 9])
    #expect(a.split(count: 2, axis: 0)[1].scalars == [3, 4])
    #expect(Tensor.ones([3, 3]).lowerTriangle().scalars == [1, 0, 0, 1, 1, 0, 1, 1, 1])
    #expect(Tensor.ones([3, 3]).upperTriangle(diagonal: 1).scalars == [0, 1, 1, 0, 0, 1, 0, 0, 0])
  }

  @Test("indexing: gather, indexSelect, scatterAdd, oneHot, sort, topK")
  func indexing() {
    let x = Tensor([[10, 11, 12], [20, 21, 22]])
    #expect(x.gather(axis: 1, indices: IndexTensor([[2, 0], [1, 1]])).scalars == [12, 10, 21, 21])
    #expect(x.indexSelect(axis: 0, indices: IndexTensor([1, 0, 1])).scalars == [20, 21, 22, 10, 11, 12, 20, 21, 22])
    #expect(
      Tensor.zeros([2, 3]).scatterAdding(
        axis: 1, indices: IndexTensor([[0, 0], [2, 1]]), source: Tensor([[1, 2], [3, 4]])
      ).scalars == [3, 0, 0, 0, 4, 3])
    #expect(oneHot(IndexTensor([2, 0]), classes: 3).scalars == [0, 0, 1, 1, 0, 0])
    let s = Tensor([3, 1, 2, 1])
    #expect(s.argsort().values == [1, 3, 2, 0])  // stable
    #expect(s.sorted(descending: true).scalars == [3, 2, 1, 1])
    let top = Tensor([[1, 5, 3, 5], [0, -1, 2, 1]]).topK(2)
    #expect(top.values.scalars == [5, 5, 2, 1])
    #expect(top.indices.values == [1, 3, 2, 3])
  }

  /// indexAdding against a plain loop that adds each source slice in index order (bit for bit):
  /// along a middle axis (several outer slices), with repeated, missing and single indices; on 1
  /// and 2 threads; and indexSelect's gradient equals zeros + indexAdding, bit for bit.
  @Test("indexAdding equals adding slices in index order; indexSelect's gradient is zeros + indexAdding")
  func indexAddingInOrder() {
    let indices = [4, 0, 4, 2, 4, 0, 6]
    let base = RandomTensors.make([3, 8, 37], seed: 21), source = RandomTensors.make([3, indices.count, 37], seed: 22)
    var expected = base.scalars
    let s = source.scalars
    for o in 0..<3 {
      for (i, d) in indices.enumerated() {
        for r in 0..<37 { expected[(o * 8 + d) * 37 + r] += s[(o * indices.count + i) * 37 + r] }
      }
    }
    for threads in [1, 2] {
      let added = Runtime.withThreadCount(threads) {
        base.indexAdding(axis: 1, indices: IndexTensor(indices), source: source)
      }
      let differing = zip(added.scalars, expected).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(differing == 0, "threads \(threads): \(differing) of \(expected.count) elements differ")
    }
    let g = RandomTensors.make([3, indices.count, 37], seed: 23)
    let viaSelect = gradient(at: [base]) { t in (t[0].indexSelect(axis: 1, indices: IndexTensor(indices)) * g).sum() }
    let viaZeros = Tensor.zeros([3, 8, 37]).indexAdding(axis: 1, indices: IndexTensor(indices), source: g)
    let differing = zip(viaSelect[0].scalars, viaZeros.scalars).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(differing == 0, "\(differing) gradient elements differ")
  }

  @Test("normalisations and cross-entropy agree with their compositions")
  func fusedAgreeWithComposed() {
    let x = RandomTensors.make([5, 7], seed: 8), w = RandomTensors.make([7], seed: 9),
      b = RandomTensors.make([7], seed: 10)
    let mean = x.mean(axis: -1, keepDimensions: true)
    let composedLN = (x - mean) * (x.variance(axes: [-1], keepDimensions: true) + 1e-5).rsqrt() * w + b
    #expect(layerNorm(x, weight: w, bias: b).relativeError(to: composedLN) < 1e-6)
    let composedRMS = x * (x.square().mean(axis: -1, keepDimensions: true) + 1e-6).rsqrt() * w
    #expect(rmsNorm(x, weight: w).relativeError(to: composedRMS) < 1e-6)
    let targets = IndexTensor([0, 6, 3, 3, 1])
    let composedCE = -(x.logSoftmax() * oneHot(targets, classes: 7)).sum(axis: -1).mean()
    #expect(Swift.abs(crossEntropy(x, targets: targets).scalar - composedCE.scalar) < 1e-6)
  }

  @Test("cumulativeProduct's gradient is exact when an element is zero")
  func cumprodZero() {
    let x = Tensor([2, 0, 3, 4])
    // y = [2, 0, 0, 0]; d(Σy)/dx = [1, 2 + 2·3 + 2·3·4, 0, 0]
    let g = gradient(at: x) { $0.cumulativeProduct(axis: 0).sum() }
    #expect(g.scalars == [1, 32, 0, 0])
  }

  @Test("shape mistakes stop with a message naming the op and the shapes")
  func shapeErrors() async {
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))
    }.map {
      #expect(
        String(decoding: $0.standardErrorContent, as: UTF8.self).contains(
          "matmul: [2, 3] × [4, 5]: inner dimensions 3 and 4 differ"))
    }
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
    }.map {
      #expect(
        String(decoding: $0.standardErrorContent, as: UTF8.self).contains(
          "add: shapes [2, 3] and [4] cannot be broadcast"))
    }
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor.zeros([2, 3]).sum(axis: 2)
    }.map {
      #expect(
        String(decoding: $0.standardErrorContent, as: UTF8.self).contains("sum: axis 2 is out of range for rank 2"))
    }
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = valueAndGradient(at: Tensor.ones([3])) { $0 * 2 }
    }.map { #expect(String(decoding: $0.standardErrorContent, as: UTF8.self).contains("a gradient needs a scalar")) }
  }
}

@Suite("safetensors")
struct SafeTensorsTests {
  @Test("write then read gives the same tensors and metadata")
  func roundTrip() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(UUID()).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let tensors = [
      "layers.0.weight": RandomTensors.make([3, 4], seed: 1), "scalar": Tensor(2.5), "empty": Tensor.zeros([0, 3]),
    ]
    try SafeTensors.write(tensors, metadata: ["format": "pt", "note": "quote \" and \\ ok"], to: path)
    let back = try SafeTensors.read(path)
    #expect(Set(back.tensors.keys) == Set(tensors.keys))
    for (name, t) in tensors {
      #expect(back.tensors[name]!.shape == t.shape)
      #expect(back.tensors[name]!.scalars == t.scalars)
    }
    #expect(back.metadata == ["format": "pt", "note": "quote \" and \\ ok"])
  }

  /// A file laid out by an independent writer: Python's standard library (json + struct), and
  /// also the `safetensors` package when it is importable; F16 and BF16 entries are converted.
  @Test("reads files written by Python")
  func independentWriter() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-py-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let script = """
      import json, struct, sys
      vals = [0.5, -1.25, 3.0, 1e-3, 65504.0, -2.0]
      f32 = struct.pack('<6f', *vals)
      f16 = struct.pack('<6e', *vals)
      bf16 = b''.join(struct.pack('<I', struct.unpack('<I', struct.pack('<f', v))[0])[2:] for v in vals)
      header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                "h": {"dtype": "F16", "shape": [6], "data_offsets": [24, 36]},
                "b": {"dtype": "BF16", "shape": [3, 2], "data_offsets": [36, 48]},
                "__metadata__": {"op": "demo"}}
      h = json.dumps(header).encode()
      h += b' ' * ((8 - len(h) % 8) % 8)
      open(sys.argv[1] + '/std.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + f32 + f16 + bf16)
      try:
          import numpy as np
          from safetensors.numpy import save_file
          save_file({"w": np.arange(12, dtype=np.float32).reshape(3, 4)}, sys.argv[1] + '/lib.safetensors')
      except ImportError:
          pass
      """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, dir]
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "python3 failed")
    let std = try SafeTensors.read(dir + "/std.safetensors")
    #expect(std.metadata["op"] == "demo")
    #expect(std.tensors["a"]!.shape == [2, 3])
    #expect(std.tensors["a"]!.scalars == [0.5, -1.25, 3.0, 1e-3, 65504.0, -2.0])
    let h = std.tensors["h"]!.scalars
    #expect(Swift.abs(h[3] - 1e-3) < 1e-6 && h[4] == 65504 && h[1] == -1.25)
    #expect(std.tensors["b"]!.scalars[2] == 3.0)
    if FileManager.default.fileExists(atPath: dir + "/lib.safetensors") {
      #expect(try SafeTensors.read(dir + "/lib.safetensors").tensors["w"]!.scalars == (0..<12).map(Float.init))
    }
  }

  @Test("a damaged file is a clear error naming it")
  func damaged() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bad-\(UUID()).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
    #expect(throws: SafeTensors.Error.self) { try SafeTensors.read(path) }
    do { _ = try SafeTensors.read(path) } catch { #expect("\(error)".contains(path)) }
  }
}

@Suite("Vector exp")
struct VectorExpTests {
  /// Against exp in Double over the whole float range that does not underflow: within 2 ulp
  /// (2.4e-7 relative); special values exact.
  @Test("exp is within 2 ulp and handles the edges")
  func accuracy() {
    var xs: [Float] = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
    xs += [0, -0.0, 1e-8, -1e-8, 0.5 * Float(M_LN2), -0.5 * Float(M_LN2)]
    let ys = Tensor(xs).exp().scalars
    var worst: Double = 0
    for (x, y) in zip(xs, ys) {
      let exact = Foundation.exp(Double(x))
      worst = Swift.max(worst, Swift.abs(Double(y) - exact) / exact)
    }
    #expect(worst <= 2.4e-7, "worst relative error \(worst)")
    let edges = Tensor([-Float.infinity, -100, 100, .infinity, .nan, 0, 0, 0]).exp().scalars
    #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == .infinity && edges[3] == .infinity)
    #expect(edges[4].isNaN && edges[5] == 1)
  }

  /// The branch-free tanh and sigmoid: within 4 ulp of Double over [-20, 20], exact limits.
  @Test("tanh and sigmoid are accurate, including near 0 and at the ends")
  func tanhSigmoid() {
    var xs: [Float] = stride(from: -20.0, through: 20.0, by: 0.00731).map { Float($0) }
    xs += [1e-6, -1e-6, 0.1249, 0.1251, -0.125]
    let t = Tensor(xs).tanh().scalars, s = Tensor(xs).sigmoid().scalars
    var worstTanh: Double = 0, worstSigmoid: Double = 0
    for (i, x) in xs.enumerated() {
      let et = Foundation.tanh(Double(x)), es = 1 / (1 + Foundation.exp(-Double(x)))
      worstTanh = Swift.max(worstTanh, Swift.abs(Double(t[i]) - et) / Swift.max(Swift.abs(et), 1e-30))
      worstSigmoid = Swift.max(worstSigmoid, Swift.abs(Double(s[i]) - es) / es)
    }
    #expect(worstTanh <= 4.8e-7, "tanh worst relative error \(worstTanh)")
    #expect(worstSigmoid <= 4.8e-7, "sigmoid worst relative error \(worstSigmoid)")
    let ends = Tensor([-Float.infinity, .infinity, 0]).tanh().scalars
    #expect(ends == [-1, 1, 0])
    #expect(Tensor([-Float.infinity, .infinity]).sigmoid().scalars == [0, 1])
  }
}
