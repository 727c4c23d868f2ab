/// A continuous colour map: colours at evenly spaced stops, interpolated linearly in RGB.
public struct ColorMap: Sendable {
  public let name: String
  let stops: [Color]

  public init(name: String, stops: [Color]) {
    precondition(stops.count >= 2, "a colour map needs at least two stops")
    self.name = name
    self.stops = stops
  }

  /// The colour at `t` in 0…1 (clamped).
  public func color(at t: Double) -> Color {
    let x = min(max(t.isFinite ? t : 0, 0), 1) * Double(stops.count - 1)
    let i = min(Int(x), stops.count - 2)
    let f = x - Double(i)
    let a = stops[i], b = stops[i + 1]
    return Color(
      red: a.red + (b.red - a.red) * f, green: a.green + (b.green - a.green) * f, blue: a.blue + (b.blue - a.blue) * f)
  }

  /// viridis (van der Walt & Smith, 2015): perceptually uniform, readable in grey scale and with
  /// colour blindness. Seventeen evenly spaced stops of the published map, interpolated linearly.
  public static let viridis = ColorMap(
    name: "viridis",
    stops: [
      0x440154, 0x481A6C, 0x472F7D, 0x414487, 0x39568C, 0x31688E, 0x2A788E, 0x23888E, 0x21918C,
      0x1FA088, 0x22A884, 0x35B779, 0x54C568, 0x7AD151, 0xA5DB36, 0xD2E21B, 0xFDE725,
    ].map { Color(hex: $0) })

  /// Greys from white to black, for print.
  public static let grays = ColorMap(name: "grays", stops: [Color.white, Color.black])
}
