/// An RGBA colour with components in 0…1.
public struct Color: Equatable, Sendable {
  public var red: Double
  public var green: Double
  public var blue: Double
  public var alpha: Double

  public init(red: Double, green: Double, blue: Double, alpha: Double = 1) {
    self.red = red
    self.green = green
    self.blue = blue
    self.alpha = alpha
  }

  /// `0xRRGGBB`.
  public init(hex: UInt32, alpha: Double = 1) {
    self.init(
      red: Double((hex >> 16) & 0xFF) / 255, green: Double((hex >> 8) & 0xFF) / 255, blue: Double(hex & 0xFF) / 255,
      alpha: alpha)
  }

  /// The same colour with another opacity.
  public func opacity(_ alpha: Double) -> Color { Color(red: red, green: green, blue: blue, alpha: alpha) }

  /// `#rrggbb`, as SVG writes colours.
  var hexString: String {
    func byte(_ v: Double) -> String {
      let b = Int((min(max(v, 0), 1) * 255).rounded())
      return (b < 16 ? "0" : "") + String(b, radix: 16)
    }
    return "#" + byte(red) + byte(green) + byte(blue)
  }

  /// 8-bit components.
  var bytes: (UInt8, UInt8, UInt8) {
    func byte(_ v: Double) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded()) }
    return (byte(red), byte(green), byte(blue))
  }

  public static let black = Color(hex: 0x000000)
  public static let white = Color(hex: 0xFFFFFF)
  public static let gray = Color(hex: 0x808080)
  /// Axis lines, tick labels and titles.
  public static let ink = Color(hex: 0x333333)
  /// Grid lines behind the data.
  static let gridLine = Color(hex: 0xE6E6E6)

  /// The series colours, in order: the Okabe–Ito palette, distinguishable with the common
  /// forms of colour blindness (Okabe & Ito, "Color Universal Design", 2008), yellow moved last.
  public static let palette: [Color] = [
    0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7, 0xE69F00, 0x56B4E9, 0x000000, 0xF0E442,
  ].map { Color(hex: $0) }

  /// The `index`-th series colour (the palette repeats).
  public static func series(_ index: Int) -> Color { palette[index % palette.count] }
}
