import Foundation
import Testing
import TesseraNotebook

@Suite("The command line of tessera run and tessera reproduce")
struct CommandLineTests {
  /// Arguments (`NOTEBOOK` stands for a notebook's path) and a phrase of the one-line error.
  static let usageErrors: [(arguments: [String], phrase: String)] = [
    (["run", "NOTEBOOK", "--no-such-option"], "--no-such-option"),
    (["run", "NOTEBOOK", "-p", "steps"], "-p steps"),
    (["run"], "<notebook>"),
    (["run", "NOTEBOOK", "--timeout", "0"], "--timeout"),
    (["run", "NOTEBOOK", "--timeout", "-1"], "--timeout"),
    (["run", "NOTEBOOK", "--timeout", "nan"], "--timeout"),
    (["run", "NOTEBOOK", "--timeout", "inf"], "--timeout"),
    (["run", "NOTEBOOK", "--timeout", "soon"], "--timeout"),
    (["run", "NOTEBOOK", "--seed", "-1"], "--seed"),
    (["run", "NOTEBOOK", "--seed", "9223372036854775808"], "--seed"),
    (["run", "NOTEBOOK", "--seed", "18446744073709551615"], "--seed"),
    (["reproduce", "--no-such-option"], "--no-such-option"),
    (["reproduce", "--timeout", "0"], "--timeout"),
  ]

  @Test("a usage error exits 2 with one line naming the option; nothing is written", arguments: 0..<13)
  func usageError(_ index: Int) throws {
    let (template, phrase) = Self.usageErrors[index]
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: ["//parameters\nlet steps = 10", "print(steps)"])
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let arguments = template.map { $0 == "NOTEBOOK" ? path : $0 }
    let (status, stderr) = try h.tessera(arguments)
    #expect(status == 2, "\(arguments): \(stderr)")
    #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
    #expect(stderr.contains(phrase), "\(stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    #expect(!FileManager.default.fileExists(atPath: h.cache + "/programs"))
  }

  @Test("the largest seed a notebook can record, 2^63 - 1, is recorded exactly")
  func largestSeed() throws {
    let h = try NotebookHarness()
    let path = try h.write("p.ipynb", cells: ["import Tessera\nprint(RunSettings.seed)"])
    let run = try h.run(path, ["--seed", "9223372036854775807"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("c1") == "9223372036854775807\n")
    #expect(run.notebook?.metadata["tessera"]?["seed"]?.integerValue == Int64.max)
  }
}
