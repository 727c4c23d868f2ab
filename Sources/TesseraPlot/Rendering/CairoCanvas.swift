import Foundation
internal import CCairo

/// Draws on a Cairo surface: an ARGB image (written as PNG) or a PDF stream.
final class CairoCanvas: Canvas {
  let surface: OpaquePointer
  let cr: OpaquePointer
  /// Bytes of the PDF stream as Cairo writes them.
  private let sink = ByteSink()
  private var groupDepth = 0

  /// An image of `width × height` points at `scale` pixels per point, on white.
  init(raster width: Double, _ height: Double, scale: Double) {
    let w = Int32((width * scale).rounded()), h = Int32((height * scale).rounded())
    surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h)
    cr = cairo_create(surface)
    cairo_scale(cr, scale, scale)
    fillBackground(width, height)
  }

  /// A one-page PDF of `width × height` points.
  init(pdf width: Double, _ height: Double) {
    let unmanaged = Unmanaged.passUnretained(sink).toOpaque()
    surface = cairo_pdf_surface_create_for_stream(ByteSink.write, unmanaged, width, height)
    cr = cairo_create(surface)
    fillBackground(width, height)
  }

  deinit {
    cairo_destroy(cr)
    cairo_surface_destroy(surface)
  }

  private func fillBackground(_ width: Double, _ height: Double) {
    cairo_set_source_rgb(cr, 1, 1, 1)
    cairo_rectangle(cr, 0, 0, width, height)
    cairo_fill(cr)
  }

  func finishPNG() -> Data {
    cairo_surface_flush(surface)
    let out = ByteSink()
    cairo_surface_write_to_png_stream(surface, ByteSink.write, Unmanaged.passUnretained(out).toOpaque())
    return out.data
  }

  func finishPDF() -> Data {
    cairo_surface_finish(surface)
    return sink.data
  }

  private func setColor(_ c: Color) { cairo_set_source_rgba(cr, c.red, c.green, c.blue, c.alpha) }

  func beginGroup(_ kind: String, label: String?, clip: Rect?) {
    cairo_save(cr)
    groupDepth += 1
    if let clip {
      cairo_rectangle(cr, clip.x, clip.y, clip.width, clip.height)
      cairo_clip(cr)
    }
  }

  func endGroup() {
    guard groupDepth > 0 else { return }
    groupDepth -= 1
    cairo_restore(cr)
  }

  func path(_ subpaths: [[Point]], stroke: Color?, width: Double, dash: [Double], fill: Color?, closed: Bool) {
    cairo_new_path(cr)
    for sub in subpaths where !sub.isEmpty {
      cairo_move_to(cr, sub[0].x, sub[0].y)
      for p in sub.dropFirst() { cairo_line_to(cr, p.x, p.y) }
      if closed { cairo_close_path(cr) }
    }
    if let fill {
      setColor(fill)
      if stroke != nil { cairo_fill_preserve(cr) } else { cairo_fill(cr) }
    }
    if let stroke {
      setColor(stroke)
      cairo_set_line_width(cr, width)
      cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
      cairo_set_line_cap(cr, dash.isEmpty ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT)
      cairo_set_dash(cr, dash, Int32(dash.count), 0)
      cairo_stroke(cr)
      cairo_set_dash(cr, nil, 0, 0)
    }
    cairo_new_path(cr)
  }

  func rect(_ r: Rect, fill: Color?, stroke: Color?, width: Double) {
    cairo_new_path(cr)
    cairo_rectangle(cr, r.x, r.y, r.width, r.height)
    if let fill {
      setColor(fill)
      if stroke != nil { cairo_fill_preserve(cr) } else { cairo_fill(cr) }
    }
    if let stroke {
      setColor(stroke)
      cairo_set_line_width(cr, width)
      cairo_stroke(cr)
    }
    cairo_new_path(cr)
  }

  func circles(_ centers: [Point], radius: Double, fill: Color) {
    setColor(fill)
    for c in centers {
      cairo_new_sub_path(cr)
      cairo_arc(cr, c.x, c.y, radius, 0, 2 * Double.pi)
    }
    cairo_fill(cr)
  }

  func text(_ s: String, at: Point, size: Double, bold: Bool, color: Color, anchor: TextAnchor, vertical: Bool) {
    guard !s.isEmpty else { return }
    cairo_save(cr)
    cairo_select_font_face(
      cr, TextMetrics.family, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
    cairo_set_font_size(cr, size)
    setColor(color)
    cairo_translate(cr, at.x, at.y)
    if vertical { cairo_rotate(cr, -Double.pi / 2) }
    let w = TextMetrics.width(s, size: size, bold: bold)
    let dx: Double
    switch anchor {
    case .start: dx = 0
    case .middle: dx = -w / 2
    case .end: dx = -w
    }
    cairo_move_to(cr, dx, 0)
    cairo_show_text(cr, s)
    cairo_restore(cr)
  }

  func image(_ rgba: [UInt8], width: Int, height: Int, in rect: Rect) {
    guard width > 0, height > 0 else { return }
    let image = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
    defer { cairo_surface_destroy(image) }
    RasterImage.fill(image, rgba: rgba, width: width, height: height)
    cairo_save(cr)
    cairo_rectangle(cr, rect.x, rect.y, rect.width, rect.height)
    cairo_clip(cr)
    cairo_translate(cr, rect.x, rect.y)
    cairo_scale(cr, rect.width / Double(width), rect.height / Double(height))
    cairo_set_source_surface(cr, image, 0, 0)
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
    cairo_paint(cr)
    cairo_restore(cr)
  }
}

/// Collects the bytes Cairo writes to a stream.
final class ByteSink {
  var data = Data()

  static let write: cairo_write_func_t = { closure, bytes, length in
    guard let closure, let bytes else { return CAIRO_STATUS_WRITE_ERROR }
    let sink = Unmanaged<ByteSink>.fromOpaque(closure).takeUnretainedValue()
    sink.data.append(bytes, count: Int(length))
    return CAIRO_STATUS_SUCCESS
  }
}
