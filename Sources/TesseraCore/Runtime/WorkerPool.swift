internal import CKernels
import Foundation
import Synchronization

/// The threads behind ``Runtime/parallelFor(_:grain:_:)``: `threadCount − 1` workers that wait
/// for work by spinning briefly, then sleeping.
///
/// A training step issues a few hundred parallel loops, many of them tens of microseconds long.
/// Dispatch's `concurrentPerform` costs ~50–80 µs per call here (waking a parked worker), which
/// is as long as the loop itself; a worker that is still spinning picks a new loop up in about a
/// microsecond. One loop runs at a time: a loop started while another runs (a nested loop, or a
/// second caller thread) runs its chunks on the calling thread. Which thread runs a chunk never
/// changes a result: chunks are fixed by the caller and write disjoint outputs.
///
/// `@unchecked Sendable`: its mutable state (`current`, `parked`, `workers`) is read and written
/// only with `condition` locked; the rest is atomics and `let`s.
final class WorkerPool: @unchecked Sendable {
  static let shared = WorkerPool()

  /// One parallel loop: chunk indices are claimed from `next` until `count`. `@unchecked
  /// Sendable` because `body` is not `@Sendable`: it is called from several threads at once, each
  /// call with its own chunk, which `parallelFor`'s contract makes safe (disjoint outputs).
  final class Job: @unchecked Sendable {
    let body: (Int) -> Void
    let count: Int
    let next = Atomic<Int>(0)
    let finished = Atomic<Int>(0)

    init(body: @escaping (Int) -> Void, count: Int) {
      self.body = body
      self.count = count
    }

    /// Claims and runs chunks until none are left.
    func work() {
      while true {
        let c = next.wrappingAdd(1, ordering: .relaxed).oldValue
        if c >= count { return }
        body(c)
        finished.wrappingAdd(1, ordering: .releasing)
      }
    }
  }

  private let submit = NSLock()
  private let generation = Atomic<Int>(0)
  /// Workers holding a reference to a job (the caller waits for 0 before its closure goes away).
  private let holders = Atomic<Int>(0)
  private let condition = NSCondition()
  /// Guarded by `condition`.
  private var current: Job?
  private var parked = 0
  private var workers = 0

  /// How long an idle worker spins before it sleeps, in nanoseconds (a `pause` instruction lasts
  /// anywhere from ~10 to ~140 cycles depending on the CPU, so the clock decides, not a count).
  private static let spinNanoseconds: UInt64 = 200_000

  /// Runs `body(0) … body(count − 1)` over the workers and the calling thread; returns when all
  /// have finished.
  func run(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    guard count > 1, threads > 1, submit.try() else {
      for c in 0..<count { body(c) }
      return
    }
    defer { submit.unlock() }
    ensureWorkers(threads - 1)
    withoutActuallyEscaping(body) { body in
      let job = Job(body: body, count: count)
      condition.lock()
      current = job
      generation.wrappingAdd(1, ordering: .releasing)
      if parked > 0 { condition.broadcast() }
      condition.unlock()
      job.work()
      while job.finished.load(ordering: .acquiring) < count { tessera_spin_pause() }
      condition.lock()
      current = nil
      condition.unlock()
      // No worker can pick the job up now; wait for those that did to let go of it.
      while holders.load(ordering: .acquiring) > 0 { tessera_spin_pause() }
    }
  }

  private func ensureWorkers(_ wanted: Int) {
    condition.lock()
    defer { condition.unlock() }
    while workers < wanted {
      workers += 1
      let thread = Thread { [unowned self] in self.workerLoop() }
      thread.name = "tessera-worker-\(workers)"
      thread.stackSize = 8 << 20  // as the main thread's: kernels may use stack buffers
      thread.start()
    }
  }

  private func workerLoop() {
    var seen = generation.load(ordering: .acquiring)
    while true {
      let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
      var spins = 0
      while generation.load(ordering: .acquiring) == seen {
        tessera_spin_pause()
        spins += 1
        if spins % 64 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
      }
      condition.lock()
      while generation.load(ordering: .acquiring) == seen {
        parked += 1
        condition.wait()
        parked -= 1
      }
      seen = generation.load(ordering: .acquiring)
      // Held through an explicit retain, released before `holders` drops: the caller's closure
      // must have no owner left when its call returns.
      let job = current.map { Unmanaged.passRetained($0) }
      if job != nil { holders.wrappingAdd(1, ordering: .relaxed) }
      condition.unlock()
      if let job {
        job.takeUnretainedValue().work()
        job.release()
        holders.wrappingSubtract(1, ordering: .releasing)
      }
    }
  }
}
