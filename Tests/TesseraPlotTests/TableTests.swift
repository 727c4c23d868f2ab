import Testing
import TesseraPlot

@Suite("Tables")
struct TableTests {
  @Test("a table renders as Markdown, HTML and aligned text")
  func formats() {
    let table = Table(columns: ["model", "accuracy"], rows: [["attention", 0.98765], ["a|b <gla>", 74]])
    #expect(table.markdown == "| model | accuracy |\n|---|---|\n| attention | 0.9877 |\n| a\\|b <gla> | 74 |")
    #expect(table.html.contains("<td>a|b &lt;gla&gt;</td>"))
    #expect(table.description.split(separator: "\n").map(\.count).allSatisfy { $0 == 19 })
  }
}
