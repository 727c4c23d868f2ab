import Synchronization
import TesseraCore

/// A trainable tensor held by a ``Module``: `@Parameter var weight: Tensor`.
///
/// The wrapper is a reference, so a module's parameters can be found by reflection and replaced
/// in place (by optimizers, checkpoint loading, and ``valueAndGradient(of:_:)``).
@propertyWrapper
public final class Parameter {
  private var value: Tensor
  /// Set when this slot stands for a present ``OptionalParameter``.
  private weak var optional: OptionalParameter?

  public var wrappedValue: Tensor {
    get { optional?.wrappedValue ?? value }
    set {
      if let optional { optional.wrappedValue = newValue } else { value = newValue }
    }
  }

  public init(wrappedValue: Tensor) { self.value = wrappedValue }

  init(optional: OptionalParameter) {
    self.value = optional.wrappedValue!
    self.optional = optional
  }
}

/// A layer or model: a class whose stored properties are ``Parameter``s, child modules, arrays of
/// modules and plain settings.
///
/// Parameters get stable dotted names from the property path, in declaration order, with Swift's
/// camelCase turned into the snake_case a PyTorch `state_dict` would use:
/// `layers.0.mixer.q_proj.weight` for `layers[0].mixer.qProj.weight`.
public protocol Module: AnyObject {}

extension Module {
  /// Every parameter with its dotted name, in declaration order.
  public func namedParameters() -> [(name: String, value: Tensor)] {
    parameterSlots().map { ($0.name, $0.slot.wrappedValue) }
  }

  /// Parameters by dotted name.
  public func parameters() -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.name, $0.value) })
  }

  /// The number of trainable scalars.
  public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.value.count } }

  /// Replaces parameters by name. Every name must be one of this module's parameters and every
  /// shape must match; with `strict`, every parameter must be given.
  public func update(_ values: [String: Tensor], strict: Bool = false) throws {
    let slots = parameterSlots()
    let known = Set(slots.map(\.name))
    let unexpected = values.keys.filter { !known.contains($0) }.sorted()
    let missing = strict ? slots.map(\.name).filter { values[$0] == nil } : []
    if !unexpected.isEmpty || !missing.isEmpty {
      throw ModuleError.names(missing: missing, unexpected: unexpected)
    }
    for (name, slot) in slots {
      guard let value = values[name] else { continue }
      guard value.shape == slot.wrappedValue.shape else {
        throw ModuleError.shape(name: name, expected: slot.wrappedValue.shape, got: value.shape)
      }
      slot.wrappedValue = value
    }
  }

  /// The parameter boxes with their names, found by walking the stored properties.
  func parameterSlots() -> [(name: String, slot: Parameter)] {
    var out: [(String, Parameter)] = []
    ModuleWalk.collect(self, prefix: "", into: &out)
    return out
  }
}

/// A mistake in matching parameters by name.
public enum ModuleError: Error, CustomStringConvertible {
  case names(missing: [String], unexpected: [String])
  case shape(name: String, expected: [Int], got: [Int])

  public var description: String {
    switch self {
    case .names(let missing, let unexpected):
      var parts: [String] = []
      if !missing.isEmpty { parts.append("missing: \(missing.joined(separator: ", "))") }
      if !unexpected.isEmpty { parts.append("unexpected: \(unexpected.joined(separator: ", "))") }
      return "parameter names do not match (" + parts.joined(separator: "; ") + ")"
    case .shape(let name, let expected, let got):
      return "parameter \(name) has shape \(expected), the value given has \(got)"
    }
  }
}

/// Walks a module's stored properties by reflection. What a value can hold is decided once per
/// dynamic type (`Kind`) and each class's property names once per class, so a walk reflects only
/// on modules, never on their settings; ``DeclaresParameters`` layers are not reflected on at all.
/// Optionals and arrays are looked into on every walk (what they hold can change).
enum ModuleWalk {
  /// What a value of one dynamic type can hold.
  enum Kind {
    case parameter, optionalParameter, module
    /// An array: its elements may be modules or parameters (cast each time: `[Any]` depends on its contents).
    case array
    /// An optional: unwrapped each time.
    case optional
    /// Anything else (numbers, strings, enums, structs, other classes): holds no parameter.
    case plain
  }

  private struct Caches {
    var kinds: [ObjectIdentifier: Kind] = [:]
    var names: [ObjectIdentifier: [String?]] = [:]
  }
  private static let caches = Mutex(Caches())

  /// Decided by the value's type alone (a cast of the value would look through an optional that
  /// holds something, and then fail on one that holds nothing).
  static func kind(of value: Any) -> Kind {
    let type = Swift.type(of: value)
    let key = ObjectIdentifier(type)
    if let known = caches.withLock({ $0.kinds[key] }) { return known }
    let kind: Kind
    switch type {
    case is Parameter.Type: kind = .parameter
    case is OptionalParameter.Type: kind = .optionalParameter
    case is any Module.Type: kind = .module
    case is any ArrayOfAnything.Type: kind = .array
    case is any OptionalOfAnything.Type: kind = .optional
    default: kind = .plain
    }
    caches.withLock { $0.kinds[key] = kind }
    return kind
  }

  /// The stored properties of `module` (superclass first), named as parameters are: without a
  /// property wrapper's underscore, in snake case.
  static func children(_ module: Module) -> [(name: String, value: Any)] {
    var mirrors: [Mirror] = []
    var mirror: Mirror? = Mirror(reflecting: module)
    while let m = mirror {
      mirrors.append(m)
      mirror = m.superclassMirror
    }
    let values = mirrors.reversed().flatMap { $0.children }
    let type = ObjectIdentifier(Swift.type(of: module))
    var names = caches.withLock { $0.names[type] }
    if names?.count != values.count {
      names = values.map { child in
        guard var label = child.label else { return nil }
        if label.hasPrefix("_") { label.removeFirst() }
        return snakeCase(label)
      }
      caches.withLock { $0.names[type] = names }
    }
    return zip(names!, values).compactMap { name, child in name.map { ($0, child.value) } }
  }

  static func collect(_ module: Module, prefix: String, into out: inout [(String, Parameter)]) {
    if let leaf = module as? any DeclaresParameters {
      leaf.appendParameters(prefix: prefix, into: &out)
      return
    }
    for child in children(module) { visit(child.value, name: prefix + child.name, into: &out) }
  }

  static func visit(_ value: Any, name: String, into out: inout [(String, Parameter)]) {
    switch kind(of: value) {
    case .parameter: out.append((name, value as! Parameter))
    case .optionalParameter:
      let p = value as! OptionalParameter
      if p.wrappedValue != nil { out.append((name, Parameter(optional: p))) }
    case .module: collect(value as! Module, prefix: name + ".", into: &out)
    case .array:
      if let list = value as? [Module] {
        for (i, m) in list.enumerated() { collect(m, prefix: "\(name).\(i).", into: &out) }
      } else if let list = value as? [Parameter] {
        for (i, p) in list.enumerated() { out.append(("\(name).\(i)", p)) }
      }
    case .optional:
      // Optionals holding a module or a parameter.
      if let wrapped = (value as! any OptionalOfAnything).wrappedValue { visit(wrapped, name: name, into: &out) }
    case .plain: break
    }
  }

  /// `qProj` → `q_proj`, `layerNorm2` → `layer_norm2`.
  static func snakeCase(_ s: String) -> String {
    var out = ""
    for ch in s {
      if ch.isUppercase {
        if !out.isEmpty { out.append("_") }
        out.append(contentsOf: ch.lowercased())
      } else {
        out.append(ch)
      }
    }
    return out
  }
}

/// A module of this library that holds no modules and names its parameters itself, in declaration
/// order, as the walk would: `Linear` (a layer of 64 experts holds 192 of them; reflecting on each
/// costs more than the rest of the walk).
protocol DeclaresParameters: Module {
  func appendParameters(prefix: String, into out: inout [(String, Parameter)])
}

/// Any `Optional`, its value reachable without reflection.
protocol OptionalOfAnything {
  var wrappedValue: Any? { get }
}

extension Optional: OptionalOfAnything {
  var wrappedValue: Any? { self.map { $0 as Any } }
}

/// Any `Array`.
protocol ArrayOfAnything {}

extension Array: ArrayOfAnything {}

/// Evaluates `f(model)` and the gradient of its scalar result with respect to every parameter
/// of `model`, by name. The model's parameters are traced for the call and restored after.
///
/// ```swift
/// let (loss, grads) = valueAndGradient(of: model) { m in crossEntropy(m(tokens), targets: next) }
/// optimizer.update(model, gradients: grads)
/// ```
public func valueAndGradient<M: Module>(of model: M, _ f: (M) throws -> Tensor) rethrows -> (
  value: Tensor, gradient: [String: Tensor]
) {
  let (value, gradient, _) = try valueAndGradient(of: model, at: Tensor(0)) { m, _ in try f(m) }
  return (value, gradient)
}

/// Evaluates `f(model, x)` and the gradient of its scalar result with respect to every parameter
/// of `model` (by name) and to `x`: one layer's backward pass as a training step runs it. The
/// model's parameters are traced for the call and restored after.
public func valueAndGradient<M: Module>(of model: M, at x: Tensor, _ f: (M, Tensor) throws -> Tensor) rethrows
  -> (value: Tensor, gradient: [String: Tensor], inputGradient: Tensor)
{
  let slots = model.parameterSlots()
  let original = slots.map(\.slot.wrappedValue)
  defer { for (i, s) in slots.enumerated() { s.slot.wrappedValue = original[i] } }
  var start = Dictionary(uniqueKeysWithValues: slots.map { ($0.name, $0.slot.wrappedValue) })
  let input = ""  // no parameter has an empty name
  start[input] = x
  var (value, gradient) = try valueAndGradient(at: start) { traced in
    for s in slots { s.slot.wrappedValue = traced[s.name]! }
    return try f(model, traced[input]!)
  }
  let inputGradient = gradient.removeValue(forKey: input)!
  return (value, gradient, inputGradient)
}

/// An optional trainable tensor (a bias that a layer may leave out).
@propertyWrapper
public final class OptionalParameter {
  public var wrappedValue: Tensor?
  public init(wrappedValue: Tensor?) { self.wrappedValue = wrappedValue }
}
