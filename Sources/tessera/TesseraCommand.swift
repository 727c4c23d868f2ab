import ArgumentParser

/// `tessera`: run notebooks, reproduce paper tables, benchmark the core.
struct TesseraCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tessera",
    abstract: "A research workbench for efficient LLM architectures.",
    subcommands: [RunCommand.self, ReproduceCommand.self, NewCommand.self, BenchCommand.self, ZooCommand.self]
  )
}
