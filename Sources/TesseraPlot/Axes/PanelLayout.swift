import Foundation

/// Type sizes, in points at 1× (all ≥ 10 so text reads at 100% zoom).
enum FontSize {
  static let tick = 10.0
  static let legend = 10.0
  static let axisLabel = 11.0
  static let title = 12.0
  static let figureTitle = 13.0
}

/// A tick placed on the page.
struct PlacedTick {
  var position: Double
  var label: String
}

/// Where everything of one panel goes: computed before drawing so that nothing overlaps —
/// margins grow to fit the measured tick labels, crowded x ticks are thinned, long titles and
/// labels are shortened with "…".
struct PanelLayout {
  enum Kind {
    case numeric
    case categories([String])
    case heatmap(HeatmapMark)
  }

  var cell: Rect
  var plot: Rect
  var kind: Kind
  var x: AxisMap
  var y: AxisMap
  var xTicks: [PlacedTick]
  var yTicks: [PlacedTick]
  var title: String?
  var xLabel: String?
  var yLabel: String?
  var colorBar: Rect?
  var colorTicks: [PlacedTick] = []
  var colorBarLabel: String?

  static let tickLength = 4.0
  static let tickGap = 3.0
  static let colorBarWidth = 12.0

  var isHeatmap: Bool {
    if case .heatmap = kind { return true }
    return false
  }

  /// `headroom`: the fraction of the plot height kept free of data at the top (for a legend).
  init(panel: Panel, cell: Rect, headroom: Double = 0) {
    self.cell = cell
    let heatmap = panel.marks.lazy.compactMap { if case .heatmap(let h) = $0 { return h } else { return nil } }.first
    let bars = panel.marks.lazy.compactMap { if case .bars(let b) = $0 { return b } else { return nil } }.first
    if let heatmap {
      kind = .heatmap(heatmap)
    } else if let bars {
      kind = .categories(bars.categories)
    } else {
      kind = .numeric
    }
    var limits = DataLimits(panel: panel, kind: kind)
    if headroom > 0 {
      limits.y.1 = limits.y.0 + (limits.y.1 - limits.y.0) / (1 - headroom)
    }

    // Vertical space first: it does not depend on the tick labels' widths.
    let titleHeight = panel.title == nil ? 6.0 : FontSize.title * 1.7
    var tickLines = 1.0
    if case .categories(let names) = kind {
      let spacing = (cell.width - 70) / Double(max(1, names.count))
      if names.contains(where: { Self.wrap($0, maxWidth: spacing - 6).contains("\n") }) { tickLines = 2 }
    }
    let xAxisHeight =
      Self.tickLength + Self.tickGap + FontSize.tick * (1.05 + 1.2 * (tickLines - 1))
      + (panel.xLabel == nil ? 4 : FontSize.axisLabel * 1.7)
    let top = cell.y + titleHeight
    let bottom = cell.maxY - xAxisHeight
    let plotHeight = max(20, bottom - top)

    // Vertical axis ticks, which decide the left margin.
    let yMap = AxisMap(scale: limits.yScale, low: limits.y.0, high: limits.y.1, start: top + plotHeight, end: top)
    let yTicks = Self.verticalTicks(kind: kind, limits: limits, map: yMap, length: plotHeight)
    let yTickWidth = yTicks.map { TextMetrics.width($0.label, size: FontSize.tick, bold: false) }.max() ?? 0
    let left =
      cell.x + (panel.yLabel == nil ? 2 : FontSize.axisLabel * 1.6) + yTickWidth + Self.tickGap
      + Self.tickLength

    // The colour bar of a heatmap takes the right edge.
    var colorReserve = 0.0
    var colorTicks: [Tick] = []
    var colorBarLabel: String?
    if case .heatmap(let h) = kind {
      colorTicks = AxisTicks.ticks(
        from: h.range.lowerBound, to: h.range.upperBound, scale: .linear, maxCount: max(2, Int(plotHeight / 40)))
      let widest = colorTicks.map { TextMetrics.width($0.label, size: FontSize.tick, bold: false) }.max() ?? 0
      colorBarLabel = h.colorBarLabel
      colorReserve =
        10 + Self.colorBarWidth + Self.tickLength + Self.tickGap + widest
        + (h.colorBarLabel == nil ? 0 : FontSize.axisLabel * 1.6)
    }

    // Horizontal axis: thin the ticks until their labels do not touch; the last label's half
    // width sets the right margin.
    var right = cell.maxX - colorReserve - 8
    var xMap = AxisMap(scale: limits.xScale, low: limits.x.0, high: limits.x.1, start: left, end: right)
    var xTicks = Self.horizontalTicks(kind: kind, limits: limits, map: xMap, length: right - left)
    for _ in 0..<2 {
      let overhang =
        (xTicks.last.map { $0.position + TextMetrics.width($0.label, size: FontSize.tick, bold: false) / 2 }
          ?? right) - right
      guard overhang > 0 else { break }
      right -= overhang
      xMap.end = right
      xTicks = Self.horizontalTicks(kind: kind, limits: limits, map: xMap, length: right - left)
    }
    self.x = xMap
    self.y = yMap
    self.xTicks = xTicks
    self.yTicks = yTicks
    self.plot = Rect(x: left, y: top, width: max(20, right - left), height: plotHeight)

    if case .heatmap = kind {
      let bar = Rect(x: plot.maxX + 10, y: plot.y, width: Self.colorBarWidth, height: plot.height)
      self.colorBar = bar
      let (low, high) = Self.colorRange(kind)
      let map = AxisMap(scale: .linear, low: low, high: high, start: bar.maxY, end: bar.y)
      self.colorTicks = colorTicks.map { PlacedTick(position: map.position(transformed: $0.value), label: $0.label) }
      self.colorBarLabel = colorBarLabel.map {
        TextMetrics.fit($0, size: FontSize.axisLabel, maxWidth: plot.height)
      }
    }

    self.title = panel.title.map { TextMetrics.fit($0, size: FontSize.title, bold: true, maxWidth: cell.width - 4) }
    let center = plot.x + plot.width / 2
    let xLabelRoom = 2 * min(center - cell.x, cell.maxX - center) - 4
    self.xLabel = panel.xLabel.map { TextMetrics.fit($0, size: FontSize.axisLabel, maxWidth: xLabelRoom) }
    self.yLabel = panel.yLabel.map { TextMetrics.fit($0, size: FontSize.axisLabel, maxWidth: plotHeight) }
  }

  static func colorRange(_ kind: Kind) -> (Double, Double) {
    if case .heatmap(let h) = kind { return (h.range.lowerBound, h.range.upperBound) }
    return (0, 1)
  }

  static func verticalTicks(kind: Kind, limits: DataLimits, map: AxisMap, length: Double) -> [PlacedTick] {
    switch kind {
    case .heatmap(let h):
      return indexTicks(count: h.values.count, labels: h.rowLabels, map: map, length: length, vertical: true)
    default:
      let ticks = AxisTicks.ticks(
        from: limits.yScale.inverse(limits.y.0), to: limits.yScale.inverse(limits.y.1), scale: limits.yScale,
        maxCount: max(2, Int(length / 42)))
      return ticks.compactMap { t in map.position(t.value).map { PlacedTick(position: $0, label: t.label) } }
    }
  }

  static func horizontalTicks(kind: Kind, limits: DataLimits, map: AxisMap, length: Double) -> [PlacedTick] {
    switch kind {
    case .heatmap(let h):
      return indexTicks(count: h.values[0].count, labels: h.columnLabels, map: map, length: length, vertical: false)
    case .categories(let names):
      let spacing = length / Double(max(1, names.count))
      return names.enumerated().map { i, name in
        PlacedTick(
          position: map.position(transformed: Double(i)),
          label: wrap(name, maxWidth: spacing - 6))
      }
    case .numeric:
      var count = max(2, Int(length / 60))
      while true {
        let ticks = AxisTicks.ticks(
          from: limits.xScale.inverse(limits.x.0), to: limits.xScale.inverse(limits.x.1), scale: limits.xScale,
          maxCount: count)
        let placed = ticks.compactMap { t in map.position(t.value).map { PlacedTick(position: $0, label: t.label) } }
        if count <= 2 || !overlaps(placed) { return placed }
        count -= 1
      }
    }
  }

  /// `s` on one line when it fits `maxWidth`, else on two lines split at a space (the second
  /// shortened with "…" if it still does not fit), else shortened.
  static func wrap(_ s: String, maxWidth: Double) -> String {
    let size = FontSize.tick
    if TextMetrics.width(s, size: size, bold: false) <= maxWidth { return s }
    let words = s.split(separator: " ").map(String.init)
    guard words.count > 1 else { return TextMetrics.fit(s, size: size, maxWidth: maxWidth) }
    var best: (String, String)?
    var bestWidth = Double.infinity
    for cut in 1..<words.count {
      let a = words[..<cut].joined(separator: " "), b = words[cut...].joined(separator: " ")
      let w = max(TextMetrics.width(a, size: size, bold: false), TextMetrics.width(b, size: size, bold: false))
      if TextMetrics.width(a, size: size, bold: false) <= maxWidth && w < bestWidth {
        best = (a, b)
        bestWidth = w
      }
    }
    guard let (a, b) = best else { return TextMetrics.fit(s, size: size, maxWidth: maxWidth) }
    return a + "\n" + TextMetrics.fit(b, size: size, maxWidth: maxWidth)
  }

  /// Whether neighbouring horizontal tick labels come closer than 6 points.
  static func overlaps(_ ticks: [PlacedTick]) -> Bool {
    for (a, b) in zip(ticks, ticks.dropFirst()) {
      let wa = TextMetrics.width(a.label, size: FontSize.tick, bold: false)
      let wb = TextMetrics.width(b.label, size: FontSize.tick, bold: false)
      if b.position - a.position < (wa + wb) / 2 + 6 { return true }
    }
    return false
  }

  /// Ticks at the centres of matrix rows or columns: every label when they fit, else every k-th.
  static func indexTicks(count: Int, labels: [String]?, map: AxisMap, length: Double, vertical: Bool) -> [PlacedTick] {
    let names = labels ?? (0..<count).map(String.init)
    let widest = names.map { TextMetrics.width($0, size: FontSize.tick, bold: false) }.max() ?? 0
    let needed = vertical ? FontSize.tick * 1.3 : widest + 6
    let spacing = length / Double(count)
    var every = max(1, Int((needed / spacing).rounded(.up)))
    if labels == nil && every > 1 {
      // Round indices to 1, 2, 5 × 10ᵏ steps.
      let magnitude = pow(10, floor(log10(Double(every))))
      every = Int([1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= Double(every) } ?? Double(every))
    }
    return stride(from: 0, to: count, by: every).map { i in
      PlacedTick(position: map.position(transformed: Double(i) + 0.5), label: names[i])
    }
  }
}

/// The data limits of a panel in each axis's transformed space, padded by 5% (bars start at 0).
struct DataLimits {
  var xScale: AxisScale
  var yScale: AxisScale
  var x: (Double, Double)
  var y: (Double, Double)

  init(panel: Panel, kind: PanelLayout.Kind) {
    switch kind {
    case .heatmap(let h):
      xScale = .linear
      yScale = .linear
      x = (0, Double(h.values[0].count))
      y = (Double(h.values.count), 0)  // row 0 at the top
      return
    case .categories(let names):
      xScale = .linear
      yScale = panel.yScale
      x = (-0.5, Double(names.count) - 0.5)
    case .numeric:
      xScale = panel.xScale
      yScale = panel.yScale
      x = (0, 1)
    }
    var xs: [Double] = []
    var ys: [Double] = []
    var barBase = false
    for mark in panel.marks {
      switch mark {
      case .line(let m):
        xs += m.x
        ys += m.y
        if let band = m.band { ys += band.lower + band.upper }
      case .scatter(let m):
        xs += m.x
        ys += m.y
      case .bars(let b):
        barBase = true
        if b.stacked {
          for c in b.categories.indices {
            let values = b.series.map { $0.values[c] }.filter(\.isFinite)
            ys.append(values.filter { $0 > 0 }.reduce(0, +))
            ys.append(values.filter { $0 < 0 }.reduce(0, +))
          }
        } else {
          ys += b.series.flatMap(\.values)
        }
      case .reference(let r):
        if r.horizontal { ys.append(r.value) } else { xs.append(r.value) }
      case .text(let t):
        xs.append(t.x)
        ys.append(t.y)
      case .heatmap:
        break
      }
    }
    if case .numeric = kind {
      x = Self.range(xs, scale: xScale, fixed: panel.xLimits, includeZero: false)
    }
    y = Self.range(ys, scale: yScale, fixed: panel.yLimits, includeZero: barBase && yScale == .linear)
  }

  static func range(_ values: [Double], scale: AxisScale, fixed: ClosedRange<Double>?, includeZero: Bool) -> (
    Double, Double
  ) {
    if let fixed, let lo = scale.transform(fixed.lowerBound), let hi = scale.transform(fixed.upperBound), hi > lo {
      return (lo, hi)
    }
    let t = values.compactMap(scale.transform)
    guard var lo = t.min(), var hi = t.max() else { return scale == .log ? (0, 1) : (0, 1) }
    if includeZero {
      lo = min(lo, 0)
      hi = max(hi, 0)
    }
    if hi - lo < 1e-12 * max(1, abs(lo)) {
      let d = scale == .log ? 0.5 : max(abs(lo) * 0.1, 0.5)
      return (lo - d, hi + d)
    }
    let pad = (hi - lo) * 0.05
    return (includeZero && lo == 0 ? 0 : lo - pad, includeZero && hi == 0 ? 0 : hi + pad)
  }
}
