/// Stops with `message` when `condition` is false.
///
/// Used for every shape, rank, axis and argument check. Unlike `precondition`, whose message is
/// dropped in optimised builds, the message always reaches standard error — a notebook cell that
/// passes the wrong shape learns which op and which shapes.
@inline(__always)
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
  if !condition() { checkFailed(message()) }
}

@inline(never)
public func checkFailed(_ message: String) -> Never {
  fatalError(message)
}
