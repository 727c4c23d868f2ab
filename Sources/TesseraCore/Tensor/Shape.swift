/// Shape arithmetic shared by every op: element counts, row-major strides, broadcasting and
/// axis normalisation. Errors name the op and the shapes involved.
enum Shape {
  static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

  static func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var step = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
      strides[axis] = step
      step *= max(shape[axis], 1)
    }
    return strides
  }

  static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
    var expected = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
      if strides[axis] != expected { return false }
      expected *= shape[axis]
    }
    return true
  }

  static func validate(_ shape: [Int], op: String) {
    check(shape.allSatisfy { $0 >= 0 }, "\(op): shape \(shape) has a negative dimension")
  }

  /// NumPy broadcasting of two shapes.
  static func broadcast(_ a: [Int], _ b: [Int], op: String) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
      let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
      let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
      check(
        da == db || da == 1 || db == 1,
        "\(op): shapes \(a) and \(b) cannot be broadcast (axis \(i): \(da) vs \(db))")
      out[i] = da == 1 ? db : da
    }
    return out
  }

  /// Strides that read a tensor of `shape`/`strides` as if it had `target` shape (stride 0 on
  /// broadcast axes).
  static func broadcastStrides(shape: [Int], strides: [Int], to target: [Int]) -> [Int] {
    var out = [Int](repeating: 0, count: target.count)
    let shift = target.count - shape.count
    for i in 0..<shape.count where shape[i] != 1 || target[i + shift] == 1 {
      out[i + shift] = shape[i] == 1 ? 0 : strides[i]
    }
    return out
  }

  /// Resolves a possibly negative axis against `rank`.
  static func axis(_ axis: Int, rank: Int, op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    check(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) is out of range for rank \(rank)")
    return a
  }

  /// Resolves and sorts a set of axes; `nil` means all axes.
  static func axes(_ axes: [Int]?, rank: Int, op: String) -> [Int] {
    guard let axes else { return Array(0..<rank) }
    let resolved = axes.map { axis($0, rank: rank, op: op) }
    check(Set(resolved).count == resolved.count, "\(op): axes \(axes) repeat an axis")
    return resolved.sorted()
  }
}

extension Array where Element == Int {
  /// `[2, 3]` — how shapes appear in error messages.
  var shapeDescription: String { "[" + map(String.init).joined(separator: ", ") + "]" }
}
