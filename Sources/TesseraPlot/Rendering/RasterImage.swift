import Foundation
internal import CCairo

/// An 8-bit RGBA image (not premultiplied, row 0 on top): decoded from PNG to check what a
/// figure drew, or encoded to PNG (heatmaps inside SVG).
public struct RasterImage: Sendable {
  public let width: Int
  public let height: Int
  /// `width × height × 4` bytes: red, green, blue, alpha.
  public var rgba: [UInt8]

  public init(width: Int, height: Int, rgba: [UInt8]) {
    plotCheck(rgba.count == width * height * 4, "RasterImage: \(rgba.count) bytes for \(width) × \(height) pixels")
    self.width = width
    self.height = height
    self.rgba = rgba
  }

  /// Decodes PNG bytes; nil when they are not a PNG.
  public init?(png: Data) {
    final class Source {
      let bytes: [UInt8]
      var offset = 0
      init(_ d: Data) { bytes = [UInt8](d) }
    }
    let source = Source(png)
    let read: cairo_read_func_t = { closure, buffer, length in
      guard let closure, let buffer else { return CAIRO_STATUS_READ_ERROR }
      let s = Unmanaged<Source>.fromOpaque(closure).takeUnretainedValue()
      let n = Int(length)
      guard s.offset + n <= s.bytes.count else { return CAIRO_STATUS_READ_ERROR }
      s.bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + s.offset, count: n) }
      s.offset += n
      return CAIRO_STATUS_SUCCESS
    }
    let surface = withExtendedLifetime(source) {
      cairo_image_surface_create_from_png_stream(read, Unmanaged.passUnretained(source).toOpaque())
    }
    defer { cairo_surface_destroy(surface) }
    guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else { return nil }
    cairo_surface_flush(surface)
    let w = Int(cairo_image_surface_get_width(surface)), h = Int(cairo_image_surface_get_height(surface))
    let stride = Int(cairo_image_surface_get_stride(surface))
    guard let data = cairo_image_surface_get_data(surface) else { return nil }
    var out = [UInt8](repeating: 0, count: w * h * 4)
    for y in 0..<h {
      let row = (data + y * stride).withMemoryRebound(to: UInt32.self, capacity: w) { $0 }
      for x in 0..<w {
        let p = row[x]
        let a = (p >> 24) & 0xFF
        func channel(_ shift: UInt32) -> UInt8 {
          let v = (p >> shift) & 0xFF
          return a == 0 ? 0 : UInt8(min(255, (v * 255 + a / 2) / a))
        }
        let i = (y * w + x) * 4
        out[i] = channel(16)
        out[i + 1] = channel(8)
        out[i + 2] = channel(0)
        out[i + 3] = UInt8(a)
      }
    }
    self.init(width: w, height: h, rgba: out)
  }

  /// The pixel at (x, y) as (red, green, blue, alpha).
  public func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8, UInt8) {
    let i = (y * width + x) * 4
    return (rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3])
  }

  /// PNG bytes.
  public func png() -> Data {
    let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
    defer { cairo_surface_destroy(surface) }
    Self.fill(surface, rgba: rgba, width: width, height: height)
    let sink = ByteSink()
    cairo_surface_write_to_png_stream(surface, ByteSink.write, Unmanaged.passUnretained(sink).toOpaque())
    return sink.data
  }

  /// Copies straight RGBA into a Cairo ARGB32 surface (premultiplied, native-endian words).
  static func fill(_ surface: OpaquePointer?, rgba: [UInt8], width: Int, height: Int) {
    cairo_surface_flush(surface)
    guard let data = cairo_image_surface_get_data(surface) else { return }
    let stride = Int(cairo_image_surface_get_stride(surface))
    for y in 0..<height {
      let row = (data + y * stride).withMemoryRebound(to: UInt32.self, capacity: width) { $0 }
      for x in 0..<width {
        let i = (y * width + x) * 4
        let a = UInt32(rgba[i + 3])
        func pre(_ v: UInt8) -> UInt32 { (UInt32(v) * a + 127) / 255 }
        row[x] = (a << 24) | (pre(rgba[i]) << 16) | (pre(rgba[i + 1]) << 8) | pre(rgba[i + 2])
      }
    }
    cairo_surface_mark_dirty(surface)
  }
}
