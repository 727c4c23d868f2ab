import Foundation
import Synchronization
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A flat, 64-byte aligned buffer of `Float` shared by tensors that view it.
///
/// Tensors never write into a storage that another tensor can see: every op allocates a fresh
/// storage for its result, and in-place updates (`Tensor.withMutableScalars`) copy first when the
/// storage is shared (copy on write).
///
/// `@unchecked Sendable`: the pointer and count never change; the buffer's contents are written
/// only by the tensor that holds the sole reference, or by parallel loops over disjoint ranges.
final class TensorStorage: @unchecked Sendable {
  let base: UnsafeMutablePointer<Float>
  let count: Int

  init(count: Int) {
    self.count = count
    var raw: UnsafeMutableRawPointer?
    let bytes = max(count, 1) * MemoryLayout<Float>.stride
    let status = posix_memalign(&raw, 64, bytes)
    check(status == 0 && raw != nil, "tensor allocation of \(bytes) bytes failed")
    base = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    TensorMemory.allocated(bytes)
  }

  convenience init(repeating value: Float, count: Int) {
    self.init(count: count)
    base.initialize(repeating: value, count: count)
  }

  deinit {
    free(base)
    TensorMemory.freed(max(count, 1) * MemoryLayout<Float>.stride)
  }
}

/// Bytes held by tensor storage: now, and the peak since the last ``resetPeak()`` — how the
/// benchmarks measure the activation memory of a forward and backward pass.
public enum TensorMemory {
  private struct Counts {
    var live = 0
    var high = 0
  }
  private static let counts = Mutex(Counts())

  /// Bytes of tensor storage alive now.
  public static var current: Int { counts.withLock { $0.live } }

  /// The most bytes alive at once since the last reset.
  public static var peak: Int { counts.withLock { $0.high } }

  /// Starts a new peak from what is alive now.
  public static func resetPeak() {
    counts.withLock { $0.high = $0.live }
  }

  static func allocated(_ bytes: Int) {
    counts.withLock {
      $0.live += bytes
      $0.high = max($0.high, $0.live)
    }
  }

  static func freed(_ bytes: Int) {
    counts.withLock { $0.live -= bytes }
  }
}

/// Keeps freed tensor buffers in the process heap instead of returning them to the kernel, so
/// a training loop that allocates the same sizes every step does not page-fault on every step.
enum HeapTuning {
  static let applied: Bool = {
    #if os(Linux)
      // glibc: M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1. With a 1 GiB threshold large
      // buffers come from the heap (and are reused) rather than from fresh mmaps.
      _ = glibcMallopt(-3, 1 << 30)
      _ = glibcMallopt(-1, Int32.max)
    #endif
    return true
  }()
}

#if os(Linux)
  @_silgen_name("mallopt")
  private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
