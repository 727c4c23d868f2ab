/// How a line is drawn.
public enum LineStyle: Sendable {
  case solid, dashed, dotted

  var dash: [Double] {
    switch self {
    case .solid: return []
    case .dashed: return [5, 3]
    case .dotted: return [1.5, 2.5]
    }
  }
}

/// A series as a line through (x, y), optionally with a shaded band (e.g. mean ± std over seeds).
struct LineMark {
  var label: String?
  var x: [Double]
  var y: [Double]
  var color: Color
  var width: Double
  var style: LineStyle
  var band: (lower: [Double], upper: [Double])?
}

/// Points at (x, y).
struct ScatterMark {
  var label: String?
  var x: [Double]
  var y: [Double]
  var color: Color
  var radius: Double
}

/// Bars over categories: one bar per category and series, side by side or stacked.
struct BarMark {
  var categories: [String]
  var series: [(label: String, values: [Double], color: Color)]
  var stacked: Bool
}

/// A matrix drawn as coloured cells, row 0 at the top, with a colour bar.
struct HeatmapMark {
  var values: [[Double]]
  var colorMap: ColorMap
  var range: ClosedRange<Double>
  var rowLabels: [String]?
  var columnLabels: [String]?
  var colorBarLabel: String?
}

/// A horizontal or vertical line across the panel at a data value.
struct ReferenceLineMark {
  var horizontal: Bool
  var value: Double
  var label: String?
  var color: Color
  var style: LineStyle
}

/// Text at a data position.
struct TextMark {
  var text: String
  var x: Double
  var y: Double
  var color: Color
  var size: Double
}

/// Anything a panel draws.
enum Mark {
  case line(LineMark)
  case scatter(ScatterMark)
  case bars(BarMark)
  case heatmap(HeatmapMark)
  case reference(ReferenceLineMark)
  case text(TextMark)
}
