import CKernels
import Testing

/// The ISA-independent GEMM (`tessera_sgemm_fma_chain`): every element one fused multiply-add
/// chain over k from zero, so every variant this CPU runs gives the bits of a scalar reference.
@Suite("FMA-chain GEMM")
struct FMAChainGEMMTests {
  static let variants: [(Int32, String)] = [
    (Int32(TESSERA_GEMM_BASELINE), "baseline"), (Int32(TESSERA_GEMM_AVX2), "avx2"),
    (Int32(TESSERA_GEMM_AVX512), "avx512"),
  ]

  /// Deterministic values of varied magnitude and sign, so rounding order matters.
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      let unit = Float(state >> 40) / Float(1 << 24)
      return (unit - 0.5) * Float(1 << Int(state % 7))
    }
  }

  @Test(
    "every variant gives the scalar FMA chain's bits: awkward shapes, transposes, accumulate, padded rows",
    arguments: [
      (1, 1, 1), (7, 33, 5), (13, 70, 129), (65, 47, 31), (6, 32, 64), (3, 5, 0),
      // Several k blocks (the last one partial), several row blocks, several column blocks.
      (200, 40, 600), (150, 36, 2100), (300, 20, 1100), (2, 4100, 300),
    ])
  func matchesReference(shape: (Int, Int, Int)) throws {
    let (m, n, k) = shape
    // Leading dimensions longer than the rows, as for a view into a wider matrix.
    let pad = 3
    let a = Self.values((m + pad) * (k + pad), seed: 1), b = Self.values((k + pad) * (n + pad), seed: 2)
    let c0 = Self.values(m * (n + pad), seed: 3)
    let ldc = n + pad
    for transA in [false, true] {
      for transB in [false, true] {
        for (accumulate, alpha) in [(false, Float(1)), (true, Float(1)), (true, Float(0.125)), (false, Float(-3))] {
          let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad
          var reference = c0
          for i in 0..<m {
            for j in 0..<n {
              var acc: Float = 0
              for p in 0..<k {
                let x = transA ? a[p * lda + i] : a[i * lda + p]
                let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc = acc.addingProduct(x, y)
              }
              let scaled = alpha == 1 ? acc : alpha * acc
              reference[i * ldc + j] = accumulate ? c0[i * ldc + j] + scaled : scaled
            }
          }
          for (variant, name) in Self.variants where tessera_gemm_variant_supported(variant) != 0 {
            var c = c0
            let status = tessera_sgemm_fma_chain(
              variant, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, &c, ldc, accumulate ? 1 : 0)
            #expect(status == 0)
            // op(B) packed once (in two slices of panels, as two threads would) and shared.
            var shared = c0
            let panels = tessera_gemm_b_panel_count(variant, n)
            var packed = [Float](repeating: .nan, count: tessera_gemm_packed_b_count(variant, n, k))
            packed.withUnsafeMutableBufferPointer { buffer in
              tessera_gemm_pack_b(variant, transB ? 1 : 0, n, k, b, ldb, 0, panels / 3, buffer.baseAddress)
              tessera_gemm_pack_b(variant, transB ? 1 : 0, n, k, b, ldb, panels / 3, panels, buffer.baseAddress)
            }
            #expect(
              tessera_sgemm_fma_chain_packed_b(
                variant, transA ? 1 : 0, m, n, k, alpha, a, lda, packed, &shared, ldc, accumulate ? 1 : 0) == 0)
            #expect(
              zip(shared, reference).allSatisfy { $0.bitPattern == $1.bitPattern },
              "\(name) \(m)×\(n)×\(k) transA \(transA) transB \(transB) accumulate \(accumulate): shared packed B differs"
            )
            let differing = zip(c, reference).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(
              differing == 0,
              "\(name) \(m)×\(n)×\(k) transA \(transA) transB \(transB) accumulate \(accumulate): \(differing) elements differ"
            )
          }
        }
      }
    }
  }

  @Test(
    "streaming C (non-temporal stores) gives the same bits: aligned and unaligned C, short and partial tiles, k blocks",
    arguments: [(1, 16, 3), (12, 32, 128), (13, 70, 129), (37, 96, 128), (150, 48, 2100), (512, 256, 128)])
  func streamingMatchesReference(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    let a = Self.values(m * k, seed: 4), b = Self.values(k * n, seed: 5)
    // Rows 64-byte aligned (streamed) and one float off (plain stores: the kernel must notice).
    let ldc = (n + 15) / 16 * 16
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: m * ldc + 16 + 16)
    defer { buffer.deallocate() }
    let aligned = UnsafeMutablePointer<Float>(
      bitPattern: (Int(bitPattern: buffer) + 63) / 64 * 64)!
    for (variant, name) in Self.variants where tessera_gemm_variant_supported(variant) != 0 {
      for transA in [false, true] {
        let lda = transA ? m : k
        let at = transA ? (0..<(m * k)).map { a[($0 % m) * k + $0 / m] } : a
        var reference = [Float](repeating: .nan, count: m * n)
        #expect(tessera_sgemm_fma_chain(variant, transA ? 1 : 0, 0, m, n, k, 1, at, lda, b, n, &reference, n, 0) == 0)
        for (start, label) in [(aligned, "aligned"), (aligned + 1, "unaligned")] {
          start.update(repeating: .nan, count: m * ldc)
          #expect(
            tessera_sgemm_fma_chain_streaming(variant, transA ? 1 : 0, 0, m, n, k, 1, at, lda, b, n, start, ldc) == 0)
          let differing = (0..<m).reduce(0) { count, i in
            count + (0..<n).filter { start[i * ldc + $0].bitPattern != reference[i * n + $0].bitPattern }.count
          }
          #expect(differing == 0, "\(name) \(m)×\(n)×\(k) transA \(transA) \(label): \(differing) elements differ")
        }
      }
    }
  }

  @Test("the baseline variant runs everywhere; a variant the CPU lacks is refused, not faked")
  func support() {
    #expect(tessera_gemm_variant_supported(Int32(TESSERA_GEMM_BASELINE)) != 0)
    #expect(tessera_gemm_variant_supported(99) == 0)
    var c: [Float] = [0]
    #expect(tessera_sgemm_fma_chain(99, 0, 0, 1, 1, 1, 1, [1], 1, [1], 1, &c, 1, 0) == -1)
  }
}
