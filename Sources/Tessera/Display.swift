import Foundation

/// A value in several representations, keyed by mime type (`text/plain`, `text/markdown`,
/// `text/html`, `image/png` as base64, `image/svg+xml`, `application/json`), as Jupyter shows it.
public struct MimeBundle {
  /// Representations in order of preference; `text/plain` should always be present.
  public var data: [(String, Any)]
  /// Per-output metadata (e.g. image sizes).
  public var metadata: [String: Any]
  /// A name to export the output under (figures), when given.
  public var name: String?

  public init(_ data: [(String, Any)], metadata: [String: Any] = [:], name: String? = nil) {
    self.data = data
    self.metadata = metadata
    self.name = name
  }

  /// The `text/plain` representation.
  public var plainText: String { data.first { $0.0 == "text/plain" }?.1 as? String ?? "" }
}

/// A value that knows how to show itself in a notebook.
public protocol Displayable {
  var mimeBundle: MimeBundle { get }
}

/// Records a result of the run under `name`: `tessera run` writes it to the notebook's
/// `metadata.tessera.metrics` (the last value recorded under a name is kept), and `tessera
/// collect` gathers it from every point of a sweep. Outside the runner it prints `name = value`.
/// A value that is not finite is recorded as null.
public func record(_ name: String, _ value: Double) {
  _NotebookChannel.sendMetric(name, value)
}

/// Shows `value` as an output of the running cell: its ``MimeBundle`` when it is
/// ``Displayable``, else its `description` as `text/plain`. Outside `tessera run`, prints the text.
public func display(_ value: Any) {
  if let displayable = value as? Displayable {
    _NotebookChannel.send(displayable.mimeBundle)
  } else {
    _NotebookChannel.send(MimeBundle([("text/plain", String(describing: value))]))
  }
}

/// Shows Markdown (with its source as `text/plain`).
public func display(markdown: String) {
  _NotebookChannel.send(MimeBundle([("text/markdown", markdown), ("text/plain", markdown)]))
}

/// Shows static HTML, with `plainText` for renderers that show no HTML.
public func display(html: String, plainText: String = "") {
  _NotebookChannel.send(MimeBundle([("text/html", html), ("text/plain", plainText)]))
}

extension Tensor: Displayable {
  public var mimeBundle: MimeBundle { MimeBundle([("text/plain", description)]) }
}
