extension Tensor {
  /// Gives a value computed by a hand-written kernel (a fused or tiled form) its hand-written
  /// pullback, so it joins the traced computation like a primitive op.
  ///
  /// `output` must have been computed without recording (its own trace, if any, is dropped).
  /// `pullback(cotangent, needs)` returns one cotangent per input, shaped like that input, or
  /// nil where `needs` says the input is not traced. Nothing is recorded when no input is traced
  /// or recording is off.
  ///
  /// ```swift
  /// let o = withoutGradients { tiledForward(q, k, v) }
  /// return Tensor.differentiable(o.output, op: "tiledAttention", inputs: [q, k, v]) { g, needs in
  ///   tiledBackward(g, saved: o.statistics)
  /// }
  /// ```
  public static func differentiable(
    _ output: Tensor, op: String, inputs: [Tensor],
    pullback: @escaping (_ cotangent: Tensor, _ needs: [Bool]) -> [Tensor?]
  ) -> Tensor {
    var plain = output
    plain.node = nil
    return record(plain, op: op, inputs: inputs) { g, needs in
      let grads = GradientRecording.paused { pullback(g, needs) }
      check(
        grads.count == inputs.count, "\(op): the pullback returned \(grads.count) cotangents for \(inputs.count) inputs"
      )
      for (i, grad) in grads.enumerated() {
        if let grad {
          check(
            grad.shape == inputs[i].shape,
            "\(op): the cotangent of input \(i) has shape \(grad.shape), the input has \(inputs[i].shape)")
        }
      }
      return grads
    }
  }
}
