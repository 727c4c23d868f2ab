import Foundation

/// File formats a figure is written in.
public enum FigureFormat: String, CaseIterable, Sendable {
  case svg, png, pdf
}

/// Writing a figure failed (a folder or file could not be written).
public struct FigureError: Error, CustomStringConvertible {
  public let description: String
}

/// A figure: a grid of ``Panel``s, drawn with Cairo to PNG (at 2× for crisp screens) and PDF, and
/// written as SVG with real text elements (labels stay searchable and editable).
///
/// ```swift
/// let figure = Figure(rows: 1, columns: 2, title: "Associative recall")
/// figure[0, 0].line(x: steps, y: loss, label: "GLA")
/// figure[0, 1].heatmap(attention)
/// display(figure)                      // in a notebook: PNG + SVG outputs
/// try figure.save("figures/recall")    // figures/recall.svg and .png
/// ```
/// Sizes are in points (CSS pixels at 1×); fonts are 10–13 points.
public final class Figure {
  public let rows: Int
  public let columns: Int
  public var width: Double
  public var height: Double
  /// A title above all panels.
  public var title: String?
  /// The name `tessera run --export-figures` writes this figure under.
  public var name: String?
  /// Panels in row-major order.
  public let panels: [Panel]

  /// A grid of `rows × columns` panels; the size defaults to 400 × 300 points per panel (a single
  /// panel gets 560 × 380).
  public init(
    rows: Int = 1, columns: Int = 1, width: Double? = nil, height: Double? = nil, title: String? = nil,
    name: String? = nil
  ) {
    plotCheck(rows >= 1 && columns >= 1, "Figure: \(rows) × \(columns) is not a grid of panels")
    self.rows = rows
    self.columns = columns
    let single = rows == 1 && columns == 1
    self.width = width ?? (single ? 560 : Double(columns) * 400)
    self.height = height ?? (single ? 380 : Double(rows) * 300) + (title == nil ? 0 : 24)
    plotCheck(self.width >= 100 && self.height >= 80, "Figure: \(self.width) × \(self.height) is too small to draw")
    self.title = title
    self.name = name
    self.panels = (0..<(rows * columns)).map { _ in Panel() }
  }

  /// The panel at `row`, `column`.
  public subscript(row: Int, column: Int) -> Panel {
    plotCheck(
      row >= 0 && row < rows && column >= 0 && column < columns,
      "Figure: there is no panel [\(row), \(column)] in a \(rows) × \(columns) grid")
    return panels[row * columns + column]
  }

  /// The first panel (the only one of a single-panel figure).
  public var panel: Panel { panels[0] }

  /// Where each panel's plot area lies, in points (row-major).
  public var plotAreas: [Rect] {
    let canvas = MeasuringCanvas()
    return FigureRenderer(figure: self).layout(measure: canvas).map(\.plot)
  }

  /// Every piece of text the figure draws and the box it covers, in points (for checking that
  /// a layout keeps labels apart and inside the figure).
  public var textBoxes: [(text: String, box: Rect)] {
    let canvas = TextRecordingCanvas()
    FigureRenderer(figure: self).draw(on: canvas)
    return canvas.boxes
  }

  /// PNG bytes at `scale` device pixels per point.
  public func png(scale: Double = 2) -> Data {
    let canvas = CairoCanvas(raster: width, height, scale: scale)
    FigureRenderer(figure: self).draw(on: canvas)
    return canvas.finishPNG()
  }

  /// PDF bytes.
  public func pdf() -> Data {
    let canvas = CairoCanvas(pdf: width, height)
    FigureRenderer(figure: self).draw(on: canvas)
    return canvas.finishPDF()
  }

  /// An SVG document.
  public func svg() -> String {
    let canvas = SVGCanvas(width: width, height: height)
    FigureRenderer(figure: self).draw(on: canvas)
    return canvas.document()
  }

  /// Writes `path.svg` and `path.png` (and `path.pdf` when asked), creating folders as needed;
  /// an extension on `path` is replaced. Returns the files written.
  @discardableResult
  public func save(_ path: String, formats: [FigureFormat] = [.svg, .png]) throws -> [String] {
    let base = (path as NSString).pathExtension.isEmpty ? path : (path as NSString).deletingPathExtension
    let folder = (base as NSString).deletingLastPathComponent
    if !folder.isEmpty {
      do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      } catch {
        throw FigureError(description: "cannot create the folder \(folder): \(error.localizedDescription)")
      }
    }
    var written: [String] = []
    for format in formats {
      let file = base + "." + format.rawValue
      let data: Data
      switch format {
      case .svg: data = Data(svg().utf8)
      case .png: data = png()
      case .pdf: data = pdf()
      }
      do {
        try data.write(to: URL(fileURLWithPath: file), options: .atomic)
      } catch {
        throw FigureError(description: "cannot write \(file): \(error.localizedDescription)")
      }
      written.append(file)
    }
    return written
  }
}

extension Figure: CustomStringConvertible {
  public var description: String {
    let titles = panels.compactMap(\.title)
    let named = title.map { " \"\($0)\"" } ?? ""
    let list = titles.isEmpty ? "" : ": " + titles.joined(separator: "; ")
    return "<Figure\(named) \(Int(width))×\(Int(height)), \(rows)×\(columns) panels\(list)>"
  }
}
