import Foundation
import Testing
import TesseraPlot

@Suite("Layout")
struct LayoutTests {
  /// A 2×2 grid whose titles, axis labels, category names and legend entries are all too long.
  static func crowdedGrid() -> Figure {
    let figure = Figure(rows: 2, columns: 2, title: "A figure title that is long enough to need the whole width of it")
    let long = "a label far longer than any panel of a two by two grid could show on one line"
    let x = (1...50).map { pow(10, -3 + 6 * Double($0) / 50) }
    for panel in figure.panels {
      panel.title = "Panel title: " + long
      panel.xLabel = "x: " + long
      panel.yLabel = "y: " + long
    }
    figure[0, 0].xScale = .log
    figure[0, 0].yScale = .log
    figure[0, 0].line(x: x, y: x.map { $0 * $0 }, label: "series one: " + long)
    figure[0, 0].line(x: x, y: x.map { 1 / $0 }, label: "series two: " + long)
    figure[0, 1].scatter(x: x, y: x.map { sin($0) * 1e6 }, label: "scatter")
    figure[1, 0].bars(
      categories: ["softmax attention", "linear attention", "selective state space", "mixture of experts"],
      series: ["throughput in tokens per second": [41.5, 88.0, 73.2, 55.9], "memory": [10.0, 3, 4, 12]])
    figure[1, 1].heatmap(
      (0..<30).map { r in (0..<30).map { c in Double(r - c) } },
      rowLabels: (0..<30).map { "query \($0)" }, columnLabels: (0..<30).map { "key \($0)" }, colorBarLabel: long)
    return figure
  }

  @Test("in a 2×2 grid with long labels no two pieces of text overlap and all stay inside the figure")
  func noOverlap() {
    let figure = Self.crowdedGrid()
    let boxes = figure.textBoxes
    #expect(boxes.count > 40)
    let bounds = Rect(x: 0, y: 0, width: figure.width, height: figure.height)
    for (text, box) in boxes {
      #expect(
        box.x >= bounds.x && box.y >= bounds.y && box.maxX <= bounds.maxX && box.maxY <= bounds.maxY,
        "\"\(text)\" at \(box) leaves the figure")
    }
    for i in boxes.indices {
      for j in boxes.indices where j > i {
        let a = boxes[i].box, b = boxes[j].box
        let overlap = a.x < b.maxX - 0.5 && b.x < a.maxX - 0.5 && a.y < b.maxY - 0.5 && b.y < a.maxY - 0.5
        #expect(!overlap, "\"\(boxes[i].text)\" \(a) overlaps \"\(boxes[j].text)\" \(b)")
      }
    }
  }
}

extension LayoutTests {
  @Test("the crowded grid is written for inspection when TESSERA_PLOT_SAMPLES names a folder")
  func samples() throws {
    guard let folder = ProcessInfo.processInfo.environment["TESSERA_PLOT_SAMPLES"] else { return }
    try Self.crowdedGrid().save(folder + "/crowded-grid")
  }
}
