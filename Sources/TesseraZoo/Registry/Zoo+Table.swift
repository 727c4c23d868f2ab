import TesseraCore

extension FamilyRegistry {
  /// The registry as a Markdown table — kind, slot, forms (the default first), options with their
  /// defaults, and what the layer is — the table the README shows (`tessera zoo` prints it).
  public var markdownTable: String {
    var lines = [
      "| kind | slot | forms | options (defaults) | what |",
      "|---|---|---|---|---|",
    ]
    for entry in entries {
      let defaults: [String: JSONValue]
      if case .object(let object) = entry.defaultOptions { defaults = object } else { defaults = [:] }
      let options = entry.optionKeys.map { key in "`\(key)` " + (defaults[key].map(\.compactDescription) ?? "–") }
      var forms = entry.forms.map(\.description)
      if case .some(let form) = defaults["form"], let first = try? form.decode(Form.self) {
        forms = [first.description + " (default)"] + forms.filter { $0 != first.description }
      }
      lines.append(
        "| `\(entry.kind)` | \(entry.slot) | \(forms.isEmpty ? "—" : forms.joined(separator: ", ")) | "
          + "\(options.joined(separator: ", ")) | \(entry.summary) |")
    }
    return lines.joined(separator: "\n")
  }
}

extension JSONValue {
  /// Short text for a table: numbers without a trailing `.0`, forms by name.
  var compactDescription: String {
    if let form = try? decode(Form.self), case .object = self { return form.description }
    return description
  }
}
