internal import CBLAS
import Foundation

/// Threading of Tessera's kernels and of OpenBLAS.
///
/// Work is split over ``threadCount`` threads with a fixed partition, and no kernel lets the
/// partition change the order of floating-point operations for any output element: results are
/// bit-identical for 1 and 2 threads. The count comes from `TESSERA_THREADS`, else the number of
/// active cores. OpenBLAS itself is held to one thread: its threaded sgemm gives different bits
/// for different thread counts, so GEMMs are split into shape-determined tiles instead.
public enum Runtime {
  nonisolated(unsafe) private static var _threadCount: Int = {
    let env = ProcessInfo.processInfo.environment["TESSERA_THREADS"].flatMap(Int.init)
    // OpenBLAS always runs single-threaded: GEMMs are split over threads by `GEMM.run`, with
    // a partition that does not depend on the thread count (OpenBLAS's own does).
    openblas_set_num_threads(1)
    return max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
  }()

  /// Threads used by kernels (and by GEMM tiles).
  public static var threadCount: Int {
    get { _threadCount }
    set {
      check(newValue >= 1, "Runtime.threadCount must be at least 1, got \(newValue)")
      _threadCount = newValue
    }
  }

  /// Makes sure OpenBLAS has been told to run single-threaded; kernels outside TesseraCore that
  /// call BLAS directly call this first.
  public static func prepareBLAS() { _ = _threadCount }

  /// The OpenBLAS kernel family in use (e.g. `Haswell`, `SkylakeX`, `Zen`).
  public static var blasCore: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// OpenBLAS's build configuration string.
  public static var blasConfig: String {
    guard let config = openblas_get_config() else { return "unknown" }
    return String(cString: config)
  }

  /// Runs `body` over `0..<count` split into at most ``threadCount`` contiguous chunks, each at
  /// least `grain` long. Chunks are disjoint; `body` must make every output element depend only
  /// on its own index, never on the chunk bounds. The chunks run on the calling thread and the
  /// spinning workers of `WorkerPool` (a loop nested in another runs on its calling thread).
  @inline(__always)
  public static func parallelFor(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let threads = _threadCount
    let chunks = min(threads, max(1, count / max(grain, 1)))
    if chunks <= 1 {
      if count > 0 { body(0..<count) }
      return
    }
    let size = (count + chunks - 1) / chunks
    WorkerPool.shared.run(chunks, threads: threads) { c in
      let start = c * size
      let end = min(count, start + size)
      if start < end { body(start..<end) }
    }
  }
}
