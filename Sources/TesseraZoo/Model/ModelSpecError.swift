/// A spec that cannot be built, with the JSON path of the offending value
/// (`stages[0].blocks[3].channel.options.topK`) and what is wrong with it.
public struct ModelSpecError: Error, CustomStringConvertible, Equatable {
  /// The JSON path of the value at fault (empty for the spec as a whole).
  public var path: String
  public var message: String

  public init(_ path: String, _ message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { path.isEmpty ? message : "\(path): \(message)" }

  /// The error of a `Decodable` spec or options value, its coding path appended to `prefix`.
  init(decoding error: DecodingError, under prefix: String) {
    func join(_ keys: [CodingKey]) -> String {
      var out = prefix
      for key in keys {
        if let index = key.intValue {
          out += "[\(index)]"
        } else {
          out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
      }
      return out
    }
    switch error {
    case .typeMismatch(let type, let context):
      self.init(join(context.codingPath), "expected \(Self.describe(type)); \(context.debugDescription)")
    case .valueNotFound(let type, let context):
      self.init(join(context.codingPath), "expected \(Self.describe(type)), found null")
    case .keyNotFound(let key, let context):
      self.init(join(context.codingPath + [key]), "is required")
    case .dataCorrupted(let context):
      self.init(join(context.codingPath), context.debugDescription)
    @unknown default:
      self.init(prefix, "\(error)")
    }
  }

  static func describe(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is Bool.Type: return "true or false"
    case is String.Type: return "a string"
    default: return "\(type)"
    }
  }
}
