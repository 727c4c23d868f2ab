import Foundation
import Testing
import TesseraNotebook

/// Runs the built `tessera` executable on notebooks made from code snippets, each in a fresh
/// folder with its own compile cache.
struct NotebookHarness {
  let folder: String
  let cache: String

  init() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-nb-\(UUID().uuidString)").path
    cache = folder + "/cache"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  /// The repository's `notebooks/` folder.
  static let notebooks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("notebooks").path

  /// Where ``runShipped(_:_:)`` exports figures.
  var figures: String { folder + "/figures" }

  /// Copies `notebooks/<name>` into this folder and runs the copy with `arguments`, exporting its
  /// figures to ``figures``.
  func runShipped(_ name: String, _ arguments: [String] = []) throws -> Run {
    let path = folder + "/" + name
    try FileManager.default.copyItem(atPath: Self.notebooks + "/" + name, toPath: path)
    return try run(path, arguments + ["--export-figures", figures])
  }

  /// Whether ``runShipped(_:_:)`` exported the figure `name` as `format`.
  func exported(_ name: String, _ format: String) -> Bool {
    FileManager.default.fileExists(atPath: "\(figures)/\(name).\(format)")
  }

  /// The error outputs of `notebook`, as "cell id: output".
  static func errorOutputs(_ notebook: Notebook?) -> [String] {
    (notebook?.cells ?? []).flatMap { cell in
      cell.outputs.filter { $0["output_type"]?.stringValue == "error" }.map { "\(cell.id ?? "?"): \($0)" }
    }
  }

  /// The `tessera` executable built beside this test bundle.
  static var executable: String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = (me as NSString).deletingLastPathComponent
    if dir.hasSuffix(".xctest") { dir = (dir as NSString).deletingLastPathComponent }
    return dir + "/tessera"
  }

  /// Writes a notebook whose code cells are `cells` (ids `c1`, `c2`, …); a cell whose text
  /// starts with `//parameters` is tagged `parameters`.
  func write(_ name: String, cells: [String], markdownFirst: Bool = true) throws -> String {
    var list: [Cell] = []
    if markdownFirst { list.append(Cell.make(type: "markdown", id: "m0", source: "# Test notebook")) }
    for (i, source) in cells.enumerated() {
      let tags = source.hasPrefix("//parameters") ? ["parameters"] : []
      list.append(Cell.make(type: "code", id: "c\(i + 1)", source: source, tags: tags))
    }
    var notebook = StarterNotebook.make(title: name, path: name)
    notebook.cells = list
    let path = folder + "/" + name
    try notebook.write(to: path)
    return path
  }

  struct Run {
    var status: Int32
    var stderr: String
    /// The notebook as written (read back), and where.
    var notebook: Notebook?
    var path: String
    var errorOutputs: [String] { NotebookHarness.errorOutputs(notebook) }
    /// Code cells by id.
    func cell(_ id: String) -> Cell? { notebook?.cells.first { $0.id == id } }
    func outputs(_ id: String) -> [JSONValue] { cell(id)?.outputs ?? [] }
    func text(_ id: String, stream: String = "stdout") -> String {
      outputs(id).filter { $0["name"]?.stringValue == stream }.compactMap { $0["text"]?.joinedText }.joined()
    }
    func error(_ id: String) -> JSONValue? { outputs(id).first { $0["output_type"]?.stringValue == "error" } }
  }

  /// `tessera run path args…`, reading back the written notebook (at `--output` if given).
  func run(_ path: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws -> Run {
    let (status, stderr) = try tessera(["run", path] + arguments, environment: environment)
    return readBack(path, arguments, status: status, stderr: stderr)
  }

  /// `tessera arguments…` with this harness's cache: the exit status (128 + signal when killed)
  /// and stderr.
  func tessera(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stderr: String) {
    var env = ProcessInfo.processInfo.environment
    env["TESSERA_CACHE"] = cache
    for (k, v) in environment { env[k] = v }
    let result = try ChildProcess.run([Self.executable] + arguments, environment: env)
    switch result.status {
    case .exited(let c): return (c, result.stderr)
    case .signaled(let s): return (128 + s, result.stderr)
    case .interrupted(let s): throw ChildProcess.Interrupted(signal: s)
    }
  }

  /// `tessera run path args…` with stdin an open pipe holding `input`, whose writing end this
  /// process keeps open, as a terminal or the rest of a `while read` loop's list would be. Stops
  /// the command after `limit` seconds. Returns the run and what is left unread in the pipe.
  func runWithOpenStdin(
    _ path: String, _ arguments: [String] = [], input: String, limit: TimeInterval
  ) throws -> (run: Run, unread: String, finished: Bool) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.executable)
    process.arguments = ["run", path] + arguments
    var env = ProcessInfo.processInfo.environment
    env["TESSERA_CACHE"] = cache
    process.environment = env
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw CocoaError(.fileWriteUnknown) }
    defer { close(fds[0]) }
    let writer = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
    writer.write(Data(input.utf8))
    let stderr = Pipe()
    process.standardInput = FileHandle(fileDescriptor: dup(fds[0]), closeOnDealloc: true)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = stderr
    try process.run()
    let deadline = Date().addingTimeInterval(limit)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    let finished = !process.isRunning
    if !finished {
      process.terminate()
      process.waitUntilExit()
    }
    let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    try writer.close()
    _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
    var unread = Data()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while case let n = read(fds[0], &buffer, buffer.count), n > 0 { unread.append(contentsOf: buffer[0..<n]) }
    return (
      readBack(path, arguments, status: process.terminationStatus, stderr: message),
      String(decoding: unread, as: UTF8.self), finished
    )
  }

  func readBack(_ path: String, _ arguments: [String], status: Int32, stderr: String) -> Run {
    var written = path
    if let i = arguments.firstIndex(of: "--output") { written = arguments[i + 1] }
    return Run(status: status, stderr: stderr, notebook: try? Notebook.read(written), path: written)
  }

  /// Compile-cache counters of this harness.
  func counters() throws -> (hits: Int, misses: Int) {
    let value = try JSONText.parse(String(contentsOfFile: cache + "/counters.json", encoding: .utf8))
    return (Int(value["hits"]?.integerValue ?? 0), Int(value["misses"]?.integerValue ?? 0))
  }

  /// Jupyter's validator (nbformat) cannot be run: the notebook tests need it, and fail without it.
  struct NbformatUnavailable: Error, CustomStringConvertible {
    var description: String
  }

  /// nbformat's verdict on a file.
  struct Validation: CustomStringConvertible {
    /// The validator exited 0 and printed exactly ``validLine``.
    var valid: Bool
    /// What the validator printed (stdout, then stderr).
    var output: String
    var description: String { output }
  }

  static let validLine = "nbformat.validate: the notebook is valid"

  /// Reads the file as strict JSON (`NaN` and `Infinity` are not JSON) and runs
  /// `nbformat.validate` on it, with the repairs nbformat makes in memory for missing or
  /// duplicate cell ids (reported as FutureWarning) counted as failures.
  static let validatorScript = """
    import json, sys, warnings
    try:
        import nbformat
    except ImportError as error:
        print(error)
        sys.exit(3)
    def refuse(constant):
        raise ValueError(constant + " is not JSON")
    warnings.simplefilter("error", FutureWarning)
    with open(sys.argv[1], encoding="utf-8") as f:
        notebook = json.load(f, parse_constant=refuse)
    nbformat.validate(notebook)
    print("\(validLine)")
    """

  /// Jupyter's own validator on the file at `path`. Throws ``NbformatUnavailable`` when
  /// `python` cannot import nbformat: validation is never skipped.
  static func validate(_ path: String, python: [String] = ["python3"]) throws -> Validation {
    let result = try ChildProcess.run(python + ["-c", validatorScript, path])
    if result.status == .exited(3) {
      throw NbformatUnavailable(
        description: "\(python.joined(separator: " ")) cannot import nbformat, Jupyter's notebook validator "
          + "(\(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))): install it with "
          + "python3 -m pip install nbformat")
    }
    return Validation(
      valid: result.status == .exited(0) && result.stdout == validLine + "\n", output: result.stdout + result.stderr)
  }
}
