import Foundation
import Testing
import TesseraPlot

@Suite("Axis ticks")
struct TickTests {
  @Test("a log axis over 1e-3…1e3 gets a tick at every power of ten, labelled 10ᵏ")
  func logDecades() {
    let ticks = AxisTicks.ticks(from: 1e-3, to: 1e3, scale: .log, maxCount: 8)
    #expect(ticks.map(\.value) == (-3...3).map { pow(10, Double($0)) })
    #expect(ticks.map(\.label) == ["10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹", "10²", "10³"])
    // Twelve decades into four ticks: every third power.
    let sparse = AxisTicks.ticks(from: 1e-6, to: 1e6, scale: .log, maxCount: 5)
    #expect(sparse.map(\.value) == [1e-6, 1e-3, 1, 1e3, 1e6])
  }

  @Test("a log axis shorter than two decades adds 2× and 5× ticks")
  func logShort() {
    let ticks = AxisTicks.ticks(from: 0.15, to: 3, scale: .log, maxCount: 8)
    #expect(ticks.map(\.value) == [0.2, 0.5, 1, 2])
    #expect(ticks.map(\.label) == ["0.2", "0.5", "1", "2"])
  }

  @Test("linear ticks take 1, 2, 2.5 or 5 × 10ᵏ steps inside the range")
  func linear() {
    #expect(
      AxisTicks.ticks(from: 0, to: 10, scale: .linear, maxCount: 5).map(\.label) == ["0", "2", "4", "6", "8", "10"])
    #expect(
      AxisTicks.ticks(from: -0.13, to: 0.9, scale: .linear, maxCount: 5).map(\.label) == [
        "0.00", "0.25", "0.50", "0.75",
      ])
    #expect(
      AxisTicks.ticks(from: -2.2, to: 2.2, scale: .linear, maxCount: 5).map(\.label) == ["−2", "−1", "0", "1", "2"])
    #expect(
      AxisTicks.ticks(from: 0, to: 1, scale: .linear, maxCount: 4).map(\.label) == [
        "0.00", "0.25", "0.50", "0.75", "1.00",
      ])
    #expect(
      AxisTicks.ticks(from: 0, to: 3e6, scale: .linear, maxCount: 3).map(\.label) == ["0", "10⁶", "2×10⁶", "3×10⁶"])
    let many = AxisTicks.ticks(from: 3.7, to: 1234.5, scale: .linear, maxCount: 6)
    #expect(many.count <= 7 && many.allSatisfy { $0.value >= 3.7 && $0.value <= 1234.5 })
  }

  @Test("a power law fitted on log–log axes recovers its slope")
  func powerLaw() throws {
    let x = [1e3, 1e4, 1e5, 1e6]
    let fit = try #require(powerLawFit(x: x, y: x.map { 7 * pow($0, -0.25) }))
    #expect(abs(fit.slope + 0.25) < 1e-12)
    #expect(abs(fit.coefficient - 7) < 1e-9)
    #expect(powerLawFit(x: [1], y: [1]) == nil)
  }
}
