import Dispatch
import Foundation

/// Runs `body` on every item of a sweep (the runs of an ablation or a paper table), `lanes` items
/// at a time, each lane on one core, and returns the results in the items' order.
///
/// Kernels give the same bits on one thread as on several, so every result equals what a
/// sequential run would give, whatever the lane count; only the wall time changes. For the
/// sweep's duration ``Runtime/threadCount`` is 1 (small models keep one core busier than two
/// cores share one op). `TensorMemory` counts the lanes together.
public func sweep<Item, Result>(_ items: [Item], lanes: Int = Runtime.threadCount, _ body: (Item) -> Result) -> [Result]
{
  let lanes = max(1, min(lanes, items.count))
  if lanes == 1 { return items.map(body) }
  let lock = NSLock()
  var next = 0
  var results = [Result?](repeating: nil, count: items.count)
  DispatchQueue.concurrentPerform(iterations: lanes) { _ in
    while true {
      lock.lock()
      let i = next
      next += 1
      lock.unlock()
      guard i < items.count else { return }
      let result = Runtime.withThreadCount(1) { body(items[i]) }
      lock.lock()
      results[i] = result
      lock.unlock()
    }
  }
  return results.map { $0! }
}
