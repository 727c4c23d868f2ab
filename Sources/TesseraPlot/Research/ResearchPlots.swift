import Foundation

/// Loss curves of several runs on one panel, in the order given (e.g. `["attention": a, "GLA": g]`);
/// x is the step (0, 1, 2, … unless `steps` is given).
public func plotLossCurves<V: PlotValue>(
  _ curves: KeyValuePairs<String, [V]>, steps: [Double]? = nil, title: String? = nil, xLabel: String = "step",
  yLabel: String = "loss", logY: Bool = false
) -> Figure {
  let figure = Figure(name: nil)
  let panel = figure.panel
  panel.title = title
  panel.xLabel = xLabel
  panel.yLabel = yLabel
  if logY { panel.yScale = .log }
  for (label, values) in curves {
    panel.line(x: steps ?? (0..<values.count).map(Double.init), y: values.map(\.plotValue), label: label)
  }
  return figure
}

/// Loss curves with several seeds per run: the mean over seeds as a line and mean ± standard
/// deviation as a shaded band. Each run is `[seed][step]`; seeds of one run must have equal length.
public func plotLossCurves<V: PlotValue>(
  seeds curves: KeyValuePairs<String, [[V]]>, title: String? = nil, xLabel: String = "step", yLabel: String = "loss",
  logY: Bool = false
) -> Figure {
  let figure = Figure()
  let panel = figure.panel
  panel.title = title
  panel.xLabel = xLabel
  panel.yLabel = yLabel
  if logY { panel.yScale = .log }
  for (label, runs) in curves {
    plotCheck(!runs.isEmpty, "plotLossCurves: \"\(label)\" has no seeds")
    let length = runs[0].count
    plotCheck(runs.allSatisfy { $0.count == length }, "plotLossCurves: the seeds of \"\(label)\" differ in length")
    let (mean, std) = meanAndStandardDeviation(runs.map { $0.map(\.plotValue) })
    panel.line(
      x: (0..<length).map(Double.init), y: mean, label: "\(label) (n=\(runs.count))",
      band: (zip(mean, std).map { $0 - $1 }, zip(mean, std).map { $0 + $1 }))
  }
  return figure
}

/// Per-position mean and (population) standard deviation over rows.
public func meanAndStandardDeviation(_ rows: [[Double]]) -> (mean: [Double], std: [Double]) {
  guard let length = rows.first?.count else { return ([], []) }
  var mean = [Double](repeating: 0, count: length), std = mean
  for i in 0..<length {
    let column = rows.map { $0[i] }
    let m = column.reduce(0, +) / Double(column.count)
    mean[i] = m
    std[i] = (column.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(column.count)).squareRoot()
  }
  return (mean, std)
}

/// A power law `y = a · xᵇ` fitted by least squares on log10 x and log10 y (positive, finite
/// points only): returns the slope b and a.
public func powerLawFit(x: [Double], y: [Double]) -> (slope: Double, coefficient: Double)? {
  let points = zip(x, y).filter { $0.0 > 0 && $0.1 > 0 && $0.0.isFinite && $0.1.isFinite }.map {
    (log10($0.0), log10($0.1))
  }
  guard points.count >= 2 else { return nil }
  let n = Double(points.count)
  let mx = points.map(\.0).reduce(0, +) / n, my = points.map(\.1).reduce(0, +) / n
  let sxx = points.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
  guard sxx > 0 else { return nil }
  let sxy = points.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +)
  let slope = sxy / sxx
  return (slope, pow(10, my - slope * mx))
}

/// A scaling plot on log–log axes: each series as points joined by a line, its fitted power law
/// as a dashed line, and the fitted slope in the legend (`GLA (slope −0.31)`).
public func plotScaling<V: PlotValue>(
  x: [Double], series: KeyValuePairs<String, [V]>, title: String? = nil, xLabel: String = "parameters",
  yLabel: String = "loss"
) -> Figure {
  let figure = Figure()
  let panel = figure.panel
  panel.title = title
  panel.xLabel = xLabel
  panel.yLabel = yLabel
  panel.xScale = .log
  panel.yScale = .log
  for (i, (label, values)) in series.enumerated() {
    let y = values.map(\.plotValue)
    let color = Color.series(i)
    var name = label
    if let fit = powerLawFit(x: x, y: y) {
      name += " (slope " + String(format: "%.3f", fit.slope).replacingOccurrences(of: "-", with: "−") + ")"
      let xs = x.filter { $0 > 0 && $0.isFinite }
      if let lo = xs.min(), let hi = xs.max() {
        let grid = (0...20).map { lo * pow(hi / lo, Double($0) / 20) }
        panel.line(
          x: grid, y: grid.map { fit.coefficient * pow($0, fit.slope) }, color: color, width: 1, style: .dashed)
      }
    }
    panel.line(x: x, y: y, label: name, color: color, width: 1.5)
    panel.scatter(x: x, y: y, color: color, radius: 3.5)
  }
  return figure
}

/// A matrix as a heatmap with a colour bar, e.g. attention weights `[query][key]`.
public func plotHeatmap<V: PlotValue>(
  _ matrix: [[V]], title: String? = nil, xLabel: String = "key", yLabel: String = "query",
  colorBarLabel: String? = "weight", colorMap: ColorMap = .viridis, range: ClosedRange<Double>? = nil
) -> Figure {
  let rows = Double(matrix.count), columns = Double(matrix.first?.count ?? 1)
  // Square-ish cells: a 380-point-high plot area, width from the aspect ratio, within limits.
  let width = min(820, max(360, 380 * columns / max(rows, 1) + 140))
  let figure = Figure(width: width, height: 420)
  figure.panel.title = title
  figure.panel.xLabel = xLabel
  figure.panel.yLabel = yLabel
  figure.panel.heatmap(matrix, colorMap: colorMap, range: range, colorBarLabel: colorBarLabel)
  return figure
}
