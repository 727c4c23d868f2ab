// Reductions over axes. `axes: nil` reduces everything; `keepDimensions` keeps reduced axes with
// size 1 so the result broadcasts against the input.

extension Tensor {
  /// Sum over `axes` (all when nil).
  public func sum(axes: [Int]? = nil, keepDimensions: Bool = false) -> Tensor {
    let ax = Shape.axes(axes, rank: rank, op: "sum")
    let kept = Reduce.reduce(self, axes: ax, kind: .sum)
    let source = shape
    let out = Tensor.record(kept, op: "sum", input: self) { g in g.broadcast(to: source) }
    return keepDimensions ? out : out.dropping(axes: ax)
  }

  /// Sum over one axis.
  public func sum(axis: Int, keepDimensions: Bool = false) -> Tensor {
    sum(axes: [axis], keepDimensions: keepDimensions)
  }

  /// Mean over `axes` (all when nil).
  public func mean(axes: [Int]? = nil, keepDimensions: Bool = false) -> Tensor {
    let ax = Shape.axes(axes, rank: rank, op: "mean")
    let n = ax.reduce(1) { $0 * shape[$1] }
    return sum(axes: ax, keepDimensions: keepDimensions) * (1 / Float(Swift.max(n, 1)))
  }

  /// Mean over one axis.
  public func mean(axis: Int, keepDimensions: Bool = false) -> Tensor {
    mean(axes: [axis], keepDimensions: keepDimensions)
  }

  /// Largest element over `axes`; the gradient is shared equally among tied maxima.
  public func max(axes: [Int]? = nil, keepDimensions: Bool = false) -> Tensor {
    extremum(axes: axes, keepDimensions: keepDimensions, kind: .max, op: "max")
  }

  /// Largest element over one axis.
  public func max(axis: Int, keepDimensions: Bool = false) -> Tensor {
    max(axes: [axis], keepDimensions: keepDimensions)
  }

  /// Smallest element over `axes`; the gradient is shared equally among tied minima.
  public func min(axes: [Int]? = nil, keepDimensions: Bool = false) -> Tensor {
    extremum(axes: axes, keepDimensions: keepDimensions, kind: .min, op: "min")
  }

  /// Smallest element over one axis.
  public func min(axis: Int, keepDimensions: Bool = false) -> Tensor {
    min(axes: [axis], keepDimensions: keepDimensions)
  }

  private func extremum(axes: [Int]?, keepDimensions: Bool, kind: Reduce.Kind, op: String) -> Tensor {
    let ax = Shape.axes(axes, rank: rank, op: op)
    let kept = Reduce.reduce(self, axes: ax, kind: kind)
    let x = self.detached()
    let out = Tensor.record(kept, op: op, input: self) { g in
      let hits = x .== kept
      let share = hits.sum(axes: ax, keepDimensions: true)
      return hits * (g / share)
    }
    return keepDimensions ? out : out.dropping(axes: ax)
  }

  /// `log Σ exp(x)` over `axes`, computed stably (shifted by the maximum).
  public func logSumExp(axes: [Int]? = nil, keepDimensions: Bool = false) -> Tensor {
    let ax = Shape.axes(axes, rank: rank, op: "logSumExp")
    let m = Reduce.reduce(self, axes: ax, kind: .max)
    let shift = Elementwise.map(m) { $0.isFinite ? $0 : 0 }
    let out = (self - shift).exp().sum(axes: ax, keepDimensions: true).log() + shift
    return keepDimensions ? out : out.dropping(axes: ax)
  }

  /// Variance over `axes`: `Σ (x - mean)² / (n - correction)` (0: population, 1: sample).
  public func variance(axes: [Int]? = nil, correction: Int = 0, keepDimensions: Bool = false) -> Tensor {
    let ax = Shape.axes(axes, rank: rank, op: "variance")
    let n = ax.reduce(1) { $0 * shape[$1] }
    let centered = self - mean(axes: ax, keepDimensions: true)
    return centered.square().sum(axes: ax, keepDimensions: keepDimensions) * (1 / Float(Swift.max(n - correction, 1)))
  }

  /// Sums this tensor down to `target`, a shape it was broadcast from (leading axes removed,
  /// size-1 axes summed). Used by the pullbacks of broadcasting ops.
  public func sum(toShape target: [Int]) -> Tensor {
    if shape == target { return self }
    let lead = rank - target.count
    check(lead >= 0, "sum(toShape:): \(shape.shapeDescription) cannot reduce to \(target.shapeDescription)")
    var axes = Array(0..<lead)
    for (i, d) in target.enumerated() where d == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
    let reduced = axes.isEmpty ? self : sum(axes: axes, keepDimensions: true)
    return reduced.reshaped(target)
  }

  /// The index of the largest element along `axis` (not differentiable).
  public func argmax(axis: Int = -1) -> IndexTensor {
    argExtremum(axis: axis, op: "argmax") { $0 > $1 }
  }

  /// The index of the smallest element along `axis` (not differentiable).
  public func argmin(axis: Int = -1) -> IndexTensor {
    argExtremum(axis: axis, op: "argmin") { $0 < $1 }
  }

  private func argExtremum(axis: Int, op: String, better: (Float, Float) -> Bool) -> IndexTensor {
    let a = Shape.axis(axis, rank: rank, op: op)
    let moved = movingAxisToEnd(a).contiguousUntraced()
    let n = shape[a]
    check(n > 0, "\(op): axis \(a) of shape \(shape.shapeDescription) is empty")
    let rows = count / n
    var result = [Int](repeating: 0, count: rows)
    let p = moved.basePointer
    for r in 0..<rows {
      let row = p + r * n
      var best = 0
      for i in 1..<n where better(row[i], row[best]) { best = i }
      result[r] = best
    }
    var s = shape
    s.remove(at: a)
    return IndexTensor(result, shape: s)
  }

  /// Removes the given size-1 axes.
  func dropping(axes: [Int]) -> Tensor {
    if axes.isEmpty { return self }
    let drop = Set(axes)
    return reshaped(shape.indices.filter { !drop.contains($0) }.map { shape[$0] })
  }

  /// A view with `axis` moved to the end.
  func movingAxisToEnd(_ axis: Int) -> Tensor {
    if axis == rank - 1 { return self }
    var order = Array(0..<rank)
    order.remove(at: axis)
    order.append(axis)
    return permuted(order)
  }

  /// Inverse of ``movingAxisToEnd(_:)``.
  func movingLastAxis(to axis: Int) -> Tensor {
    if axis == rank - 1 { return self }
    var order = Array(0..<(rank - 1))
    order.insert(rank - 1, at: axis)
    return permuted(order)
  }
}
