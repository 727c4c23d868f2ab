internal import CBLAS
internal import CKernels
import Foundation

/// Threading of Tessera's kernels and of OpenBLAS.
///
/// Work is split over ``threadCount`` threads with a fixed partition, and no kernel lets the
/// partition change the order of floating-point operations for any output element: results are
/// bit-identical for 1 and 2 threads. The count comes from `TESSERA_THREADS`, else the number of
/// CPUs in the process's affinity mask, read once; ``withThreadCount(_:_:)`` changes it for one scope. OpenBLAS itself
/// is held to one thread: its threaded sgemm gives different bits for different thread counts,
/// so GEMMs are split into shape-determined tiles instead.
public enum Runtime {
  /// The process's count: `TESSERA_THREADS`, else the CPUs the process may run on (its affinity
  /// mask: `taskset -c 0` or a Slurm task bound to one core gets 1), else the active cores.
  /// Computing it also tells
  /// OpenBLAS to run single-threaded: GEMMs are split over threads by `GEMM.run`, with a
  /// partition that does not depend on the thread count (OpenBLAS's own does).
  private static let defaultThreadCount: Int = {
    let env = ProcessInfo.processInfo.environment["TESSERA_THREADS"].flatMap(Int.init)
    openblas_set_num_threads(1)
    let allowed = Int(tessera_affinity_cpu_count())
    return max(1, env ?? (allowed > 0 ? allowed : ProcessInfo.processInfo.activeProcessorCount))
  }()

  /// The count set by the innermost enclosing ``withThreadCount(_:_:)``, if any. A task-local
  /// value: child tasks inherit it, other tasks and threads do not see it.
  @TaskLocal private static var scopedThreadCount: Int?

  /// Threads used by kernels (and by GEMM tiles): the count of the innermost enclosing
  /// ``withThreadCount(_:_:)``, else the process's count.
  public static var threadCount: Int { scopedThreadCount ?? defaultThreadCount }

  /// Runs `body` with kernels on `count` threads. The setting is scoped to `body` and to the
  /// tasks it starts; it is not seen by other tasks, by threads `body` starts itself, or after
  /// `body` returns. Results do not depend on it, only speed does.
  public static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
    check(count >= 1, "Runtime.withThreadCount needs at least 1 thread, got \(count)")
    return try $scopedThreadCount.withValue(count, operation: body)
  }

  /// Makes sure OpenBLAS has been told to run single-threaded; kernels outside TesseraCore that
  /// call BLAS directly call this first.
  public static func prepareBLAS() { _ = defaultThreadCount }

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
  /// spinning workers of `WorkerPool` (a loop nested in another runs on its calling thread). The
  /// count is read on the calling thread; a loop nested in a chunk that a worker runs sees the
  /// process's count, which changes the chunks but never a result.
  @inline(__always)
  public static func parallelFor(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let threads = threadCount
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

  /// Runs `body(i)` for every `i` in `0..<costs.count`, the items spread over the threads so
  /// that their loads come out close: the items are claimed one at a time, largest cost first, by
  /// whichever thread is free (measured cost is what balances, so a slow item — its operands not in
  /// cache — does not hold the others back). For items of uneven size, such as a mixture's experts;
  /// `body` must make each item's result depend on the item alone.
  static func balancedFor(costs: [Int], _ body: (Int) -> Void) {
    let threads = Swift.min(threadCount, costs.count)
    guard threads > 1 else {
      for i in costs.indices { body(i) }
      return
    }
    let order = costs.indices.sorted { costs[$0] > costs[$1] || (costs[$0] == costs[$1] && $0 < $1) }
    order.withUnsafeBufferPointer { order in
      WorkerPool.shared.run(order.count, threads: threads) { body(order[$0]) }
    }
  }
}
