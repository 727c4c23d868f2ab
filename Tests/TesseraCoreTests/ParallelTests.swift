import Foundation
import Synchronization
import Testing
import TesseraCore

@Suite("Parallel loops")
struct ParallelTests {
  /// Runs `parallelFor(count, grain:)` and returns how often each index was visited.
  static func visits(_ count: Int, grain: Int) -> [Int] {
    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
    counts.initialize(repeating: 0)
    defer { counts.deallocate() }
    Runtime.parallelFor(count, grain: grain) { range in
      for i in range { counts[i] += 1 }
    }
    return Array(counts.prefix(count))
  }

  @Test("every index is visited exactly once, for many sizes and grains, 20,000 loops in a row")
  func coverage() {
    for count in [0, 1, 2, 3, 7, 64, 1000, 65_537] {
      for grain in [1, 3, 64, 100_000] {
        #expect(Self.visits(count, grain: grain) == [Int](repeating: 1, count: count), "count \(count) grain \(grain)")
      }
    }
    // Back-to-back tiny loops: the pattern of a training step (a worker is mid-spin or parked).
    let total = Atomic<Int>(0)
    for _ in 0..<20_000 {
      Runtime.parallelFor(4, grain: 1) { range in total.wrappingAdd(range.count, ordering: .relaxed) }
    }
    #expect(total.load(ordering: .relaxed) == 80_000)
  }

  @Test("a loop inside a loop runs (on the calling thread) and finishes")
  func nested() {
    let total = Atomic<Int>(0)
    Runtime.parallelFor(8, grain: 1) { outer in
      for _ in outer {
        Runtime.parallelFor(100, grain: 1) { inner in total.wrappingAdd(inner.count, ordering: .relaxed) }
      }
    }
    #expect(total.load(ordering: .relaxed) == 800)
  }

  @Test("loops started from several threads at once all complete with the right results")
  func concurrentCallers() {
    let callers = 4, loops = 500
    let sums = Mutex([Int](repeating: 0, count: callers))
    DispatchQueue.concurrentPerform(iterations: callers) { caller in
      for _ in 0..<loops {
        let partial = Atomic<Int>(0)
        Runtime.parallelFor(1000, grain: 10) { range in
          partial.wrappingAdd(range.reduce(0, +), ordering: .relaxed)
        }
        sums.withLock { $0[caller] += partial.load(ordering: .relaxed) }
      }
    }
    #expect(sums.withLock { $0 } == [Int](repeating: loops * 499_500, count: callers))
  }

  @Test("withThreadCount sets the count for its body only, nested scopes restore the outer one")
  func scopedThreadCount() {
    let outside = Runtime.threadCount
    Runtime.withThreadCount(3) {
      #expect(Runtime.threadCount == 3)
      Runtime.withThreadCount(1) { #expect(Runtime.threadCount == 1) }
      #expect(Runtime.threadCount == 3)
    }
    #expect(Runtime.threadCount == outside)
  }

  @Test("concurrent tasks each see their own scoped count; a task started in the scope inherits it")
  func scopedThreadCountPerTask() async {
    let seen = await withTaskGroup(of: (Int, [Int]).self) { group in
      for n in 1...4 {
        group.addTask {
          let counts = Runtime.withThreadCount(n) {
            (0..<200).map { _ in
              Runtime.parallelFor(64, grain: 1) { _ in }
              return Runtime.threadCount
            }
          }
          return (n, counts)
        }
      }
      return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
    }
    for n in 1...4 { #expect(seen[n] == [Int](repeating: n, count: 200), "tasks with \(n) threads") }
    let child = Runtime.withThreadCount(3) { Task { Runtime.threadCount } }
    #expect(await child.value == 3)
  }

  @Test("with one thread every chunk runs on the calling thread")
  func oneThreadStaysOnCaller() {
    let caller = pthread_self()
    let elsewhere = Atomic<Int>(0)
    Runtime.withThreadCount(1) {
      Runtime.parallelFor(10_000, grain: 1) { _ in
        if pthread_equal(pthread_self(), caller) == 0 { elsewhere.wrappingAdd(1, ordering: .relaxed) }
      }
    }
    #expect(elsewhere.load(ordering: .relaxed) == 0)
  }
}
