import Dispatch
import Foundation
import Synchronization

/// Runs `body` on every item of a sweep (the runs of an ablation or a paper table), `lanes` items
/// at a time, each lane on one core, and returns the results in the items' order.
///
/// Kernels give the same bits on one thread as on several, so every result equals what a
/// sequential run would give, whatever the lane count; only the wall time changes. For the
/// sweep's duration ``Runtime/threadCount`` is 1 (small models keep one core busier than two
/// cores share one op). `TensorMemory` counts the lanes together. `body` runs on several threads
/// at once, so it must be `@Sendable`.
public func sweep<Item: Sendable, Result: Sendable>(
  _ items: [Item], lanes: Int = Runtime.threadCount, _ body: @Sendable (Item) -> Result
) -> [Result] {
  let lanes = max(1, min(lanes, items.count))
  if lanes == 1 { return items.map(body) }
  let next = Atomic<Int>(0)
  let results = Mutex([Result?](repeating: nil, count: items.count))
  DispatchQueue.concurrentPerform(iterations: lanes) { _ in
    while true {
      let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
      guard i < items.count else { return }
      let result = Runtime.withThreadCount(1) { body(items[i]) }
      results.withLock { $0[i] = result }
    }
  }
  return results.withLock { $0.map { $0! } }
}
