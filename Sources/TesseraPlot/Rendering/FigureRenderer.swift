import Foundation

/// Lays out a ``Figure`` and draws it on a ``Canvas``: grid lines, marks (clipped to the plot
/// area), axes, labels, colour bars and legends, in that order.
struct FigureRenderer {
  let figure: Figure

  static let margin = 6.0
  static let gap = 10.0

  /// The layout of every panel.
  func layout(measure: Canvas) -> [PanelLayout] {
    let titleHeight = figure.title == nil ? 0 : FontSize.figureTitle * 1.8
    let m = Self.margin
    let cellWidth = (figure.width - 2 * m - Double(figure.columns - 1) * Self.gap) / Double(figure.columns)
    let cellHeight =
      (figure.height - 2 * m - titleHeight - Double(figure.rows - 1) * Self.gap) / Double(figure.rows)
    var layouts: [PanelLayout] = []
    for r in 0..<figure.rows {
      for c in 0..<figure.columns {
        let cell = Rect(
          x: m + Double(c) * (cellWidth + Self.gap), y: m + titleHeight + Double(r) * (cellHeight + Self.gap),
          width: cellWidth, height: cellHeight)
        let panel = figure.panels[r * figure.columns + c]
        var layout = PanelLayout(panel: panel, cell: cell)
        // When every corner of the plot holds data, raise the top of the y axis to make room for the legend.
        if panel.legend == .automatic, panel.yLimits == nil, !layout.isHeatmap {
          let renderer = PanelRenderer(panel: panel, layout: layout, canvas: measure)
          if let box = renderer.legendBox(), renderer.placeLegend(width: box.width, height: box.height).covered > 0 {
            let headroom = (box.height + 10) / layout.plot.height
            if headroom < 0.6 { layout = PanelLayout(panel: panel, cell: cell, headroom: headroom) }
          }
        }
        layouts.append(layout)
      }
    }
    return layouts
  }

  func draw(on canvas: Canvas) {
    if let title = figure.title {
      let text = TextMetrics.fit(title, size: FontSize.figureTitle, bold: true, maxWidth: figure.width - 12)
      canvas.beginGroup("figure-title", label: nil, clip: nil)
      canvas.text(
        text, at: Point(figure.width / 2, Self.margin + FontSize.figureTitle * 1.1), size: FontSize.figureTitle,
        bold: true, color: .ink, anchor: .middle, vertical: false)
      canvas.endGroup()
    }
    for (panel, layout) in zip(figure.panels, layout(measure: canvas)) {
      canvas.beginGroup("panel", label: panel.title, clip: nil)
      PanelRenderer(panel: panel, layout: layout, canvas: canvas).draw()
      canvas.endGroup()
    }
  }
}

/// Draws one panel.
struct PanelRenderer {
  let panel: Panel
  let layout: PanelLayout
  let canvas: Canvas

  var plot: Rect { layout.plot }

  func point(_ x: Double, _ y: Double) -> Point? {
    guard let px = layout.x.position(x), let py = layout.y.position(y) else { return nil }
    return Point(px, py)
  }

  func draw() {
    if panel.grid, case .numeric = layout.kind { drawGrid() }
    if case .categories = layout.kind, panel.grid { drawGrid(vertical: false) }
    canvas.beginGroup("marks", label: nil, clip: plot)
    for mark in panel.marks {
      switch mark {
      case .heatmap(let h): drawHeatmap(h)
      case .bars(let b): drawBars(b)
      case .line(let l): drawLine(l)
      case .scatter(let s): drawScatter(s)
      case .reference(let r): drawReference(r)
      case .text: break
      }
    }
    canvas.endGroup()
    for case .text(let t) in panel.marks {
      guard let p = point(t.x, t.y), plot.contains(p) else { continue }
      canvas.beginGroup("annotation", label: nil, clip: nil)
      canvas.text(t.text, at: p, size: t.size, bold: false, color: t.color, anchor: .start, vertical: false)
      canvas.endGroup()
    }
    drawAxes()
    if layout.colorBar != nil { drawColorBar() }
    if panel.legend != .hidden { drawLegend() }
  }

  // MARK: - Background

  func drawGrid(vertical: Bool = true) {
    canvas.beginGroup("grid", label: nil, clip: nil)
    var lines: [[Point]] = layout.yTicks.map { [Point(plot.x, $0.position), Point(plot.maxX, $0.position)] }
    if vertical { lines += layout.xTicks.map { [Point($0.position, plot.y), Point($0.position, plot.maxY)] } }
    canvas.path(lines, stroke: .gridLine, width: 0.8, dash: [], fill: nil, closed: false)
    canvas.endGroup()
  }

  // MARK: - Marks

  /// Runs of consecutive drawable points (non-finite values, and values a log axis cannot show,
  /// end a run and are not drawn).
  func runs(_ x: [Double], _ y: [Double]) -> [[Point]] {
    var result: [[Point]] = []
    var current: [Point] = []
    for i in x.indices {
      if let p = point(x[i], y[i]) {
        current.append(p)
      } else if !current.isEmpty {
        result.append(current)
        current = []
      }
    }
    if !current.isEmpty { result.append(current) }
    return result
  }

  func drawLine(_ line: LineMark) {
    canvas.beginGroup("line series", label: line.label, clip: nil)
    if let band = line.band {
      var polygons: [[Point]] = []
      var upper: [Point] = [], lower: [Point] = []
      func flush() {
        if upper.count >= 2 { polygons.append(upper + lower.reversed()) }
        upper = []
        lower = []
      }
      for i in line.x.indices {
        if let u = point(line.x[i], band.upper[i]), let l = point(line.x[i], band.lower[i]) {
          upper.append(u)
          lower.append(l)
        } else {
          flush()
        }
      }
      flush()
      canvas.path(polygons, stroke: nil, width: 0, dash: [], fill: line.color.opacity(0.2), closed: true)
    }
    canvas.path(
      runs(line.x, line.y), stroke: line.color, width: line.width, dash: line.style.dash, fill: nil, closed: false)
    canvas.endGroup()
  }

  func drawScatter(_ scatter: ScatterMark) {
    canvas.beginGroup("scatter series", label: scatter.label, clip: nil)
    let points = scatter.x.indices.compactMap { point(scatter.x[$0], scatter.y[$0]) }
    canvas.circles(points, radius: scatter.radius, fill: scatter.color.opacity(0.85))
    canvas.endGroup()
  }

  func drawBars(_ bars: BarMark) {
    let groupWidth = 0.8
    let k = Double(bars.series.count)
    var positive = [Double](repeating: 0, count: bars.categories.count)
    var negative = positive
    for (s, series) in bars.series.enumerated() {
      canvas.beginGroup("bar series", label: series.label.isEmpty ? nil : series.label, clip: nil)
      for (c, value) in series.values.enumerated() where value.isFinite {
        let x0: Double, x1: Double, base: Double
        if bars.stacked {
          x0 = Double(c) - groupWidth / 2
          x1 = Double(c) + groupWidth / 2
          base = value >= 0 ? positive[c] : negative[c]
          if value >= 0 { positive[c] += value } else { negative[c] += value }
        } else {
          x0 = Double(c) - groupWidth / 2 + groupWidth * Double(s) / k
          x1 = x0 + groupWidth / k
          base = 0
        }
        guard let a = point(x0, base), let b = point(x1, base + value) else { continue }
        let r = Rect(x: min(a.x, b.x), y: min(a.y, b.y), width: abs(b.x - a.x), height: abs(b.y - a.y))
        canvas.rect(r, fill: series.color, stroke: bars.stacked ? .white : nil, width: 0.5)
      }
      canvas.endGroup()
    }
  }

  func drawHeatmap(_ h: HeatmapMark) {
    let rows = h.values.count, columns = h.values[0].count
    var rgba = [UInt8](repeating: 0, count: rows * columns * 4)
    let lo = h.range.lowerBound, span = h.range.upperBound - h.range.lowerBound
    for r in 0..<rows {
      for c in 0..<columns {
        let v = h.values[r][c]
        guard v.isFinite else { continue }  // transparent: not drawn
        let (red, green, blue) = h.colorMap.color(at: (v - lo) / span).bytes
        let i = (r * columns + c) * 4
        rgba[i] = red
        rgba[i + 1] = green
        rgba[i + 2] = blue
        rgba[i + 3] = 255
      }
    }
    canvas.beginGroup("heatmap", label: nil, clip: nil)
    canvas.image(rgba, width: columns, height: rows, in: plot)
    canvas.endGroup()
  }

  func drawReference(_ r: ReferenceLineMark) {
    canvas.beginGroup("reference", label: r.label, clip: nil)
    if r.horizontal, let y = layout.y.position(r.value) {
      canvas.path(
        [[Point(plot.x, y), Point(plot.maxX, y)]], stroke: r.color, width: 1.2, dash: r.style.dash, fill: nil,
        closed: false)
    } else if !r.horizontal, let x = layout.x.position(r.value) {
      canvas.path(
        [[Point(x, plot.y), Point(x, plot.maxY)]], stroke: r.color, width: 1.2, dash: r.style.dash, fill: nil,
        closed: false)
    }
    canvas.endGroup()
  }

  // MARK: - Axes

  func drawAxes() {
    let t = PanelLayout.tickLength, gap = PanelLayout.tickGap
    canvas.beginGroup("axes", label: nil, clip: nil)
    canvas.path(
      [[Point(plot.x, plot.y), Point(plot.x, plot.maxY), Point(plot.maxX, plot.maxY)]], stroke: .ink, width: 1,
      dash: [], fill: nil, closed: false)
    let ticks =
      layout.xTicks.map { [Point($0.position, plot.maxY), Point($0.position, plot.maxY + t)] }
      + layout.yTicks.map { [Point(plot.x - t, $0.position), Point(plot.x, $0.position)] }
    canvas.path(ticks, stroke: .ink, width: 1, dash: [], fill: nil, closed: false)
    canvas.endGroup()

    canvas.beginGroup("tick-labels", label: nil, clip: nil)
    let xBaseline = plot.maxY + t + gap + FontSize.tick * TextMetrics.capHeight
    var xLines = 1
    for tick in layout.xTicks {
      let lines = tick.label.split(separator: "\n", omittingEmptySubsequences: false)
      xLines = max(xLines, lines.count)
      for (i, line) in lines.enumerated() {
        canvas.text(
          String(line), at: Point(tick.position, xBaseline + Double(i) * FontSize.tick * 1.2), size: FontSize.tick,
          bold: false, color: .ink, anchor: .middle, vertical: false)
      }
    }
    for tick in layout.yTicks {
      canvas.text(
        tick.label, at: Point(plot.x - t - gap, tick.position + FontSize.tick * TextMetrics.capHeight / 2),
        size: FontSize.tick, bold: false, color: .ink, anchor: .end, vertical: false)
    }
    canvas.endGroup()

    if let label = layout.xLabel {
      canvas.beginGroup("x-label", label: nil, clip: nil)
      let baseline =
        xBaseline + Double(xLines - 1) * FontSize.tick * 1.2 + FontSize.tick * TextMetrics.descent + 4
        + FontSize.axisLabel * TextMetrics.capHeight
      canvas.text(
        label, at: Point(plot.x + plot.width / 2, baseline), size: FontSize.axisLabel, bold: false, color: .ink,
        anchor: .middle, vertical: false)
      canvas.endGroup()
    }
    if let label = layout.yLabel {
      canvas.beginGroup("y-label", label: nil, clip: nil)
      let x = layout.cell.x + FontSize.axisLabel * (1 - TextMetrics.descent) + 1
      canvas.text(
        label, at: Point(x, plot.y + plot.height / 2), size: FontSize.axisLabel, bold: false, color: .ink,
        anchor: .middle, vertical: true)
      canvas.endGroup()
    }
    if let title = layout.title {
      canvas.beginGroup("title", label: nil, clip: nil)
      let center = min(
        max(plot.x + plot.width / 2, layout.cell.x + TextMetrics.width(title, size: FontSize.title, bold: true) / 2),
        layout.cell.maxX - TextMetrics.width(title, size: FontSize.title, bold: true) / 2)
      canvas.text(
        title, at: Point(center, plot.y - FontSize.title * 0.6), size: FontSize.title, bold: true, color: .ink,
        anchor: .middle, vertical: false)
      canvas.endGroup()
    }
  }

  func drawColorBar() {
    guard let bar = layout.colorBar, case .heatmap(let h) = layout.kind else { return }
    canvas.beginGroup("colorbar", label: h.colorBarLabel, clip: nil)
    let steps = 128
    var rgba = [UInt8](repeating: 255, count: steps * 4)
    for i in 0..<steps {
      let (r, g, b) = h.colorMap.color(at: 1 - (Double(i) + 0.5) / Double(steps)).bytes
      rgba[i * 4] = r
      rgba[i * 4 + 1] = g
      rgba[i * 4 + 2] = b
    }
    canvas.image(rgba, width: 1, height: steps, in: bar)
    canvas.rect(bar, fill: nil, stroke: .ink, width: 0.8)
    let t = PanelLayout.tickLength
    canvas.path(
      layout.colorTicks.map { [Point(bar.maxX, $0.position), Point(bar.maxX + t, $0.position)] }, stroke: .ink,
      width: 1, dash: [], fill: nil, closed: false)
    var widest = 0.0
    for tick in layout.colorTicks {
      widest = max(widest, TextMetrics.width(tick.label, size: FontSize.tick, bold: false))
      canvas.text(
        tick.label,
        at: Point(bar.maxX + t + PanelLayout.tickGap, tick.position + FontSize.tick * TextMetrics.capHeight / 2),
        size: FontSize.tick, bold: false, color: .ink, anchor: .start, vertical: false)
    }
    if let label = layout.colorBarLabel {
      let x = bar.maxX + t + PanelLayout.tickGap + widest + 4 + FontSize.axisLabel * (1 - TextMetrics.descent)
      canvas.text(
        label, at: Point(x, bar.y + bar.height / 2), size: FontSize.axisLabel, bold: false, color: .ink,
        anchor: .middle,
        vertical: true)
    }
    canvas.endGroup()
  }

  // MARK: - Legend

  /// The legend's entries (shortened to fit) and its size; nil when nothing is labelled.
  func legendBox() -> (entries: [(String, Color, LegendSwatch)], width: Double, height: Double)? {
    let entries = panel.legendEntries
    guard !entries.isEmpty else { return nil }
    let size = FontSize.legend, row = size * 1.5, pad = 6.0, swatch = 20.0
    let maxText = max(30, plot.width * 0.5 - swatch - 3 * pad)
    let maxRows = max(1, Int((plot.height - 2 * pad - 8) / row))
    var shown = entries.map { (TextMetrics.fit($0.label, size: size, maxWidth: maxText), $0.color, $0.kind) }
    if shown.count > maxRows {
      let hidden = shown.count - maxRows + 1
      shown = Array(shown.prefix(maxRows - 1)) + [("+\(hidden) more", Color.gray, LegendSwatch.box)]
    }
    let textWidth = shown.map { TextMetrics.width($0.0, size: size, bold: false) }.max() ?? 0
    return (shown, pad * 2 + swatch + 5 + textWidth, pad * 2 + row * Double(shown.count) - (row - size) / 2)
  }

  func drawLegend() {
    guard let box = legendBox() else { return }
    let size = FontSize.legend, row = size * 1.5, pad = 6.0, swatch = 20.0
    let frame = placeLegend(width: box.width, height: box.height).frame
    canvas.beginGroup("legend", label: nil, clip: nil)
    canvas.rect(frame, fill: Color.white.opacity(0.85), stroke: Color(hex: 0xCCCCCC), width: 0.8)
    for (i, (label, color, kind)) in box.entries.enumerated() {
      let center = frame.y + pad + row * Double(i) + size / 2
      let x0 = frame.x + pad
      canvas.beginGroup("legend-entry", label: label, clip: nil)
      switch kind {
      case .line(let style, let band):
        if band {
          canvas.rect(
            Rect(x: x0, y: center - 4, width: swatch, height: 8), fill: color.opacity(0.2), stroke: nil, width: 0)
        }
        canvas.path(
          [[Point(x0, center), Point(x0 + swatch, center)]], stroke: color, width: 2, dash: style.dash, fill: nil,
          closed: false)
      case .point:
        canvas.circles([Point(x0 + swatch / 2, center)], radius: 3.5, fill: color)
      case .box:
        canvas.rect(Rect(x: x0 + 4, y: center - 5, width: swatch - 8, height: 10), fill: color, stroke: nil, width: 0)
      }
      canvas.text(
        label, at: Point(x0 + swatch + 5, center + size * TextMetrics.capHeight / 2), size: size, bold: false,
        color: .ink, anchor: .start, vertical: false)
      canvas.endGroup()
    }
    canvas.endGroup()
  }

  /// The legend's frame: the requested corner, or the inside corner covering the fewest data
  /// points; with the number of points it covers.
  func placeLegend(width: Double, height: Double) -> (frame: Rect, covered: Int) {
    let inset = 6.0
    func corner(_ placement: LegendPlacement) -> Rect {
      let left = plot.x + inset, right = plot.maxX - inset - width
      let top = plot.y + inset, bottom = plot.maxY - inset - height
      switch placement {
      case .topLeft: return Rect(x: left, y: top, width: width, height: height)
      case .bottomLeft: return Rect(x: left, y: bottom, width: width, height: height)
      case .bottomRight: return Rect(x: right, y: bottom, width: width, height: height)
      default: return Rect(x: right, y: top, width: width, height: height)
      }
    }
    if panel.legend != .automatic { return (corner(panel.legend), 0) }
    let points = dataPoints()
    var best: (frame: Rect, covered: Int)?
    for candidate in [LegendPlacement.topRight, .topLeft, .bottomRight, .bottomLeft] {
      let frame = corner(candidate).inset(-3)
      let covered = points.filter { frame.contains($0) }.count
      if best == nil || covered < best!.covered { best = (corner(candidate), covered) }
    }
    return best!
  }

  /// Page positions of the data, densified along lines, for legend placement.
  func dataPoints() -> [Point] {
    var points: [Point] = []
    for mark in panel.marks {
      switch mark {
      case .line(let l):
        for run in runs(l.x, l.y) {
          points += run
          for (a, b) in zip(run, run.dropFirst()) {
            let n = Int(max(abs(b.x - a.x), abs(b.y - a.y)) / 6)
            if n > 1 {
              for k in 1..<n {
                let f = Double(k) / Double(n)
                points.append(Point(a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f))
              }
            }
          }
        }
      case .scatter(let s): points += s.x.indices.compactMap { point(s.x[$0], s.y[$0]) }
      case .bars(let b):
        for (c, _) in b.categories.enumerated() {
          let top =
            b.stacked ? b.series.map { max(0, $0.values[c]) }.reduce(0, +) : b.series.map { $0.values[c] }.max() ?? 0
          stride(from: 0.0, through: 1.0, by: 0.1).forEach { f in
            if let p = point(Double(c), top * f) { points.append(p) }
            if let p = point(Double(c) - 0.35, top * f) { points.append(p) }
            if let p = point(Double(c) + 0.35, top * f) { points.append(p) }
          }
        }
      default: break
      }
    }
    return points
  }
}
