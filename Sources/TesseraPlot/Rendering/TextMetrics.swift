import Foundation
import Synchronization
internal import CCairo

/// Text widths in the figure font (DejaVu Sans, which Debian's fontconfig always provides), from
/// Cairo's font machinery; cached.
enum TextMetrics {
  static let family = "DejaVu Sans"
  /// Baseline offsets as fractions of the font size: where the baseline sits below the top of
  /// capital letters, and below the visual centre of a line of text.
  static let capHeight = 0.73
  static let descent = 0.24

  /// A one-pixel Cairo context to measure with, and the widths measured so far.
  private struct Measurer {
    let context: OpaquePointer?
    var cache: [String: Double] = [:]
  }
  private static let measurer = Mutex(
    Measurer(context: cairo_create(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1))))

  /// The advance width of `s` at `size` points.
  static func width(_ s: String, size: Double, bold: Bool) -> Double {
    if s.isEmpty { return 0 }
    let key = "\(bold ? 1 : 0)|\(size)|\(s)"
    return measurer.withLock { measurer in
      if let w = measurer.cache[key] { return w }
      cairo_select_font_face(
        measurer.context, family, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
      cairo_set_font_size(measurer.context, size)
      var extents = cairo_text_extents_t()
      cairo_text_extents(measurer.context, s, &extents)
      measurer.cache[key] = extents.x_advance
      return extents.x_advance
    }
  }

  /// `s` shortened with "…" to fit `maxWidth`.
  static func fit(_ s: String, size: Double, bold: Bool = false, maxWidth: Double) -> String {
    if width(s, size: size, bold: bold) <= maxWidth { return s }
    var characters = Array(s)
    while !characters.isEmpty {
      characters.removeLast()
      let candidate = String(characters).trimmingCharacters(in: .whitespaces) + "…"
      if width(candidate, size: size, bold: bold) <= maxWidth { return candidate }
    }
    return ""
  }
}
