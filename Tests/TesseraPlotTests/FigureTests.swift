import Foundation
#if canImport(FoundationXML)
  import FoundationXML
#endif
import Testing
import TesseraPlot

/// A figure with one panel holding one kind of mark, for each kind.
enum Sample: String, CaseIterable, CustomStringConvertible {
  case line, band, scatter, groupedBars, stackedBars, heatmap, referenceLines, text
  var description: String { rawValue }

  func figure() -> Figure {
    let figure = Figure(width: 400, height: 300)
    let panel = figure.panel
    panel.title = "Mark: \(rawValue)"
    panel.xLabel = "x axis label"
    panel.yLabel = "y axis label"
    let x = (0..<20).map(Double.init)
    switch self {
    case .line:
      panel.line(x: x, y: x.map { $0 * $0 }, label: "squares").line(x: x, y: x.map { 40 * $0 }, label: "linear")
    case .band:
      panel.line(
        x: x, y: x.map { sin($0 / 3) }, label: "mean", band: (x.map { sin($0 / 3) - 0.2 }, x.map { sin($0 / 3) + 0.2 }))
    case .scatter:
      panel.scatter(x: x, y: x.map { cos($0) }, label: "points")
    case .groupedBars:
      panel.bars(categories: ["a", "b", "c"], series: ["paper": [1.0, 2, 3], "ours": [1.1, 1.9, 3.2]])
    case .stackedBars:
      panel.bars(categories: ["a", "b"], series: ["low": [1.0, 2], "high": [2.0, 1]], stacked: true)
    case .heatmap:
      panel.heatmap((0..<8).map { r in (0..<8).map { c in Double(r * c) } }, colorBarLabel: "value")
    case .referenceLines:
      panel.line(x: x, y: x, label: "identity")
      panel.horizontalLine(at: 5, label: "threshold").verticalLine(at: 10, label: "warmup end")
    case .text:
      panel.line(x: x, y: x, label: "identity").text("annotated point", x: 4, y: 12)
    }
    return figure
  }
}

@Suite("Figures")
struct FigureTests {
  @Test("every mark renders to PNG, SVG and PDF", arguments: Sample.allCases)
  func allFormats(_ sample: Sample) throws {
    let figure = sample.figure()
    let png = try #require(RasterImage(png: figure.png()))
    #expect(png.width == 800 && png.height == 600)
    let svg = figure.svg()
    #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"))
    #expect(svg.contains("width=\"400\" height=\"300\""))
    #expect(svg.contains(">x axis label</text>") && svg.contains(">y axis label</text>"))
    #expect(svg.contains(">Mark: \(sample.rawValue)</text>"))
    let pdf = figure.pdf()
    #expect(pdf.starts(with: Data("%PDF-".utf8)) && pdf.count > 500)
    try checkXML(svg)
  }

  /// The SVG parses as XML.
  func checkXML(_ svg: String) throws {
    let document = try XMLDocument(data: Data(svg.utf8))
    #expect(document.rootElement()?.name == "svg")
  }

  @Test("the PNG has ink inside the plot area and nothing outside the panels")
  func pixels() throws {
    for sample in Sample.allCases {
      let figure = sample.figure()
      let image = try #require(RasterImage(png: figure.png(scale: 2)))
      let plot = try #require(figure.plotAreas.first)
      func isBackground(_ x: Int, _ y: Int) -> Bool {
        let p = image.pixel(x, y)
        return p.0 == 255 && p.1 == 255 && p.2 == 255 && p.3 == 255
      }
      // Ink inside the plot area.
      var inked = 0
      for y in Int(plot.y * 2 + 2)..<Int(plot.maxY * 2 - 2) {
        for x in Int(plot.x * 2 + 2)..<Int(plot.maxX * 2 - 2) where !isBackground(x, y) { inked += 1 }
      }
      #expect(inked > 200, "\(sample): only \(inked) inked pixels in the plot area")
      // A band along the figure's edge (inside the outer margin) stays background.
      var stray = 0
      for y in 0..<image.height {
        for x in 0..<image.width where (x < 6 || y < 6 || x >= image.width - 6 || y >= image.height - 6) {
          if !isBackground(x, y) { stray += 1 }
        }
      }
      #expect(stray == 0, "\(sample): \(stray) pixels drawn in the figure's margin")
    }
  }

  @Test("the SVG holds one path per line series and one legend entry per label")
  func svgStructure() throws {
    let figure = Figure()
    figure.panel.line(x: [1, 2, 3], y: [1.0, 4, 9], label: "train").line(
      x: [1, 2, 3], y: [2.0, 3, 5], label: "validation")
    figure.panel.scatter(x: [1, 2], y: [3.0, 4], label: "probe")
    let svg = figure.svg()
    let document = try XMLDocument(data: Data(svg.utf8))
    func nodes(_ query: String) throws -> [XMLNode] { try document.nodes(forXPath: query) }
    for label in ["train", "validation"] {
      let group = try nodes("//*[local-name()='g'][@class='line series'][@data-label='\(label)']")
      #expect(group.count == 1)
      #expect(try group.first?.nodes(forXPath: "*[local-name()='path']").count == 1)
    }
    #expect(try nodes("//*[local-name()='g'][@class='scatter series']/*[local-name()='circle']").count == 2)
    let legend = try nodes("//*[local-name()='g'][@class='legend-entry']/@data-label").compactMap(\.stringValue)
    #expect(legend == ["train", "validation", "probe"])
  }

  @Test("NaN and infinite points are skipped, not drawn")
  func nonFinite() throws {
    let figure = Figure()
    figure.panel.line(x: [0, 1, 2, 3, 4, 5], y: [1.0, 2, .nan, 3, .infinity, 4], label: "gappy")
    figure.panel.scatter(x: [0, 1, 2], y: [1.0, -.infinity, 2], label: "dots")
    let svg = figure.svg()
    let document = try XMLDocument(data: Data(svg.utf8))
    let d =
      try document.nodes(
        forXPath: "//*[local-name()='g'][@class='line series'][@data-label='gappy']/*[local-name()='path']/@d"
      )
      .first?.stringValue ?? ""
    // Runs 0–1 and 3 and 5: points next to a gap start new subpaths; no NaN reaches the file.
    #expect(d.filter { $0 == "M" }.count == 3, "\(d)")
    #expect(!svg.contains("nan") && !svg.contains("inf"))
    #expect(
      try document.nodes(
        forXPath: "//*[local-name()='g'][@class='scatter series'][@data-label='dots']/*[local-name()='circle']"
      ).count == 2)
    // A log axis skips values ≤ 0 the same way.
    let log = Figure()
    log.panel.yScale = .log
    log.panel.line(x: [0, 1, 2, 3], y: [1.0, 0, 10, 100], label: "log")
    #expect(RasterImage(png: log.png()) != nil)
    // A heatmap cell that is NaN is left transparent.
    let heat = Figure()
    heat.panel.heatmap([[1.0, .nan], [2.0, 3.0]])
    let image = try #require(RasterImage(png: heat.png(scale: 1)))
    let plot = try #require(heat.plotAreas.first)
    let p = image.pixel(Int(plot.x + plot.width * 0.75), Int(plot.y + plot.height * 0.25))
    #expect(p.0 == 255 && p.1 == 255 && p.2 == 255, "the NaN cell shows the background, got \(p)")
  }

  @Test("an empty series stops with a message naming the call")
  func emptySeries() async {
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      Figure().panel.line(x: [Double](), y: [Double](), label: "train")
    }.map {
      #expect(String(decoding: $0.standardErrorContent, as: UTF8.self).contains("line \"train\": the series is empty"))
    }
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      Figure().panel.scatter(x: [1.0, 2.0], y: [1.0])
    }.map {
      #expect(String(decoding: $0.standardErrorContent, as: UTF8.self).contains("scatter: x has 2 values but y has 1"))
    }
  }

  @Test("save writes SVG and PNG (and PDF on request) and creates the folder")
  func save() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-plot-\(UUID().uuidString)").path
    let figure = Sample.line.figure()
    let written = try figure.save(folder + "/sub/loss.png", formats: [.svg, .png, .pdf])
    #expect(written == ["svg", "png", "pdf"].map { folder + "/sub/loss." + $0 })
    for file in written { #expect(FileManager.default.fileExists(atPath: file)) }
    #expect(throws: FigureError.self) { try figure.save("/proc/no-such-dir/figure") }
  }
}
