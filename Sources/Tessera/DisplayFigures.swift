import Foundation

extension Figure: Displayable {
  /// PNG at 2× (shown at 1× through its metadata), SVG, and a one-line description.
  public var mimeBundle: MimeBundle {
    MimeBundle(
      [("image/png", png(scale: 2).base64EncodedString()), ("image/svg+xml", svg()), ("text/plain", description)],
      metadata: ["image/png": ["width": Int(width.rounded()), "height": Int(height.rounded())]], name: name)
  }
}

extension Table: Displayable {
  public var mimeBundle: MimeBundle {
    MimeBundle([("text/markdown", markdown), ("text/html", html), ("text/plain", description)])
  }
}

extension Panel {
  /// A rank-2 tensor (`[rows, columns]`) as a heatmap, row 0 at the top.
  @discardableResult
  public func heatmap(
    _ tensor: Tensor, colorMap: ColorMap = .viridis, range: ClosedRange<Double>? = nil, colorBarLabel: String? = nil
  ) -> Panel {
    heatmap(tensor.plotRows, colorMap: colorMap, range: range, colorBarLabel: colorBarLabel)
  }
}

/// A rank-2 tensor (e.g. attention weights `[query, key]`) as a heatmap with a colour bar.
public func plotHeatmap(
  _ tensor: Tensor, title: String? = nil, xLabel: String = "key", yLabel: String = "query",
  colorBarLabel: String? = "weight", range: ClosedRange<Double>? = nil
) -> Figure {
  plotHeatmap(tensor.plotRows, title: title, xLabel: xLabel, yLabel: yLabel, colorBarLabel: colorBarLabel, range: range)
}

extension Tensor {
  /// The rows of a rank-2 tensor as arrays.
  var plotRows: [[Float]] {
    if shape.count != 2 { fatalError("heatmap: needs a rank-2 tensor, got shape \(shape)") }
    let values = scalars
    return (0..<shape[0]).map { r in Array(values[(r * shape[1])..<((r + 1) * shape[1])]) }
  }
}
