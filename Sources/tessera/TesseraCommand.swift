import ArgumentParser
import Foundation

/// `tessera`: run notebooks, reproduce paper tables, benchmark the core.
struct TesseraCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tessera",
    abstract: "A research workbench for efficient LLM architectures.",
    subcommands: [
      RunCommand.self, ReproduceCommand.self, NewCommand.self, SweepCommand.self, SweepTaskCommand.self,
      CollectCommand.self, BenchCommand.self, ZooCommand.self,
    ]
  )

  /// Parses and runs `arguments` (the command line without the program's name). `tessera run`
  /// and `tessera reproduce` exit with status 2 when their input cannot be used, and so they do
  /// on a usage error (an unknown option, a missing or malformed value), with one line on stderr;
  /// help, and the other commands, behave as ArgumentParser makes them.
  static func main(commandLine arguments: [String]) -> Never {
    let subcommand = arguments.first.flatMap { ["run", "reproduce"].contains($0) ? $0 : nil }
    do {
      var command = try parseAsRoot(
        subcommand == nil ? arguments : ExecutionArguments.joiningNegativeValues(arguments))
      try command.run()
      exit()
    } catch {
      if let subcommand, exitCode(for: error) == .validationFailure {
        let message = message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        FileHandle.standardError.write(Data("error: tessera \(subcommand): \(message)\n".utf8))
        Foundation.exit(2)
      }
      exit(withError: error)
    }
  }
}
