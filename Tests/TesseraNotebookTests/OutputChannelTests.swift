import Foundation
import Testing
import TesseraNotebook

@Suite("Output channel")
struct OutputChannelTests {
  @Test("text holding the channel's framing byte, or a line shaped like a marker, is kept as printed")
  func framingByteInText() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "framing.ipynb",
      cells: [
        "print(\"a\\u{1E}b\", terminator: \"\")",
        "print(\"\\u{1E}TESSERA cell 1 0\")\nprint(\"\\u{1E}TESSERA done 2 0\")\nprint(\"ok\")",
        "import Foundation\nFileHandle.standardError.write(Data(\"e\\u{1E}rr\\n\".utf8))\nprint(\"tail\\u{1E}\", terminator: \"\")",
      ])
    let run = try h.run(path)
    #expect(run.status == 0, "\(run.stderr) \(run.errorOutputs)")
    #expect(run.text("c1") == "a\u{1E}b")
    #expect(run.text("c2") == "\u{1E}TESSERA cell 1 0\n\u{1E}TESSERA done 2 0\nok\n")
    #expect(run.text("c3") == "tail\u{1E}")
    #expect(run.text("c3", stream: "stderr") == "e\u{1E}rr\n")
  }

  @Test("a cell cannot read the marker's token: not in its environment, nor on an open descriptor")
  func tokenHidden() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "token.ipynb",
      cells: [
        """
        import Foundation
        let initial = (try? String(contentsOfFile: "/proc/self/environ", encoding: .utf8)) ?? ""
        print(initial.contains("TOKEN=") ? "token in environ" : "no token in environ")
        print(fcntl(4, F_GETFD) == -1 ? "its descriptor is closed" : "descriptor 4 is open")
        """
      ])
    let run = try h.run(path)
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c1") == "no token in environ\nits descriptor is closed\n")
  }

  @Test("a display of several MB arrives whole")
  func largeDisplay() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "big.ipynb",
      cells: ["let text = String(repeating: \"row \\u{1E} of text\\n\", count: 400_000)\ndisplay(markdown: text)"])
    let started = Date()
    let run = try h.run(path)
    let seconds = Date().timeIntervalSince(started)
    #expect(run.status == 0, "\(run.stderr)")
    let shown = run.outputs("c1").first?["data"]?["text/markdown"]?.joinedText
    #expect(shown == String(repeating: "row \u{1E} of text\n", count: 400_000))
    #expect(seconds < 60, "\(seconds) s")
  }
}
