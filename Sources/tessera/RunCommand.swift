import ArgumentParser
import Foundation
import TesseraCore
import TesseraNotebook

/// `tessera run`: execute a notebook headless and write its outputs back.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run a Swift notebook headless and write its outputs back.",
    discussion: """
      Code cells are compiled into one program against the Tessera library (cached: the same code
      compiles once) and run; outputs, execution counts and timings go back into the notebook, which is
      replaced atomically (through a symbolic link, keeping its mode). Exit status: 0 all cells ran, 1 a
      cell failed (its error is in the notebook) or the result could not go where asked (it is saved
      beside it or in the temporary folder, named on stderr), 2 the input, the output path or the command
      line could not be used (nothing run, nothing written), 128 + N on signal N (SIGTERM from kill or
      scancel, SIGINT from Ctrl-C, SIGHUP): the notebook program and every process it started are
      stopped and the notebook is written with the outputs so far and the signal named on the running
      cell. The program never outlives tessera run, even when tessera run is killed with SIGKILL.
      """
  )

  @Argument(help: "The notebook (.ipynb).")
  var notebook: String

  @Option(name: .shortAndLong, help: "Write the executed notebook here instead of over the input.")
  var output: String?

  @Option(name: .long, help: "Write every displayed figure (PNG, SVG) into this folder.")
  var exportFigures: String?

  @OptionGroup var execution: ExecutionArguments

  @Flag(help: "Only compile the notebook (into the cache); run nothing, write nothing.")
  var compileOnly = false

  func run() throws {
    var options = try execution.runnerOptions()
    options.output = output
    options.exportFigures = exportFigures
    options.compileOnly = compileOnly
    ChildProcess.catchStopSignals()
    let report = NotebookRunner(options: options).run(notebook)
    for line in report.messages { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    if report.status != 0 { throw ExitCode(report.status) }
  }
}

/// The options every command that runs a notebook takes: parameters, seed, timeout, streaming.
struct ExecutionArguments: ParsableArguments {
  @Option(
    name: [.customShort("p"), .customLong("parameter")], parsing: .upToNextOption,
    help: ArgumentHelp("Override a parameter: -p NAME VALUE (or NAME=VALUE).", valueName: "NAME VALUE"))
  var parameters: [String] = []

  @Option(name: [.customShort("f"), .customLong("parameters-file")], help: "A JSON object of parameter values.")
  var parametersFile: String?

  /// The run's seed, 0 through 2^63 - 1. It is recorded in `metadata.tessera.seed` as a JSON
  /// integer, and Tessera reads JSON with jansson, whose integers are signed 64-bit: a larger seed
  /// is refused rather than recorded as a negative number or as a file Tessera cannot read back.
  @Option(parsing: .unconditional, help: "The run's seed (0 through 2^63 - 1).")
  var seed: UInt64 = 0

  @Option(
    parsing: .unconditional, help: "Seconds one cell may run before it is stopped (a finite positive number).")
  var timeout: Double?

  @Flag(help: "Stream cell output to the terminal as it happens.")
  var logOutput = false

  func validate() throws {
    if let timeout, !(timeout.isFinite && timeout > 0) {
      throw ValidationError("--timeout \(timeout): the seconds a cell may run must be a finite positive number")
    }
    if Int64(exactly: seed) == nil {
      throw ValidationError(
        "--seed \(seed): a seed is at most 2^63 - 1 = \(Int64.max), the largest integer a notebook records exactly")
    }
  }

  /// `arguments` with each `-p NAME VALUE` whose VALUE is a negative number (`-p lr -0.5`) joined
  /// into `-p NAME=VALUE`, so that the value is not read as an option.
  static func joiningNegativeValues(_ arguments: [String]) -> [String] {
    var joined: [String] = []
    var inParameters = false  // among the NAME VALUE pairs after -p
    var nameWaiting = false  // the last argument was a NAME without its VALUE
    for argument in arguments {
      if nameWaiting, argument.hasPrefix("-"), Double(argument.replacingOccurrences(of: "_", with: "")) != nil {
        joined[joined.count - 1] += "=" + argument
        nameWaiting = false
        continue
      }
      if argument == "-p" || argument == "--parameter" {
        inParameters = true
        nameWaiting = false
      } else if argument.hasPrefix("-") {
        inParameters = false
        nameWaiting = false
      } else if inParameters {
        nameWaiting = !nameWaiting && !argument.contains("=")
      }
      joined.append(argument)
    }
    return joined
  }

  /// Runner options for these arguments, with the prebuilt library beside this executable.
  func runnerOptions() throws -> NotebookRunner.Options {
    var pairs: [(String, String)] = []
    var pending = parameters[...]
    while let first = pending.popFirst() {
      if let eq = first.firstIndex(of: "=") {
        pairs.append((String(first[..<eq]), String(first[first.index(after: eq)...])))
      } else if let value = pending.popFirst() {
        pairs.append((first, value))
      } else {
        throw ValidationError("-p \(first): missing value (use -p NAME VALUE)")
      }
    }
    let library = LibraryLocation.current
    var options = NotebookRunner.Options(libraryDirectory: library.directory)
    options.parameters = pairs
    options.parameterFile = parametersFile
    options.seed = seed
    options.timeout = timeout
    options.logOutput = logOutput
    options.environment = BLASCore.environment(ProcessInfo.processInfo.environment)
    options.libraryVersion = LibraryLocation.version
    options.libraryCommit = library.commit
    options.moduleMapDirectories = library.moduleMapDirectories
    return options
  }
}

/// Where the prebuilt Tessera library is: beside this executable (a SwiftPM build folder), or
/// `TESSERA_LIBRARY_DIR`.
struct LibraryLocation {
  static let version = "0.1.0"
  var directory: String

  static var current: LibraryLocation {
    if let dir = ProcessInfo.processInfo.environment["TESSERA_LIBRARY_DIR"] { return LibraryLocation(directory: dir) }
    return LibraryLocation(directory: (ThisExecutable.path as NSString).deletingLastPathComponent)
  }

  /// The package the library was built from: the nearest folder above with a Package.swift.
  var packageRoot: String? {
    var folder = URL(fileURLWithPath: directory)
    for _ in 0..<5 {
      folder.deleteLastPathComponent()
      if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
        return folder.path
      }
    }
    return nil
  }

  /// The git commit of that package, when it is a checkout.
  var commit: String {
    guard let root = packageRoot,
      let result = try? ChildProcess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"]),
      result.status == .exited(0)
    else { return "unknown" }
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// The C modules' module-map folders (`Sources/C*`, or their `include/` for C targets built
  /// from source), which a notebook program needs to see.
  var moduleMapDirectories: [String] {
    guard let root = packageRoot, let names = try? FileManager.default.contentsOfDirectory(atPath: root + "/Sources")
    else {
      return []
    }
    return names.sorted().flatMap { ["\(root)/Sources/\($0)", "\(root)/Sources/\($0)/include"] }.filter {
      FileManager.default.fileExists(atPath: $0 + "/module.modulemap")
    }
  }
}
