internal import CBLAS

// The affine map of a linear layer, as one op:
//   y[..., o] = Σ_i x[..., i] W[o, i] + b[o]
//   dx = g · W,  dW = gᵀ · x (rows of every batch axis folded together),  db = Σ_rows g
// The bias is written into the output first and sgemm adds the product to it (β = 1), so the
// forward pass makes one pass over y instead of two; W's gradient comes out dense in W's layout.
// Equal to `matmul(x, W.transposed()) + b` up to rounding (tested).

/// `x · Wᵀ + b` for `x` `[..., in]`, `weight` `[out, in]` and optional `bias` `[out]` → `[..., out]`
/// (PyTorch's `torch.nn.functional.linear`).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
  check(
    weight.rank == 2,
    "linear: weight must be [out, in], got \(weight.shape.shapeDescription)")
  let (outputs, inputs) = (weight.shape[0], weight.shape[1])
  check(
    x.rank >= 1 && x.shape[x.rank - 1] == inputs,
    "linear: input \(x.shape.shapeDescription) does not end in the weight's \(inputs) input features")
  if let bias {
    check(
      bias.shape == [outputs],
      "linear: bias \(bias.shape.shapeDescription) for weight \(weight.shape.shapeDescription); expected [\(outputs)]")
  }
  let rows = inputs == 0 ? x.count : x.count / inputs
  let xs = x.contiguousUntraced(), ws = weight.contiguousUntraced()
  let out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outputs])
  let o = out.storage.base
  if let bias {
    let bs = bias.contiguousUntraced()
    let pb = bs.basePointer
    Runtime.parallelFor(rows, grain: Swift.max(1, Elementwise.grain / Swift.max(outputs, 1))) { range in
      for r in range { (o + r * outputs).update(from: pb, count: outputs) }
    }
    withExtendedLifetime(bs) {}
  } else if inputs == 0 {
    o.update(repeating: 0, count: out.count)
  }
  if rows > 0 && outputs > 0 && inputs > 0 {
    Runtime.prepareBLAS()
    // A = x rows [rows, in]; B = Wᵀ, i.e. W [out, in] read transposed.
    let opA = GEMM.Operand(rows: rows, cols: inputs, rowStride: inputs, colStride: 1)!
    let opB = GEMM.Operand(rows: inputs, cols: outputs, rowStride: 1, colStride: inputs)!
    GEMM.run(
      [GEMM.Tile(a: xs.basePointer, b: ws.basePointer, c: o, m: rows, n: outputs)], opA, opB, k: inputs,
      ldc: outputs, beta: bias == nil ? 0 : 1)
  }
  withExtendedLifetime((xs, ws)) {}
  let traced = [x, weight] + (bias.map { [$0] } ?? [])
  return Tensor.record(out, op: "linear", inputs: traced) { g, needs in
    let g2 = g.detached().reshaped([rows, outputs])
    var grads: [Tensor?] = [nil, nil]
    if needs[0] { grads[0] = GEMM.product(g2, ws).reshaped(x.shape) }
    if needs[1] { grads[1] = GEMM.product(g2.transposed(), xs.reshaped([rows, inputs])) }
    if bias != nil { grads.append(needs[2] ? g2.sum(axes: [0]) : nil) }
    return grads
  }
}
