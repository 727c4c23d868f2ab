/// A point in page coordinates (points, y down).
public struct Point: Equatable, Sendable {
  public var x: Double
  public var y: Double
  public init(_ x: Double, _ y: Double) {
    self.x = x
    self.y = y
  }
}

/// A rectangle in page coordinates (points, y down).
public struct Rect: Equatable, Sendable {
  public var x: Double
  public var y: Double
  public var width: Double
  public var height: Double
  public init(x: Double, y: Double, width: Double, height: Double) {
    self.x = x
    self.y = y
    self.width = width
    self.height = height
  }
  public var maxX: Double { x + width }
  public var maxY: Double { y + height }
  func contains(_ p: Point) -> Bool { p.x >= x && p.x <= maxX && p.y >= y && p.y <= maxY }
  func intersects(_ r: Rect) -> Bool { x < r.maxX && r.x < maxX && y < r.maxY && r.y < maxY }
  func inset(_ d: Double) -> Rect { Rect(x: x + d, y: y + d, width: width - 2 * d, height: height - 2 * d) }
}

/// Horizontal placement of text relative to its anchor point.
enum TextAnchor {
  case start, middle, end
}

/// The drawing operations a figure needs; Cairo (PNG, PDF) and the SVG writer implement them.
/// Text is positioned by its baseline; widths come from ``measure(_:size:bold:)``, which all
/// canvases answer from the same font (DejaVu Sans through Cairo).
protocol Canvas: AnyObject {
  /// Opens a group of drawing operations (an SVG `<g class=…>`), optionally clipped to `clip`.
  func beginGroup(_ kind: String, label: String?, clip: Rect?)
  func endGroup()
  /// Strokes (and/or fills) a path made of `subpaths`.
  func path(_ subpaths: [[Point]], stroke: Color?, width: Double, dash: [Double], fill: Color?, closed: Bool)
  func rect(_ r: Rect, fill: Color?, stroke: Color?, width: Double)
  func circles(_ centers: [Point], radius: Double, fill: Color)
  /// Text whose baseline starts (or centres, or ends) at `at`; rotated a quarter turn
  /// anticlockwise when `vertical`.
  func text(_ s: String, at: Point, size: Double, bold: Bool, color: Color, anchor: TextAnchor, vertical: Bool)
  /// An RGBA image (8 bits per channel, not premultiplied, row 0 on top) stretched over `rect`
  /// with nearest-neighbour sampling.
  func image(_ rgba: [UInt8], width: Int, height: Int, in rect: Rect)
}

extension Canvas {
  func measure(_ s: String, size: Double, bold: Bool = false) -> Double {
    TextMetrics.width(s, size: size, bold: bold)
  }
}

/// A canvas that draws nothing (used to compute layouts).
final class MeasuringCanvas: Canvas {
  func beginGroup(_ kind: String, label: String?, clip: Rect?) {}
  func endGroup() {}
  func path(_ subpaths: [[Point]], stroke: Color?, width: Double, dash: [Double], fill: Color?, closed: Bool) {}
  func rect(_ r: Rect, fill: Color?, stroke: Color?, width: Double) {}
  func circles(_ centers: [Point], radius: Double, fill: Color) {}
  func text(_ s: String, at: Point, size: Double, bold: Bool, color: Color, anchor: TextAnchor, vertical: Bool) {}
  func image(_ rgba: [UInt8], width: Int, height: Int, in rect: Rect) {}
}

/// A canvas that records where text goes (for layout checks).
final class TextRecordingCanvas: Canvas {
  var boxes: [(text: String, box: Rect)] = []
  func beginGroup(_ kind: String, label: String?, clip: Rect?) {}
  func endGroup() {}
  func path(_ subpaths: [[Point]], stroke: Color?, width: Double, dash: [Double], fill: Color?, closed: Bool) {}
  func rect(_ r: Rect, fill: Color?, stroke: Color?, width: Double) {}
  func circles(_ centers: [Point], radius: Double, fill: Color) {}
  func image(_ rgba: [UInt8], width: Int, height: Int, in rect: Rect) {}
  func text(_ s: String, at: Point, size: Double, bold: Bool, color: Color, anchor: TextAnchor, vertical: Bool) {
    let w = TextMetrics.width(s, size: size, bold: bold)
    let start: Double
    switch anchor {
    case .start: start = 0
    case .middle: start = -w / 2
    case .end: start = -w
    }
    // From the top of capitals to the bottom of descenders.
    let above = size * TextMetrics.capHeight, below = size * TextMetrics.descent
    let box =
      vertical
      ? Rect(x: at.x - above, y: at.y - start - w, width: above + below, height: w)
      : Rect(x: at.x + start, y: at.y - above, width: w, height: above + below)
    boxes.append((s, box))
  }
}
