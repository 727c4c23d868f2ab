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
  let int8Codes: [Int8]
  let int4Codes: [UInt8]
  /// Half-float bit patterns.
  let scales: [UInt16]
  let minimums: [UInt16]

  public init(_ weight: Tensor, scheme: Scheme) {
    check(weight.rank == 2, "QuantizedMatrix: a weight is [outputs, inputs], got \(weight.shape.shapeDescription)")
    let (outputs, inputs) = (weight.shape[0], weight.shape[1])
    let w = weight.contiguousUntraced().scalars
    self.scheme = scheme
    self.outputs = outputs
    self.inputs = inputs
    switch scheme {
    case .int8PerChannel:
      var codes = [Int8](repeating: 0, count: outputs * inputs)
      var scales = [UInt16](repeating: 0, count: outputs)
      for o in 0..<outputs {
        let row = w[(o * inputs)..<((o + 1) * inputs)]
        let half = Float16((row.map(abs).max() ?? 0) / 127)
        let scale = Float(half)
        scales[o] = half.bitPattern
        guard scale > 0 else { continue }
        for (i, value) in row.enumerated() {
          codes[o * inputs + i] = Int8(max(-127, min(127, (value / scale).rounded())))
        }
      }
      int8Codes = codes
      int4Codes = []
      self.scales = scales
      minimums = []
    case .int4Grouped(let group):
      check(group >= 2 && group % 2 == 0, "QuantizedMatrix: a 4-bit group is an even number of inputs, got \(group)")
      let groups = (inputs + group - 1) / group, rowBytes = (inputs + 1) / 2
      var codes = [UInt8](repeating: 0, count: outputs * rowBytes)
      var scales = [UInt16](repeating: 0, count: outputs * groups)
      var minimums = [UInt16](repeating: 0, count: outputs * groups)
      for o in 0..<outputs {
        for g in 0..<groups {
          let range = (o * inputs + g * group)..<(o * inputs + min(inputs, (g + 1) * group))
          let (lowHalf, high) = (Float16(w[range].min()!), w[range].max()!)
          let low = Float(lowHalf)
          let scaleHalf = Float16((high - low) / 15)
          let scale = Float(scaleHalf)
          scales[o * groups + g] = scaleHalf.bitPattern
          minimums[o * groups + g] = lowHalf.bitPattern
          for k in range {
            let i = k - o * inputs
            let q = scale > 0 ? UInt8(max(0, min(15, ((w[k] - low) / scale).rounded()))) : 0
            codes[o * rowBytes + i / 2] |= i % 2 == 0 ? q : q << 4
          }
        }
      }
      int8Codes = []
      int4Codes = codes
      self.scales = scales
      self.minimums = minimums
    }
  }

  /// Bytes held: the codes, the scales and the minimums.
  public var bytes: Int { int8Codes.count + int4Codes.count + 2 * (scales.count + minimums.count) }

  /// The matrix the codes stand for, `[outputs, inputs]` (a reference for tests; inference never
  /// builds it).
  public func dequantized() -> Tensor {
    var w = [Float](repeating: 0, count: outputs * inputs)
    switch scheme {
    case .int8PerChannel:
      for k in w.indices { w[k] = Float(Float16(bitPattern: scales[k / inputs])) * Float(int8Codes[k]) }
    case .int4Grouped(let group):
      let groups = (inputs + group - 1) / group, rowBytes = (inputs + 1) / 2
      for o in 0..<outputs {
        for i in 0..<inputs {
          let byte = int4Codes[o * rowBytes + i / 2]
          let q = Float(i % 2 == 0 ? byte & 15 : byte >> 4)
          let g = o * groups + i / group
          let (low, scale) = (Float(Float16(bitPattern: minimums[g])), Float(Float16(bitPattern: scales[g])))
          w[o * inputs + i] = low + scale * q
        }
      }
    }
    return Tensor(w, shape: [outputs, inputs])
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
  let grain = Swift.max(1, (1 << 16) / Swift.max(1, rows * inputs))
  let (y, px) = (out.storage.base, xs.basePointer)
  let pb: UnsafePointer<Float>? = bs.map { UnsafePointer($0.basePointer) }
  switch weight.scheme {
  case .int8PerChannel:
    weight.int8Codes.withUnsafeBufferPointer { q in
      weight.scales.withUnsafeBufferPointer { s in
        Runtime.parallelFor(outputs, grain: grain) { range in
          tessera_qlinear_int8(
            variant, px, rows, inputs, q.baseAddress, s.baseAddress, pb, y, outputs, range.lowerBound, range.upperBound)
        }
      }
    }
  case .int4Grouped(let group):
    let groups = (inputs + group - 1) / group
    var sums = [Float](repeating: 0, count: rows * groups)
    sums.withUnsafeMutableBufferPointer { tessera_group_sums(px, rows, inputs, group, $0.baseAddress) }
    weight.int4Codes.withUnsafeBufferPointer { q in
      weight.scales.withUnsafeBufferPointer { s in
        weight.minimums.withUnsafeBufferPointer { m in
          sums.withUnsafeBufferPointer { xsum in
            Runtime.parallelFor(outputs, grain: grain) { range in
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
