import Foundation

/// Writes SVG 1.1 directly: text stays `<text>` (searchable, selectable, editable), each series is
/// one `<g class="… series" data-label="…">` group, and heatmaps are embedded PNG images.
final class SVGCanvas: Canvas {
  let width: Double
  let height: Double
  private var body = ""
  private var defs = ""
  private var clipCount = 0
  private var indent = 1

  init(width: Double, height: Double) {
    self.width = width
    self.height = height
  }

  func document() -> String {
    var out = """
      <?xml version="1.0" encoding="UTF-8"?>
      <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" \
      width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" \
      font-family="DejaVu Sans, Verdana, Arial, sans-serif">

      """
    if !defs.isEmpty { out += " <defs>\n" + defs + " </defs>\n" }
    out +=
      " <rect class=\"background\" x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>\n"
    return out + body + "</svg>\n"
  }

  /// Numbers with at most two decimals, no trailing zeros.
  private func n(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    if r == r.rounded() { return String(Int(r)) }
    var s = String(format: "%.2f", r)
    while s.hasSuffix("0") { s.removeLast() }
    return s
  }

  private func emit(_ line: String) { body += String(repeating: " ", count: indent) + line + "\n" }

  private func paint(_ c: Color?, _ attribute: String) -> String {
    guard let c else { return " \(attribute)=\"none\"" }
    var s = " \(attribute)=\"\(c.hexString)\""
    if c.alpha < 1 { s += " \(attribute)-opacity=\"\(n(c.alpha))\"" }
    return s
  }

  static func escape(_ s: String) -> String {
    var out = ""
    for ch in s.unicodeScalars {
      switch ch {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      default:
        // XML 1.0 forbids most control characters.
        if ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r" { continue }
        out.unicodeScalars.append(ch)
      }
    }
    return out
  }

  func beginGroup(_ kind: String, label: String?, clip: Rect?) {
    var attributes = " class=\"\(Self.escape(kind))\""
    if let label { attributes += " data-label=\"\(Self.escape(label))\"" }
    if let clip {
      clipCount += 1
      defs +=
        "  <clipPath id=\"clip\(clipCount)\"><rect x=\"\(n(clip.x))\" y=\"\(n(clip.y))\" width=\"\(n(clip.width))\" "
        + "height=\"\(n(clip.height))\"/></clipPath>\n"
      attributes += " clip-path=\"url(#clip\(clipCount))\""
    }
    emit("<g\(attributes)>")
    indent += 1
  }

  func endGroup() {
    indent = max(1, indent - 1)
    emit("</g>")
  }

  func path(_ subpaths: [[Point]], stroke: Color?, width: Double, dash: [Double], fill: Color?, closed: Bool) {
    var d = ""
    for sub in subpaths where !sub.isEmpty {
      d += "M\(n(sub[0].x)) \(n(sub[0].y))"
      for p in sub.dropFirst() { d += "L\(n(p.x)) \(n(p.y))" }
      if closed { d += "Z" }
    }
    guard !d.isEmpty else { return }
    var attributes = paint(fill, "fill") + paint(stroke, "stroke")
    if stroke != nil {
      attributes += " stroke-width=\"\(n(width))\" stroke-linejoin=\"round\""
      attributes +=
        dash.isEmpty ? " stroke-linecap=\"round\"" : " stroke-dasharray=\"\(dash.map(n).joined(separator: " "))\""
    }
    emit("<path d=\"\(d)\"\(attributes)/>")
  }

  func rect(_ r: Rect, fill: Color?, stroke: Color?, width: Double) {
    var attributes = paint(fill, "fill") + paint(stroke, "stroke")
    if stroke != nil { attributes += " stroke-width=\"\(n(width))\"" }
    emit("<rect x=\"\(n(r.x))\" y=\"\(n(r.y))\" width=\"\(n(r.width))\" height=\"\(n(r.height))\"\(attributes)/>")
  }

  func circles(_ centers: [Point], radius: Double, fill: Color) {
    for c in centers {
      emit("<circle cx=\"\(n(c.x))\" cy=\"\(n(c.y))\" r=\"\(n(radius))\"\(paint(fill, "fill"))/>")
    }
  }

  func text(_ s: String, at: Point, size: Double, bold: Bool, color: Color, anchor: TextAnchor, vertical: Bool) {
    guard !s.isEmpty else { return }
    var attributes = " x=\"\(n(at.x))\" y=\"\(n(at.y))\" font-size=\"\(n(size))\"" + paint(color, "fill")
    if bold { attributes += " font-weight=\"bold\"" }
    switch anchor {
    case .start: break
    case .middle: attributes += " text-anchor=\"middle\""
    case .end: attributes += " text-anchor=\"end\""
    }
    if vertical { attributes += " transform=\"rotate(-90 \(n(at.x)) \(n(at.y)))\"" }
    emit("<text\(attributes)>\(Self.escape(s))</text>")
  }

  func image(_ rgba: [UInt8], width: Int, height: Int, in rect: Rect) {
    let png = RasterImage(width: width, height: height, rgba: rgba).png().base64EncodedString()
    emit(
      "<image x=\"\(n(rect.x))\" y=\"\(n(rect.y))\" width=\"\(n(rect.width))\" height=\"\(n(rect.height))\" "
        + "preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" "
        + "xlink:href=\"data:image/png;base64,\(png)\"/>")
  }
}
