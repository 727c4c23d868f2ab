import Foundation
import Testing
import TesseraNotebook

/// Writes notebooks with Python's json module exactly as `nbformat.write` lays them out
/// (`indent=1, sort_keys=True, ensure_ascii=False` plus a newline): every cell type, every output
/// type, unicode, empty sources, attachments, reals and unknown fields.
let fixtureScript = #"""
  import json, sys, base64
  png = base64.b64encode(bytes(range(256))).decode()
  nb = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"display_name": "Swift", "language": "swift", "name": "swift"},
                 "language_info": {"name": "swift", "file_extension": ".swift"},
                 "custom": {"reals": [0.1, 1e-05, 1e16, 123.456, -0.0, 2.5e-300, 1.0], "ints": [0, -7, 2**62],
                            "flags": [True, False, None], "nested": {"z": {}, "a": []}, "ünïcödé": "日本語 ✓ \u2028 tab\tend"}},
    "cells": [
      {"cell_type": "markdown", "id": "md-1", "metadata": {}, "source": ["# Title ✨\n", "\n", "Line with \"quotes\" and \\ backslash"],
       "attachments": {"image.png": {"image/png": png}}},
      {"cell_type": "code", "id": "code_2", "metadata": {"tags": ["parameters"], "collapsed": False},
       "execution_count": 3, "source": ["let x = 1\n", "print(x)"],
       "outputs": [
         {"output_type": "stream", "name": "stdout", "text": ["1\n", "two\r\n", "tab\there\n"]},
         {"output_type": "stream", "name": "stderr", "text": ["warning\n"]},
         {"output_type": "display_data", "metadata": {"image/png": {"width": 640}},
          "data": {"text/plain": ["<Figure>"], "image/png": png, "image/svg+xml": ["<svg>\n", "</svg>"],
                   "application/json": {"a": [1, 2.5, None]}, "application/x-unknown": "opaque", "text/markdown": ["**bold**"]}},
         {"output_type": "execute_result", "execution_count": 3, "metadata": {}, "data": {"text/plain": ["42"]}},
         {"output_type": "error", "ename": "Trap", "evalue": "index out of range", "traceback": ["line 1", "\u001b[31mred\u001b[0m"]}
       ]},
      {"cell_type": "code", "id": "empty", "metadata": {}, "execution_count": None, "source": [], "outputs": []},
      {"cell_type": "raw", "id": "raw-3", "metadata": {"format": "text/x-rst"}, "source": "raw *text* as one string"},
      {"cell_type": "markdown", "id": "ctl", "metadata": {"unknown_field": {"kept": True}}, "source": ["control \u0001\u001f \b\f chars / slash"]}
    ]
  }
  with open(sys.argv[1], "w", encoding="utf-8") as f:
      f.write(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
  """#

@Suite("nbformat reading and writing")
struct RoundTripTests {
  @Test("a notebook laid out by Jupyter's writer reads and rewrites byte for byte")
  func byteExact() throws {
    let harness = try NotebookHarness()
    let path = harness.folder + "/fixture.ipynb"
    let result = try ChildProcess.run(["python3", "-c", fixtureScript, path])
    try #require(result.status == .exited(0), "python3 failed: \(result.stderr)")
    let original = try String(contentsOfFile: path, encoding: .utf8)
    let notebook = try Notebook.read(path)
    #expect(notebook.serialized() == original)
    let copy = harness.folder + "/copy.ipynb"
    try notebook.write(to: copy)
    #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(notebook.cells.count == 5)
    #expect(notebook.cells[1].source == "let x = 1\nprint(x)")
    #expect(notebook.cells[1].tags == ["parameters"])
    let verdict = try NotebookHarness.validate(copy)
    #expect(verdict.valid, "\(verdict)")
  }

  @Test("reals print as Python's repr and lines split as str.splitlines")
  func pythonCompatibility() throws {
    for (value, text) in [
      (0.1, "0.1"), (1e-05, "1e-05"), (1e16, "1e+16"), (1e15, "1000000000000000.0"), (123.456, "123.456"), (2.0, "2.0"),
    ] {
      #expect(JSONText.write(.real(value)) == text + "\n")
    }
    #expect(JSONText.splitLines("a\nb\r\nc\rd\u{2028}e") == ["a\n", "b\r\n", "c\r", "d\u{2028}", "e"])
    #expect(JSONText.splitLines("") == [])
    #expect(JSONText.splitLines("end\n") == ["end\n"])
  }
}

@Suite("Bad input")
struct BadInputTests {
  /// Each case: file contents (nil: no file) and a phrase the one-line error must contain.
  static let cases: [(name: String, contents: String?, phrase: String)] = [
    ("not-json", "{ this is not json", "is not JSON"),
    ("not-a-notebook", #"{"hello": "world"}"#, "not a Jupyter notebook"),
    ("nbformat3", #"{"nbformat": 3, "nbformat_minor": 0, "cells": [], "metadata": {}}"#, "nbformat 3"),
    (
      "no-source",
      #"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": []}]}"#,
      "has no \"source\""
    ),
    (
      "python-kernel",
      #"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}, "cells": []}"#,
      "its kernel is python"
    ),
    ("missing", nil, "no such file"),
  ]

  @Test("each problem is one clear line naming the file, exit status 2, nothing written", arguments: 0..<6)
  func rejected(_ index: Int) throws {
    let harness = try NotebookHarness()
    let (name, contents, phrase) = Self.cases[index]
    let path = harness.folder + "/\(name).ipynb"
    if let contents { try contents.write(toFile: path, atomically: true, encoding: .utf8) }
    let output = harness.folder + "/out.ipynb"
    let run = try harness.run(path, ["--output", output])
    #expect(run.status == 2, "\(name): status \(run.status)")
    let lines = run.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(name): \(run.stderr)")
    #expect(run.stderr.contains(path) && run.stderr.contains(phrase), "\(name): \(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: output))
    if let contents { #expect(try String(contentsOfFile: path, encoding: .utf8) == contents) }
  }
}

@Suite("Jupyter's validator")
struct ValidatorTests {
  /// Notebooks nbformat must refuse, written directly as JSON.
  static let invalid: [(name: String, json: String)] = [
    (
      "bad-id",
      #"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "markdown", "id": "not an id!", "metadata": {}, "source": []}]}"#
    ),
    (
      "no-outputs",
      #"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": null, "source": []}]}"#
    ),
    (
      "nan",
      #"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"tessera": {"parameters": {"rate": NaN}}}, "cells": []}"#
    ),
  ]

  @Test("a notebook that breaks the schema is reported invalid", arguments: 0..<3)
  func invalidReported(_ index: Int) throws {
    let (name, json) = Self.invalid[index]
    let harness = try NotebookHarness()
    let path = harness.folder + "/\(name).ipynb"
    try json.write(toFile: path, atomically: true, encoding: .utf8)
    let verdict = try NotebookHarness.validate(path)
    #expect(!verdict.valid, "\(name): \(verdict)")
    #expect(!verdict.output.contains(NotebookHarness.validLine), "\(name): \(verdict)")
  }

  @Test("a python that cannot import nbformat fails validation by name instead of skipping it")
  func missingValidator() throws {
    let harness = try NotebookHarness()
    let path = try harness.write("fine.ipynb", cells: ["print(1)"])
    #expect(try NotebookHarness.validate(path).valid)
    // -S: no site-packages, so no nbformat.
    let error = #expect(throws: NotebookHarness.NbformatUnavailable.self) {
      try NotebookHarness.validate(path, python: ["python3", "-S"])
    }
    #expect(error?.description.contains("cannot import nbformat") == true, "\(String(describing: error))")
  }
}
