/// Where a panel's legend goes.
public enum LegendPlacement: Sendable {
  /// The inside corner that covers the fewest data points.
  case automatic
  case topLeft, topRight, bottomLeft, bottomRight
  case hidden
}

/// One set of axes in a ``Figure``: its marks, labels, scales and limits.
///
/// Marks are added with methods that return the panel, so calls chain:
/// ```swift
/// let figure = Figure()
/// figure.panel.line(x: steps, y: loss, label: "attention").line(x: steps, y: gla, label: "GLA")
/// figure.panel.yScale = .log
/// ```
/// Non-finite values (and values ≤ 0 on a log axis) are skipped, not drawn; an empty series or
/// x and y of different lengths stop with a message naming the call.
public final class Panel {
  public var title: String?
  public var xLabel: String?
  public var yLabel: String?
  public var xScale: AxisScale = .linear
  public var yScale: AxisScale = .linear
  /// Fixed limits (data values); automatic when nil.
  public var xLimits: ClosedRange<Double>?
  public var yLimits: ClosedRange<Double>?
  public var legend: LegendPlacement = .automatic
  /// Grid lines at the major ticks.
  public var grid = true

  var marks: [Mark] = []
  var nextColor = 0

  public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
  }

  func takeColor(_ color: Color?) -> Color {
    if let color { return color }
    defer { nextColor += 1 }
    return Color.series(nextColor)
  }

  static func values<V: PlotValue>(_ v: [V]) -> [Double] { v.map(\.plotValue) }

  /// A line through (x, y); `band` shades between `lower` and `upper` at the same x.
  @discardableResult
  public func line<X: PlotValue, Y: PlotValue>(
    x: [X], y: [Y], label: String? = nil, color: Color? = nil, width: Double = 1.8, style: LineStyle = .solid,
    band: (lower: [Y], upper: [Y])? = nil
  ) -> Panel {
    let name = label.map { "line \"\($0)\"" } ?? "line"
    plotCheck(!y.isEmpty, "\(name): the series is empty")
    plotCheck(x.count == y.count, "\(name): x has \(x.count) values but y has \(y.count)")
    if let band {
      plotCheck(
        band.lower.count == y.count && band.upper.count == y.count,
        "\(name): the band has \(band.lower.count) lower and \(band.upper.count) upper values for \(y.count) points")
    }
    marks.append(
      .line(
        LineMark(
          label: label, x: Self.values(x), y: Self.values(y), color: takeColor(color), width: width, style: style,
          band: band.map { (Self.values($0.lower), Self.values($0.upper)) })))
    return self
  }

  /// A line through y at x = 0, 1, 2, ….
  @discardableResult
  public func line<Y: PlotValue>(
    _ y: [Y], label: String? = nil, color: Color? = nil, width: Double = 1.8, style: LineStyle = .solid
  ) -> Panel {
    line(x: Array(0..<y.count), y: y, label: label, color: color, width: width, style: style)
  }

  /// Points at (x, y).
  @discardableResult
  public func scatter<X: PlotValue, Y: PlotValue>(
    x: [X], y: [Y], label: String? = nil, color: Color? = nil, radius: Double = 3
  ) -> Panel {
    let name = label.map { "scatter \"\($0)\"" } ?? "scatter"
    plotCheck(!y.isEmpty, "\(name): the series is empty")
    plotCheck(x.count == y.count, "\(name): x has \(x.count) values but y has \(y.count)")
    marks.append(
      .scatter(
        ScatterMark(label: label, x: Self.values(x), y: Self.values(y), color: takeColor(color), radius: radius)))
    return self
  }

  /// Bars: one group per category, one bar per series in each group (side by side, or stacked).
  @discardableResult
  public func bars<V: PlotValue>(
    categories: [String], series: KeyValuePairs<String, [V]>, stacked: Bool = false, colors: [Color]? = nil
  ) -> Panel {
    plotCheck(!categories.isEmpty, "bars: no categories")
    plotCheck(!series.isEmpty, "bars: no series")
    var list: [(label: String, values: [Double], color: Color)] = []
    for (i, (label, values)) in series.enumerated() {
      plotCheck(!values.isEmpty, "bars \"\(label)\": the series is empty")
      plotCheck(
        values.count == categories.count,
        "bars \"\(label)\": \(values.count) values for \(categories.count) categories")
      list.append((label, Self.values(values), takeColor(colors.map { $0[i % $0.count] })))
    }
    marks.append(.bars(BarMark(categories: categories, series: list, stacked: stacked)))
    return self
  }

  /// Bars of one unlabelled series.
  @discardableResult
  public func bars<V: PlotValue>(categories: [String], values: [V], color: Color? = nil) -> Panel {
    let colors = color.map { [$0] }
    return bars(categories: categories, series: ["": values], colors: colors)
  }

  /// A matrix (`values[row][column]`) as coloured cells, row 0 at the top, with a colour bar.
  /// `range` fixes the values at the ends of the colour map (default: the finite min and max).
  @discardableResult
  public func heatmap<V: PlotValue>(
    _ values: [[V]], colorMap: ColorMap = .viridis, range: ClosedRange<Double>? = nil, rowLabels: [String]? = nil,
    columnLabels: [String]? = nil, colorBarLabel: String? = nil
  ) -> Panel {
    plotCheck(!values.isEmpty && !values[0].isEmpty, "heatmap: the matrix is empty")
    let width = values[0].count
    for (r, row) in values.enumerated() {
      plotCheck(row.count == width, "heatmap: row \(r) has \(row.count) values, row 0 has \(width)")
    }
    if let rowLabels {
      plotCheck(rowLabels.count == values.count, "heatmap: \(rowLabels.count) row labels for \(values.count) rows")
    }
    if let columnLabels {
      plotCheck(columnLabels.count == width, "heatmap: \(columnLabels.count) column labels for \(width) columns")
    }
    let matrix = values.map { row in row.map(\.plotValue) }
    let finite = matrix.joined().filter(\.isFinite)
    var lo = range?.lowerBound ?? finite.min() ?? 0
    var hi = range?.upperBound ?? finite.max() ?? 1
    if hi <= lo {
      lo -= 0.5
      hi += 0.5
    }
    marks.append(
      .heatmap(
        HeatmapMark(
          values: matrix, colorMap: colorMap, range: lo...hi, rowLabels: rowLabels, columnLabels: columnLabels,
          colorBarLabel: colorBarLabel)))
    return self
  }

  /// A horizontal line across the panel at `y`.
  @discardableResult
  public func horizontalLine(at y: Double, label: String? = nil, color: Color = .gray, style: LineStyle = .dashed)
    -> Panel
  {
    plotCheck(y.isFinite, "horizontalLine: \(y) is not a finite value")
    marks.append(.reference(ReferenceLineMark(horizontal: true, value: y, label: label, color: color, style: style)))
    return self
  }

  /// A vertical line across the panel at `x`.
  @discardableResult
  public func verticalLine(at x: Double, label: String? = nil, color: Color = .gray, style: LineStyle = .dashed)
    -> Panel
  {
    plotCheck(x.isFinite, "verticalLine: \(x) is not a finite value")
    marks.append(.reference(ReferenceLineMark(horizontal: false, value: x, label: label, color: color, style: style)))
    return self
  }

  /// Text starting at the data position (x, y).
  @discardableResult
  public func text(_ text: String, x: Double, y: Double, color: Color = .ink, size: Double = 10) -> Panel {
    plotCheck(size >= 10, "text: font size \(size) is below the 10-point minimum")
    marks.append(.text(TextMark(text: text, x: x, y: y, color: color, size: size)))
    return self
  }

  /// The labels the legend shows, with their colours.
  var legendEntries: [(label: String, color: Color, kind: LegendSwatch)] {
    var entries: [(String, Color, LegendSwatch)] = []
    for mark in marks {
      switch mark {
      case .line(let m): if let l = m.label { entries.append((l, m.color, .line(m.style, m.band != nil))) }
      case .scatter(let m): if let l = m.label { entries.append((l, m.color, .point)) }
      case .bars(let m): for s in m.series where !s.label.isEmpty { entries.append((s.label, s.color, .box)) }
      case .reference(let m): if let l = m.label { entries.append((l, m.color, .line(m.style, false))) }
      case .heatmap, .text: break
      }
    }
    return entries
  }
}

/// What a legend entry shows next to its label.
enum LegendSwatch {
  case line(LineStyle, Bool)
  case point
  case box
}
