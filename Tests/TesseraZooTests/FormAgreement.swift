import Testing
import TesseraCore

// Checks shared by the tests that hold a fast form of a computation against its specification.

/// The outputs of `f` at `inputs`, then for each output the pullback of its cotangent to every
/// input, in order: what two forms of one computation must agree on.
func valuesAndPullbacks(at inputs: [Tensor], cotangents: [Tensor], _ f: ([Tensor]) -> [Tensor]) -> [Tensor] {
  var values: [Tensor] = [], pullbacks: [Tensor] = []
  for (i, cotangent) in cotangents.enumerated() {
    let (value, gradients) = valueAndPullback(at: inputs, cotangent: cotangent) { f($0)[i] }
    values.append(value)
    pullbacks += gradients
  }
  return values + pullbacks
}

/// Every tensor of `fast` within `tolerance` (relative RMS) of the same tensor of `reference`,
/// or, when `absolute` is given, within that RMS difference: for tensors that are zero up to
/// rounding in both forms, where a relative error means nothing.
func expectAgree(_ fast: [Tensor], _ reference: [Tensor], tolerance: Float, absolute: Float? = nil, _ label: String) {
  #expect(fast.count == reference.count)
  for (i, (a, b)) in zip(fast, reference).enumerated() {
    let error = a.relativeError(to: b)
    if let absolute {
      let difference = (a - b).square().mean().scalar.squareRoot()
      #expect(
        error <= tolerance || difference <= absolute,
        "\(label): tensor \(i) relative error \(error), RMS difference \(difference)")
    } else {
      #expect(error <= tolerance, "\(label): tensor \(i) relative error \(error)")
    }
  }
}
