internal import CBLAS
internal import CKernels
import Foundation

/// The matrix-multiply kernel behind every GEMM in Tessera (`matmul`, linear layers, tiled
/// attention): OpenBLAS (`fast`), or the FMA-chain kernel (`portable`), whose every output element
/// is one fused multiply-add chain over k in order from zero, so its bits are the same for every
/// instruction-set variant (AVX-512, AVX2 + FMA, baseline), every thread count and every tiling.
///
/// The process's kernel comes from `TESSERA_GEMM` (`portable`, the default, or `fast`) and
/// `TESSERA_ISA` (`avx512`, `avx2`, `baseline`: the portable variant; default the widest this CPU
/// runs). ``Runtime/withGEMMKernel(_:_:)`` sets it for one scope. Capture ``current`` before work
/// is handed to worker threads (task-local values do not reach them).
public struct GEMMKernel: Sendable, Equatable, CustomStringConvertible {
  public enum Mode: String, Sendable, CaseIterable {
    case fast, portable
  }

  public enum Variant: String, Sendable, CaseIterable {
    case avx512, avx2, baseline

    var code: Int32 {
      switch self {
      case .avx512: return Int32(TESSERA_GEMM_AVX512)
      case .avx2: return Int32(TESSERA_GEMM_AVX2)
      case .baseline: return Int32(TESSERA_GEMM_BASELINE)
      }
    }

    /// Whether this CPU can run the variant.
    public var isSupported: Bool { Self.supported[Int(code)] }

    /// Indexed by ``code``; read once (the exponentials check it on every call).
    static let supported = (0..<allCases.count).map { tessera_gemm_variant_supported(Int32($0)) != 0 }
  }

  public internal(set) var mode: Mode
  /// The instruction-set variant of the portable GEMM and of the pointwise C kernels (GELU,
  /// attention's exponentials), in either mode (the bits do not depend on it).
  public internal(set) var variant: Variant

  public var description: String { mode == .fast ? "fast (OpenBLAS)" : "portable (\(variant.rawValue))" }

  /// The instruction set that computes: the portable kernel's variant, or OpenBLAS's kernel family.
  public var instructionSet: String { mode == .fast ? Runtime.blasCore : variant.rawValue }

  /// The widest variant this CPU runs.
  public static let widestVariant: Variant = Variant.allCases.first { $0.isSupported } ?? .baseline

  /// OpenBLAS.
  public static let fast = GEMMKernel(mode: .fast, variant: widestVariant)

  /// The FMA-chain kernel in `variant` (which this CPU must run).
  public static func portable(_ variant: Variant = widestVariant) -> GEMMKernel {
    check(variant.isSupported, "GEMMKernel.portable: this CPU cannot run the \(variant.rawValue) variant")
    return GEMMKernel(mode: .portable, variant: variant)
  }

  /// `TESSERA_GEMM` and `TESSERA_ISA`, read once; a value that is not one of the names stops the
  /// program with a message naming the variable (never a silent default).
  static let processDefault: GEMMKernel = {
    let env = ProcessInfo.processInfo.environment
    // Portable by default (a training step costs 2–5% more than on OpenBLAS on AVX-512: `tessera
    // bench train --compare-gemm`); on a CPU without FMA only the baseline variant, a software fmaf
    // per multiply–add, could run it, so such a CPU starts on OpenBLAS unless told otherwise.
    var kernel = widestVariant == .baseline ? GEMMKernel.fast : GEMMKernel.portable()
    if let name = env["TESSERA_GEMM"], !name.isEmpty {
      guard let mode = Mode(rawValue: name) else {
        fatalError("TESSERA_GEMM=\(name): expected one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      kernel.mode = mode
    }
    if let name = env["TESSERA_ISA"], !name.isEmpty {
      guard let variant = Variant(rawValue: name) else {
        fatalError(
          "TESSERA_ISA=\(name): expected one of \(Variant.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      guard variant.isSupported else { fatalError("TESSERA_ISA=\(name): this CPU cannot run that variant") }
      kernel.variant = variant
    }
    return kernel
  }()

  @TaskLocal static var scoped: GEMMKernel?

  /// The kernel of the innermost ``Runtime/withGEMMKernel(_:_:)``, else the process's.
  public static var current: GEMMKernel { scoped ?? processDefault }

  /// `C = α·op(A)·op(B) + β·C`, row-major, β 0 or 1. With `streaming` (and β 0) the portable
  /// kernel writes C around the caches where C's rows are 64-byte aligned: for outputs too large
  /// to stay in cache that nothing reads soon. The same bits either way.
  @inline(__always)
  public func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
    streaming: Bool = false
  ) {
    check(beta == 0 || beta == 1, "GEMMKernel.sgemm: β must be 0 or 1, got \(beta)")
    switch mode {
    case .fast:
      cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
        Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    case .portable:
      let status =
        streaming && beta == 0
        ? tessera_sgemm_fma_chain_streaming(
          variant.code, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, c, ldc)
        : tessera_sgemm_fma_chain(
          variant.code, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, c, ldc, beta == 1 ? 1 : 0)
      check(status == 0, "GEMMKernel.sgemm: the \(variant.rawValue) kernel failed (status \(status))")
    }
  }
}

extension Runtime {
  /// Runs `body` with every GEMM on `kernel`: scoped to `body` and the tasks it starts.
  public static func withGEMMKernel<R>(_ kernel: GEMMKernel, _ body: () throws -> R) rethrows -> R {
    try GEMMKernel.$scoped.withValue(kernel, operation: body)
  }
}
