/// A number a plot can take: `Double`, `Float` and `Int` (so training logs plot without casts).
public protocol PlotValue {
  var plotValue: Double { get }
}

extension Double: PlotValue { public var plotValue: Double { self } }
extension Float: PlotValue { public var plotValue: Double { Double(self) } }
extension Int: PlotValue { public var plotValue: Double { Double(self) } }

/// Stops with a message naming the plot call, the way tensor ops stop on bad shapes (the message
/// reaches the notebook with the cell and line of the call).
func plotCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
  if !condition() { plotFailed(message()) }
}

@inline(never)
func plotFailed(_ message: String) -> Never { fatalError(message) }
