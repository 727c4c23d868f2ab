/// One cell of a notebook, over its JSON object (unknown fields are kept).
public struct Cell: Sendable {
  public var json: JSONValue

  public init(_ json: JSONValue) { self.json = json }

  /// `code`, `markdown` or `raw`.
  public var type: String { json["cell_type"]?.stringValue ?? "" }
  /// The cell id (nbformat 4.5), if present.
  public var id: String? {
    get { json["id"]?.stringValue }
    set { json["id"] = newValue.map { .string($0) } }
  }
  /// The source text.
  public var source: String {
    get { json["source"]?.joinedText ?? "" }
    set { json["source"] = JSONValue.lines(newValue) }
  }
  /// The cell's metadata object.
  public var metadata: JSONValue {
    get { json["metadata"] ?? .object([]) }
    set { json["metadata"] = newValue }
  }
  /// The cell's tags (`metadata.tags`).
  public var tags: [String] { metadata["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
  /// The outputs of a code cell.
  public var outputs: [JSONValue] {
    get { json["outputs"]?.arrayValue ?? [] }
    set { json["outputs"] = .array(newValue) }
  }

  /// A new cell of `type` with `source`, `tags` and an id.
  public static func make(type: String, id: String, source: String, tags: [String] = []) -> Cell {
    var metadata: [(String, JSONValue)] = []
    if !tags.isEmpty { metadata.append(("tags", .array(tags.map { .string($0) }))) }
    var members: [(String, JSONValue)] = [
      ("cell_type", .string(type)), ("id", .string(id)), ("metadata", .object(metadata)),
      ("source", JSONValue.lines(source)),
    ]
    if type == "code" {
      members.append(("execution_count", .null))
      members.append(("outputs", .array([])))
    }
    return Cell(.object(members))
  }
}

/// Constructors of nbformat output objects.
public enum Output {
  /// A `stream` output (`stdout` or `stderr`).
  public static func stream(_ name: String, _ text: String) -> JSONValue {
    .object([("name", .string(name)), ("output_type", .string("stream")), ("text", JSONValue.lines(text))])
  }

  /// A `display_data` output from a mime bundle; text-like values are stored as lists of lines.
  public static func displayData(_ data: [(String, JSONValue)], metadata: JSONValue = .object([])) -> JSONValue {
    .object([
      ("data", .object(data.map { mime, value in (mime, splitIfText(mime, value)) })),
      ("metadata", metadata), ("output_type", .string("display_data")),
    ])
  }

  /// An `error` output.
  public static func error(name: String, value: String, traceback: [String]) -> JSONValue {
    .object([
      ("ename", .string(name)), ("evalue", .string(value)), ("output_type", .string("error")),
      ("traceback", .array(traceback.map { .string($0) })),
    ])
  }

  /// nbformat stores `text/*`, `image/svg+xml` and `application/javascript` as lists of lines;
  /// `image/png` stays one base64 string and `application/*+json` stays a JSON value.
  static func splitIfText(_ mime: String, _ value: JSONValue) -> JSONValue {
    guard case .string(let s) = value,
      mime.hasPrefix("text/") || mime == "image/svg+xml" || mime == "application/javascript"
    else {
      return value
    }
    return JSONValue.lines(s)
  }
}
