internal import CKernels

/// A weight matrix `[outputs, inputs]` stored for weight-only quantized inference:
/// - `int8PerChannel`: `w = scale_o · q`, `q` in −127…127, `scale_o = max_i |w_oi| ÷ 127`;
/// - `int4Grouped(group:)`: along each row, groups of `group` inputs store `w = min_g + scale_g · q`
///   with `q` in 0…15, `scale_g = (max_g − min_g) ÷ 15` — a scale and a minimum per group, the
///   kind of scheme llama.cpp's Q4_K keeps per block.
///
/// Scales and minimums are stored as IEEE half floats (as llama.cpp stores its block scales); the
/// codes are computed against the rounded values.
///
/// ``quantizedLinear(_:_:bias:)`` multiplies by it decoding each row as it reads it; the float
/// matrix is never rebuilt. `bytes` is what it holds: codes, scales and minimums.
public struct QuantizedMatrix: Sendable, Equatable {
  public enum Scheme: Sendable, Equatable, CustomStringConvertible {
    case int8PerChannel
    case int4Grouped(group: Int)

    public var description: String {
      switch self {
      case .int8PerChannel: "int8 per channel"
      case .int4Grouped(let group): "4-bit, groups of \(group)"
      }
    }
  }

  public let scheme: Scheme
  public let outputs: Int
  public let inputs: Int
  /// Codes by blocks of 16 outputs: for each block and input, the 16 outputs' codes side by side
  /// (int8: 16 bytes; 4-bit: 8 bytes, lanes 2j and 2j + 1 in the low and high nibble of byte j);
  /// outputs past the last are zero.
  let int8Codes: [Int8]
  let int4Codes: [UInt8]
  /// Half-float bit patterns, by block: `[blocks · 16]` (int8) or `[blocks, groups, 16]` (4-bit).
  let scales: [UInt16]
  let minimums: [UInt16]

  static let lanes = 16
  var blocks: Int { (outputs + Self.lanes - 1) / Self.lanes }
  var groups: Int {
    if case .int4Grouped(let group) = scheme { return (inputs + group - 1) / group }
    return 1
  }

  public init(_ weight: Tensor, scheme: Scheme) {
    check(weight.rank == 2, "QuantizedMatrix: a weight is [outputs, inputs], got \(weight.shape.shapeDescription)")
    let (outputs, inputs) = (weight.shape[0], weight.shape[1])
    check(outputs >= 1 && inputs >= 1, "QuantizedMatrix: an empty weight \(weight.shape.shapeDescription)")
    let w = weight.contiguousUntraced().scalars
    let lanes = Self.lanes, blocks = (outputs + lanes - 1) / lanes
    self.scheme = scheme
    self.outputs = outputs
    self.inputs = inputs
    switch scheme {
    case .int8PerChannel:
      var codes = [Int8](repeating: 0, count: blocks * inputs * lanes)
      var scales = [UInt16](repeating: 0, count: blocks * lanes)
      for o in 0..<outputs {
        let row = w[(o * inputs)..<((o + 1) * inputs)]
        let half = Float16((row.map(abs).max() ?? 0) / 127)
        let scale = Float(half)
        scales[o] = half.bitPattern
        guard scale > 0 else { continue }
        let (block, lane) = (o / lanes, o % lanes)
        for (i, value) in row.enumerated() {
          codes[(block * inputs + i) * lanes + lane] = Int8(max(-127, min(127, (value / scale).rounded())))
        }
      }
      int8Codes = codes
      int4Codes = []
      self.scales = scales
      minimums = []
    case .int4Grouped(let group):
      check(group >= 1, "QuantizedMatrix: a 4-bit group holds at least one input, got \(group)")
      let groups = (inputs + group - 1) / group
      var codes = [UInt8](repeating: 0, count: blocks * inputs * lanes / 2)
      var scales = [UInt16](repeating: 0, count: blocks * groups * lanes)
      var minimums = [UInt16](repeating: 0, count: blocks * groups * lanes)
      for o in 0..<outputs {
        let (block, lane) = (o / lanes, o % lanes)
        for g in 0..<groups {
          let range = (o * inputs + g * group)..<(o * inputs + min(inputs, (g + 1) * group))
          let (lowHalf, high) = (Float16(w[range].min()!), w[range].max()!)
          let low = Float(lowHalf)
          let scaleHalf = Float16((high - low) / 15)
          let scale = Float(scaleHalf)
          scales[(block * groups + g) * lanes + lane] = scaleHalf.bitPattern
          minimums[(block * groups + g) * lanes + lane] = lowHalf.bitPattern
          for k in range {
            let i = k - o * inputs
            let q = scale > 0 ? UInt8(max(0, min(15, ((w[k] - low) / scale).rounded()))) : 0
            codes[(block * inputs + i) * lanes / 2 + lane / 2] |= lane % 2 == 0 ? q : q << 4
          }
        }
      }
      int8Codes = []
      int4Codes = codes
      self.scales = scales
      self.minimums = minimums
    }
  }

  /// Bytes held: the codes, the scales and the minimums (the padding of a last partial block of
  /// outputs included).
  public var bytes: Int { int8Codes.count + int4Codes.count + 2 * (scales.count + minimums.count) }

  /// The matrix the codes stand for, `[outputs, inputs]` (a reference for tests; inference never
  /// builds it).
  public func dequantized() -> Tensor { rows(Array(0..<outputs)) }

  /// Rows `indices` of the matrix the codes stand for, `[indices.count, inputs]` (an embedding
  /// lookup decodes only the rows it reads).
  public func rows(_ indices: [Int]) -> Tensor {
    let lanes = Self.lanes
    var w = [Float](repeating: 0, count: indices.count * inputs)
    for (n, o) in indices.enumerated() {
      check(o >= 0 && o < outputs, "QuantizedMatrix.rows: row \(o) of \(outputs)")
      let (block, lane) = (o / lanes, o % lanes)
      for i in 0..<inputs {
        switch scheme {
        case .int8PerChannel:
          w[n * inputs + i] =
            Float(Float16(bitPattern: scales[o])) * Float(int8Codes[(block * inputs + i) * lanes + lane])
        case .int4Grouped(let group):
          let byte = int4Codes[(block * inputs + i) * lanes / 2 + lane / 2]
          let q = Float(lane % 2 == 0 ? byte & 15 : byte >> 4)
          let g = (block * groups + i / group) * lanes + lane
          w[n * inputs + i] = Float(Float16(bitPattern: minimums[g])) + Float(Float16(bitPattern: scales[g])) * q
        }
      }
    }
    return Tensor(w, shape: [indices.count, inputs])
  }
}

/// `x · Wᵀ + b` with `W` quantized (``QuantizedMatrix``), `x` `[..., inputs]` → `[..., outputs]`:
/// every row of W decoded as it is read, in the instruction-set variant in force (every variant
/// the same bits). For inference: it records no gradient and refuses an input that carries one.
public func quantizedLinear(_ x: Tensor, _ weight: QuantizedMatrix, bias: Tensor? = nil) -> Tensor {
  check(
    x.node == nil,
    "quantizedLinear: a quantized layer is for inference; its input carries a gradient (train the float model, quantize after)"
  )
  check(
    x.rank >= 1 && x.shape[x.rank - 1] == weight.inputs,
    "quantizedLinear: input \(x.shape.shapeDescription) does not end in the weight's \(weight.inputs) inputs")
  if let bias {
    check(
      bias.shape == [weight.outputs],
      "quantizedLinear: bias \(bias.shape.shapeDescription) for \(weight.outputs) outputs")
  }
  let (inputs, outputs) = (weight.inputs, weight.outputs)
  let rows = inputs == 0 ? 0 : x.count / inputs
  let xs = x.contiguousUntraced()
  let out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outputs])
  let bs = bias?.contiguousUntraced()
  let variant = GEMMKernel.current.variant.code
  let blocks = weight.blocks
  let grain = Swift.max(1, (1 << 16) / Swift.max(1, 16 * rows * inputs))
  let (y, px) = (out.storage.base, xs.basePointer)
  let pb: UnsafePointer<Float>? = bs.map { UnsafePointer($0.basePointer) }
  switch weight.scheme {
  case .int8PerChannel:
    weight.int8Codes.withUnsafeBufferPointer { q in
      weight.scales.withUnsafeBufferPointer { s in
        Runtime.parallelFor(blocks, grain: grain) { range in
          tessera_qlinear_int8(
            variant, px, rows, inputs, q.baseAddress, s.baseAddress, pb, y, outputs, range.lowerBound, range.upperBound)
        }
      }
    }
  case .int4Grouped(let group):
    let groups = weight.groups
    var sums = [Float](repeating: 0, count: rows * groups)
    sums.withUnsafeMutableBufferPointer { tessera_group_sums(px, rows, inputs, group, $0.baseAddress) }
    weight.int4Codes.withUnsafeBufferPointer { q in
      weight.scales.withUnsafeBufferPointer { s in
        weight.minimums.withUnsafeBufferPointer { m in
          sums.withUnsafeBufferPointer { xsum in
            Runtime.parallelFor(blocks, grain: grain) { range in
              tessera_qlinear_int4(
                variant, px, rows, inputs, q.baseAddress, group, s.baseAddress, m.baseAddress, xsum.baseAddress, pb, y,
                outputs, range.lowerBound, range.upperBound)
            }
          }
        }
      }
    }
  }
  withExtendedLifetime((xs, bs)) {}
  return out
}
