import TesseraCore

/// A module whose weight matrix can be stored quantized for inference (``Linear``, ``Embedding``).
public protocol Quantizable: Module {
  var weight: Tensor { get }
  var quantized: QuantizedMatrix? { get }
  func quantize(_ scheme: QuantizedMatrix.Scheme)
  func dequantize()
}

/// What ``Module/quantizeLinearLayers(_:where:)`` did: the layers it quantized, and the bytes
/// of the model's parameters in float32 against those of the quantized model (codes, scales and
/// minimums for the quantized weights; float32 for every other parameter).
public struct QuantizationReport: Sendable, CustomStringConvertible {
  public var scheme: QuantizedMatrix.Scheme
  public var layers: [String]
  public var floatBytes: Int
  public var quantizedBytes: Int

  public var ratio: Double { Double(floatBytes) / Double(max(quantizedBytes, 1)) }

  public var description: String {
    "\(scheme): \(layers.count) linear layers, \(floatBytes) → \(quantizedBytes) bytes (÷ \(String(format: "%.2f", ratio)))"
  }
}

extension Module {
  /// Every module inside this one (itself first), by name (`layers.2.mixer.q_proj`).
  public func namedModules() -> [(name: String, module: Module)] {
    var out: [(name: String, module: Module)] = [("", self)]
    ModuleWalk.collectModules(self, prefix: "", into: &out)
    return out
  }

  /// Quantizes every linear layer and embedding table (``Quantizable``) whose name passes
  /// `include` (default: all of them) for weight-only quantized inference; norms and biases stay
  /// float32.
  @discardableResult
  public func quantizeLinearLayers(_ scheme: QuantizedMatrix.Scheme, where include: (String) -> Bool = { _ in true })
    -> QuantizationReport
  {
    var layers: [String] = []
    var savedBytes = 0
    for (name, module) in namedModules() {
      guard let layer = module as? any Quantizable, include(name) else { continue }
      layer.quantize(scheme)
      layers.append(name)
      savedBytes += 4 * layer.weight.count - layer.quantized!.bytes
    }
    let floatBytes = 4 * parameterCount
    return QuantizationReport(
      scheme: scheme, layers: layers, floatBytes: floatBytes, quantizedBytes: floatBytes - savedBytes)
  }

  /// Undoes ``quantizeLinearLayers(_:where:)``: every layer back to its float weight.
  public func dequantizeLinearLayers() {
    for (_, module) in namedModules() { (module as? any Quantizable)?.dequantize() }
  }
}

extension ModuleWalk {
  static func collectModules(_ module: Module, prefix: String, into out: inout [(name: String, module: Module)]) {
    if module is any DeclaresParameters { return }  // holds no modules
    for child in children(module) { visitModules(child.value, name: prefix + child.name, into: &out) }
  }

  static func visitModules(_ value: Any, name: String, into out: inout [(name: String, module: Module)]) {
    switch kind(of: value) {
    case .module:
      let m = value as! Module
      out.append((name, m))
      collectModules(m, prefix: name + ".", into: &out)
    case .array:
      for (i, m) in (value as? [Module] ?? []).enumerated() {
        out.append(("\(name).\(i)", m))
        collectModules(m, prefix: "\(name).\(i).", into: &out)
      }
    case .optional:
      if let wrapped = (value as! any OptionalOfAnything).wrappedValue { visitModules(wrapped, name: name, into: &out) }
    case .parameter, .optionalParameter, .plain: break
    }
  }
}
