import Foundation

/// `tessera run`: executes a notebook headless and writes its outputs back, the way papermill
/// does for Python notebooks.
///
/// Exit status: 0 when every cell ran, 1 when a cell failed (compile error, trap, signal,
/// timeout — the notebook is still written, with the error on that cell and a banner on top) or
/// when the result could not be written where asked (it is saved elsewhere and the place named),
/// 2 when the input or the output path is unusable (nothing is run or written), 128 + n when the
/// process caught stop signal n (SIGTERM, SIGINT, SIGHUP; see ``ChildProcess/catchStopSignals()``):
/// the notebook program and everything it started are killed, and the notebook is written with
/// the outputs of the cells that finished and an error naming the signal on the running cell.
public struct NotebookRunner {
  /// What `tessera run` was asked to do.
  public struct Options {
    public var output: String?
    /// `-p name value` pairs, as typed.
    public var parameters: [(String, String)] = []
    /// `-f params.json`.
    public var parameterFile: String?
    /// At most 2^63 - 1: it is recorded as a JSON integer, which Tessera reads as a signed 64-bit
    /// value (a larger seed makes the run fail with status 2).
    public var seed: UInt64 = 0
    /// Seconds one cell may run.
    public var timeout: Double?
    public var exportFigures: String?
    public var logOutput = false
    /// Compile (into the cache) and stop: nothing runs, nothing is written. A sweep warms the
    /// cache this way before its tasks start.
    public var compileOnly = false
    /// Environment for the notebook program (the launcher adds the BLAS kernel choice).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Stream bytes kept per cell and stream.
    public var outputCap = 1 << 20
    public var libraryDirectory: String
    /// Folders of the C shims' module maps.
    public var moduleMapDirectories: [String] = []
    public var cacheDirectory: String?
    /// Library version and commit to record.
    public var libraryVersion = "unknown"
    public var libraryCommit = "unknown"

    public init(libraryDirectory: String) { self.libraryDirectory = libraryDirectory }
  }

  /// A run's result: the exit status and the lines to print.
  public struct Report {
    public var status: Int32
    public var messages: [String]
    public var notebook: Notebook?
    public var cacheHit: Bool?
  }

  public static let errorTag = "tessera-error"
  public static let injectedTag = "injected-parameters"

  let options: Options

  public init(options: Options) { self.options = options }

  /// Runs the notebook at `path`.
  public func run(_ path: String) -> Report {
    do {
      return try runChecked(path)
    } catch let error as NotebookError {
      return Report(status: 2, messages: ["error: \(error)"])
    } catch let error as NotebookParameters.OverrideError {
      return Report(status: 2, messages: ["error: \(path): \(error)"])
    } catch let error as NotebookCompiler.SetupError {
      return Report(status: 2, messages: ["error: \(error)"])
    } catch let stop as ChildProcess.Interrupted {
      return Report(
        status: 128 + stop.signal,
        messages: [
          "error: \(path): tessera run received \(signalName(stop.signal)) while compiling the notebook; "
            + "nothing ran and the notebook is unchanged"
        ])
    } catch {
      return Report(status: 2, messages: ["error: \(path): \(error)"])
    }
  }

  func runChecked(_ path: String) throws -> Report {
    let started = Date()
    guard Int64(exactly: options.seed) != nil else {
      throw NotebookError(path: path, problem: "seed \(options.seed) is above 2^63 - 1, the largest a notebook records")
    }
    var notebook = try Notebook.read(path)
    let outputPath = options.output ?? path
    // Where the result goes must be writable before anything runs, and a save made there by someone
    // else while the cells run must not be overwritten: its bytes now are compared before writing.
    try Notebook.checkWritable(outputPath)
    let outputAtStart = FileManager.default.contents(atPath: Notebook.resolvingLinks(outputPath))
    // Parameters: declarations, then overrides from -f and -p, all checked before anything runs.
    var fileValues: [(String, JSONValue)] = []
    if let file = options.parameterFile {
      guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
        throw NotebookError(path: file, problem: "cannot read the parameters file")
      }
      guard let object = (try? JSONText.parse(text))?.objectValue else {
        if let (name, token) = NotebookParameters.nonFiniteMember(in: text) {
          throw NotebookError(
            path: file, problem: "parameter \"\(name)\" is \(token), which is not a finite number (nor JSON)")
        }
        throw NotebookError(path: file, problem: "is not a JSON object of parameter values")
      }
      fileValues = object
    }
    removeGeneratedCells(&notebook)
    let repairs = repairIDs(&notebook)
    var parameters = NotebookParameters(notebook: notebook)
    let overrides = try parameters.resolve(commandLine: options.parameters, file: fileValues)
    if let index = parameters.cellIndex, !overrides.isEmpty {
      var cells = notebook.cells
      cells.insert(Self.withUniqueID(injectedCell(overrides), among: cells), at: index + 1)
      notebook.cells = cells
      parameters = NotebookParameters(notebook: notebook)
    }
    let compiler = try NotebookCompiler(
      libraryDirectory: options.libraryDirectory, cacheDirectory: options.cacheDirectory,
      moduleMapDirectories: options.moduleMapDirectories)
    let fileName = (path as NSString).lastPathComponent
    let program = ProgramAssembly(notebook: notebook, fileName: fileName, parameters: parameters)
    var report = Report(status: 0, messages: [], notebook: nil)
    for repair in repairs {
      let was = repair.was.map { JSONText.writeCompact($0) } ?? "no id"
      report.messages.append(
        "note: \(path): cell \(repair.index + 1) had \(repair.reason) id \(was); repaired to \"\(repair.id)\"")
    }
    // The values recorded in metadata.tessera.parameters are the only ones the program sees: none
    // is inherited from the environment tessera runs in.
    var environment = options.environment.filter { !$0.key.hasPrefix("TESSERA_PARAMETER_") }
    environment["TESSERA_CHANNEL_FD"] = "3"
    environment["TESSERA_SEED"] = String(options.seed)
    environment["SWIFT_BACKTRACE"] =
      "enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none,sanitize=yes,format=text"
    for (name, value) in overrides {
      environment["TESSERA_PARAMETER_\(name)"] = JSONText.writeCompact(value)
    }

    var outcome = CellOutcome()
    var compileInfo: JSONValue = .null
    let compiled = try compiler.compile(program)
    if options.compileOnly {
      switch compiled {
      case .success(_, let hit, let seconds):
        return Report(
          status: 0, messages: ["compiled \(path) (\(hit ? "cached" : String(format: "%.1f s", seconds)))"],
          cacheHit: hit)
      case .failure(let diagnostics, _):
        let first = diagnostics.first { $0.cellID != nil }
        let place = first.flatMap { d in d.cellID.map { "cell \(program.id(of: $0)), line \(d.line): " } } ?? ""
        return Report(
          status: 1, messages: ["error: \(path) does not compile: \(place)\(first?.message ?? "see tessera run")"])
      }
    }
    switch compiled {
    case .success(let executable, let hit, let seconds):
      report.cacheHit = hit
      compileInfo = .object([("cache", .string(hit ? "hit" : "miss")), ("seconds", .real(rounded(seconds)))])
      outcome = try execute(executable, program: program, environment: environment)
    case .failure(let diagnostics, let output):
      // Report on the first cell with an error; run the cells before it so their outputs stay. A
      // cell that leaves a `{`, `/*` or string open swallows the cells after it, and the compiler
      // then blames the end of the program: such a cell is the failing one, unless an earlier cell
      // has an error of its own.
      let unclosed = program.cells.lazy.compactMap { cell in
        program.sources[cell.id].flatMap(CellSyntax.problem).map { (cell: cell, problem: $0) }
      }.first
      var failing = diagnostics.first { $0.cellID != nil }
      var failingIndex = failing.flatMap { d in program.cells.first { $0.id == d.cellID }?.index }
      var traceback = diagnostics.filter { $0.cellID == failing?.cellID }.flatMap(\.text)
      if let unclosed, failingIndex.map({ $0 >= unclosed.cell.index }) ?? true {
        let source = program.sources[unclosed.cell.id] ?? ""
        let text = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let lineText = unclosed.problem.line <= text.count ? text[unclosed.problem.line - 1] : ""
        let caret = String(repeating: " ", count: max(0, unclosed.problem.column - 1)) + "^"
        failing = NotebookCompiler.Diagnostic(
          cellID: unclosed.cell.id, line: unclosed.problem.line, column: unclosed.problem.column,
          message: unclosed.problem.message,
          text: [
            "\(program.locationNames[unclosed.cell.id] ?? ""):\(unclosed.problem.line):\(unclosed.problem.column): "
              + "error: \(unclosed.problem.message)",
            lineText, caret,
          ])
        failingIndex = unclosed.cell.index
        traceback = failing?.text ?? []
      }
      if let failingIndex, let failing, let id = failing.cellID {
        let earlier = ProgramAssembly(
          notebook: notebook, fileName: fileName, parameters: parameters, limit: failingIndex)
        if !earlier.cells.isEmpty, case .success(let executable, _, _) = try compiler.compile(earlier) {
          outcome = try execute(executable, program: earlier, environment: environment)
        }
        let compileError = CellFailure(
          cellID: id, name: "CompileError", value: "line \(failing.line): \(failing.message)",
          traceback: traceback.map(program.readable))
        if outcome.failure != nil {
          // An earlier cell failed when it ran (a trap, a timeout, a signal): the run stopped there.
          let number = program.cells.firstIndex { $0.id == id }.map { $0 + 1 } ?? 0
          report.messages.append(
            "note: \(path): cell \(number) (id \(program.id(of: id))) does not compile either: \(compileError.value)")
        } else {
          outcome.failure = compileError
        }
      } else {
        outcome.failure = CellFailure(
          cellID: program.cells.first?.id ?? "", name: "CompileError", value: "the notebook program did not compile",
          traceback: output.components(separatedBy: "\n").map(program.readable))
      }
      compileInfo = .object([("cache", .string("miss")), ("status", .string("error"))])
    }
    apply(outcome, to: &notebook, program: program)
    notebook.metadata["tessera"] = runMetadata(
      overrides: overrides, compile: compileInfo, outcome: outcome, compiler: compiler, started: started,
      repairs: repairs)
    if let failure = outcome.failure {
      var cells = notebook.cells
      let number = program.cells.firstIndex { $0.id == failure.cellID }.map { $0 + 1 } ?? 0
      let id = program.id(of: failure.cellID)
      cells.insert(Self.withUniqueID(bannerCell(failure, number: number, id: id), among: cells), at: 0)
      notebook.cells = cells
      report.status = 1
      report.messages.append("error: \(path): cell \(number) (id \(id)): \(failure.name): \(failure.value)")
    }
    // The executed notebook goes beside the output when the output cannot take it: changed by
    // someone else during the run (left as it is), or the write failed.
    var problem: String?
    if FileManager.default.contents(atPath: Notebook.resolvingLinks(outputPath)) != outputAtStart {
      problem = "\(outputPath) was changed by someone else during the run and is left as it is"
    } else {
      do { try notebook.write(to: outputPath) } catch { problem = "\(error)" }
    }
    if let problem {
      report.status = max(report.status, 1)
      let saved = saveAside(notebook, near: outputPath)
      report.messages.append(
        "error: \(problem); "
          + (saved.map { "the executed notebook is saved as \($0)" } ?? "the executed notebook could not be saved"))
      report.notebook = notebook
      return Self.noteStopSignal(report)
    }
    if outcome.interrupted == nil, let folder = options.exportFigures {
      try exportFigures(notebook, to: folder, stem: (fileName as NSString).deletingPathExtension)
    }
    report.notebook = notebook
    report.messages.append("wrote \(outputPath)")
    return Self.noteStopSignal(report)
  }

  /// `report` with exit status 128 + signal when tessera run received a stop signal (the
  /// notebook is written all the same, with whatever ran).
  static func noteStopSignal(_ report: Report) -> Report {
    guard let signal = ChildProcess.stopSignal else { return report }
    var report = report
    if report.status < 128 {
      report.status = 128 + signal
      report.messages.append(
        "error: tessera run received \(ChildProcess.signalName(signal)); exit status \(report.status)")
    }
    return report
  }

  // MARK: - Execution

  struct CellFailure {
    var cellID: String
    var name: String
    var value: String
    var traceback: [String]
  }

  struct CellOutcome {
    var collector: OutputCollector?
    var failure: CellFailure?
    /// The stop signal tessera run received while the program ran.
    var interrupted: Int32?
  }

  func execute(_ executable: String, program: ProgramAssembly, environment: [String: String]) throws -> CellOutcome {
    let token = OutputCollector.makeToken()
    let collector = OutputCollector(cap: options.outputCap, token: token)
    var environment = environment
    environment["TESSERA_CHANNEL_TOKEN_FD"] = "4"
    if options.logOutput {
      collector.echo = { cell, text in
        if let cell {
          FileHandle.standardError.write(Data("── cell \(program.id(of: cell)) ──\n".utf8))
        } else {
          FileHandle.standardError.write(Data(text.utf8))
        }
      }
    }
    var timedOut: String?
    var exitTimedOut = false
    let lastCell = program.cells.last?.id
    let status = try ChildProcess.spawn(
      [executable], environment: environment, channel: true, secret: Data(token.utf8)
    ) { fd, bytes in
      collector.feed(fd, bytes)
      return .continue
    } onTick: {
      guard let limit = options.timeout, timedOut == nil, !exitTimedOut else { return .continue }
      if let cell = collector.runningCell {
        if Date().timeIntervalSince(collector.runningSince) > limit {
          timedOut = cell
          return .kill
        }
      } else if let lastCell, let ended = collector.cells[lastCell]?.ended,
        Date().timeIntervalSince1970 - ended > limit
      {
        // Every cell finished but the program does not end (an atexit handler, a thread that
        // blocks exit): --timeout bounds that too.
        exitTimedOut = true
        return .kill
      }
      return .continue
    }
    collector.finish()
    var outcome = CellOutcome(collector: collector)
    if case .interrupted(let signal) = status {
      // The cell that was running, or the first that had not started when the program was stopped.
      let cell =
        collector.runningCell ?? program.cells.first { collector.cells[$0.id]?.started == nil }?.id
        ?? program.cells.last?.id ?? ""
      let name = signalName(signal)
      outcome.interrupted = signal
      outcome.failure = CellFailure(
        cellID: cell, name: "Interrupted",
        value: "tessera run received \(name) (a kill, Ctrl-C, a closed terminal, scancel or a time limit) "
          + "and stopped the notebook program while this cell was running",
        traceback: ["Interrupted: tessera run received \(name) while cell \(program.id(of: cell)) was running"])
      return outcome
    }
    if exitTimedOut, let cell = lastCell {
      let limit = formatSeconds(options.timeout ?? 0)
      outcome.failure = CellFailure(
        cellID: cell, name: "Timeout",
        value: "every cell finished, but the notebook program did not exit within \(limit) after the last one "
          + "(an atexit handler or a running thread kept it alive) and was stopped",
        traceback: ["Timeout: the notebook program did not exit within --timeout \(limit) after its last cell"])
      return outcome
    }
    if let cell = timedOut {
      outcome.failure = CellFailure(
        cellID: cell, name: "Timeout",
        value: "the cell ran longer than \(formatSeconds(options.timeout ?? 0)) and was stopped",
        traceback: ["Timeout: cell \(program.id(of: cell)) exceeded --timeout \(formatSeconds(options.timeout ?? 0))"])
      return outcome
    }
    let unfinished = collector.runningCell
    if status != .exited(0) || unfinished != nil {
      let cell = unfinished ?? program.cells.last?.id ?? ""
      let report = CrashReport(stderr: collector.stderr(of: cell))
      let value: String
      switch status {
      case .signaled(let signal):
        value = report.message(cause: signal == SIGKILL ? describe(status) : signalName(signal), ids: program.ids)
      case .exited(let code):
        value = report.message(cause: "the program exited with status \(code)", ids: program.ids)
      case .interrupted(let signal):
        value = "tessera run received \(signalName(signal))"
      }
      var traceback = report.traceback(sources: program.sources, ids: program.ids).map(program.readable)
      traceback.append("The notebook program \(describe(status)) while cell \(program.id(of: cell)) was running.")
      outcome.failure = CellFailure(
        cellID: cell, name: report.errorName ?? name(of: status), value: value,
        traceback: traceback)
    }
    return outcome
  }

  func describe(_ status: ChildProcess.Status) -> String {
    switch status {
    case .exited(let code): return "exited with status \(code)"
    case .signaled(let signal):
      let hint = signal == SIGKILL ? " (out of memory, or killed from outside)" : ""
      return "was stopped by signal \(signalName(signal))\(hint)"
    case .interrupted(let signal): return "was stopped because tessera run received \(signalName(signal))"
    }
  }

  func name(of status: ChildProcess.Status) -> String {
    switch status {
    case .exited: return "RuntimeError"
    case .signaled(let s): return s == SIGKILL ? "Killed" : "Trap (\(signalName(s)))"
    case .interrupted: return "Interrupted"
    }
  }

  func signalName(_ signal: Int32) -> String { ChildProcess.signalName(signal) }

  // MARK: - Writing results

  func apply(_ outcome: CellOutcome, to notebook: inout Notebook, program: ProgramAssembly) {
    var cells = notebook.cells
    var count: Int64 = 0
    var stopped = false
    let byIndex = Dictionary(uniqueKeysWithValues: program.cells.map { ($0.index, $0.id) })
    for i in cells.indices where cells[i].type == "code" {
      let key = byIndex[i]
      let record = key.flatMap { outcome.collector?.cells[$0] }
      let failed = key != nil && outcome.failure?.cellID == key
      let ran = !stopped && key != nil && (record?.started != nil || failed)
      var meta = cells[i].metadata
      if ran {
        count += 1
        var outputs = key.flatMap { outcome.collector?.outputs(for: $0, includeStderr: !failed) } ?? []
        if failed, let f = outcome.failure {
          outputs.append(Output.error(name: f.name, value: f.value, traceback: f.traceback))
        }
        cells[i].outputs = outputs
        cells[i].json["execution_count"] = .integer(count)
        let start = record?.started, end = record?.ended
        meta["tessera"] = .object([
          ("start", start.map { .string(iso($0)) } ?? .null), ("end", end.map { .string(iso($0)) } ?? .null),
          ("duration", start.flatMap { s in end.map { .real(rounded($0 - s)) } } ?? .null),
          ("status", .string(failed ? Self.status(of: outcome.failure!) : "ok")),
        ])
      } else {
        cells[i].outputs = []
        cells[i].json["execution_count"] = .null
        meta["tessera"] = .object([
          ("start", .null), ("end", .null), ("duration", .null), ("status", .string("not run")),
        ])
      }
      cells[i].metadata = meta
      if failed { stopped = true }
    }
    notebook.cells = cells
  }

  /// A failed cell's `metadata.tessera.status`.
  static func status(of failure: CellFailure) -> String {
    switch failure.name {
    case "Timeout": return "timeout"
    case "Interrupted": return "interrupted"
    default: return "error"
    }
  }

  func runMetadata(
    overrides: [(String, JSONValue)], compile: JSONValue, outcome: CellOutcome, compiler: NotebookCompiler,
    started: Date, repairs: [IDRepair]
  ) -> JSONValue {
    let env = outcome.collector?.environment
    let end = Date()
    var members: [(String, JSONValue)] = [
      ("seed", .integer(Int64(bitPattern: options.seed))),
      ("parameters", .object(overrides)),
      ("library", .object([("version", .string(options.libraryVersion)), ("commit", .string(options.libraryCommit))])),
      ("compiler", .string(compiler.compilerVersion)),
      ("compile", compile),
      ("cpu", env?["cpu"] ?? .null),
      ("blas_core", env?["blas_core"] ?? .null),
      ("gemm", env?["gemm"] ?? .null),
      ("isa", env?["isa"] ?? .null),
      ("threads", env?["threads"] ?? .null),
      ("start", .string(iso(started.timeIntervalSince1970))),
      ("end", .string(iso(end.timeIntervalSince1970))),
      ("duration", .real(rounded(end.timeIntervalSince(started)))),
      ("metrics", .object(outcome.collector?.metrics ?? [])),
      (
        "status",
        .string(outcome.failure.map { Self.status(of: $0) == "interrupted" ? "interrupted" : "error" } ?? "ok")
      ),
    ]
    if !repairs.isEmpty {
      members.append(
        (
          "repaired_ids",
          .array(
            repairs.map { r in
              .object([
                ("cell", .integer(Int64(r.index))), ("was", r.was ?? .null), ("reason", .string(r.reason)),
                ("id", .string(r.id)),
              ])
            })
        ))
    }
    return .object(members)
  }

  /// Writes `notebook` beside `path` as `NAME.tessera-<time>.ipynb`, or into the temporary
  /// folder when that fails; returns where, or nil when it could be written nowhere.
  func saveAside(_ notebook: Notebook, near path: String) -> String? {
    let url = URL(fileURLWithPath: Notebook.resolvingLinks(path))
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
    let name = "\(url.deletingPathExtension().lastPathComponent).tessera-\(formatter.string(from: Date())).ipynb"
    for folder in [url.deletingLastPathComponent().path, NSTemporaryDirectory()] {
      let candidate = (folder as NSString).appendingPathComponent(name)
      if FileManager.default.fileExists(atPath: candidate) { continue }
      if (try? notebook.write(to: candidate)) != nil { return candidate }
    }
    return nil
  }

  func injectedCell(_ overrides: [(String, JSONValue)]) -> Cell {
    var text = "**Parameters of this run** (injected by `tessera run`):\n\n| parameter | value |\n|---|---|\n"
    for (name, value) in overrides {
      text += "| `\(name)` | `\(JSONText.writeCompact(value).replacingOccurrences(of: "|", with: "\\|"))` |\n"
    }
    return Self.generated(
      Cell.make(type: "markdown", id: "injected-parameters", source: text, tags: [Self.injectedTag]))
  }

  func bannerCell(_ failure: CellFailure, number: Int, id: String) -> Cell {
    let text = """
      <span style="color:red; font-weight:bold">This run stopped with an error in code cell \(number) \
      (id `\(id)`): \(failure.name).</span> The cells after it did not run; see the error output on that cell.
      """
    return Self.generated(Cell.make(type: "markdown", id: "tessera-error", source: text, tags: [Self.errorTag]))
  }

  /// `cell` marked as made by the runner: `metadata.tessera.generated` is true.
  static func generated(_ cell: Cell) -> Cell {
    var cell = cell
    var metadata = cell.metadata
    metadata["tessera"] = .object([("generated", .bool(true))])
    cell.metadata = metadata
    return cell
  }

  static let bannerStart = "<span style=\"color:red; font-weight:bold\">This run stopped with an error in code cell "
  static let injectedStart = "**Parameters of this run** (injected by `tessera run`):"

  /// Whether `cell` is a banner or injected-parameter cell the runner made: tagged and flagged
  /// `metadata.tessera.generated`, or exactly as earlier versions wrote them (a markdown cell with
  /// the runner's id, its tag as the only metadata, and its text). A user's cell that merely
  /// carries one of these tags is not.
  static func isGenerated(_ cell: Cell) -> Bool {
    let tags = cell.tags
    guard tags.contains(errorTag) || tags.contains(injectedTag) else { return false }
    if cell.metadata["tessera"]?["generated"] == .bool(true) { return true }
    guard cell.type == "markdown", cell.metadata.objectValue?.count == 1, tags.count == 1 else { return false }
    switch (cell.id, tags[0]) {
    case ("tessera-error", errorTag): return cell.source.hasPrefix(bannerStart)
    case ("injected-parameters", injectedTag): return cell.source.hasPrefix(injectedStart)
    default: return false
    }
  }

  /// Drops the banner and injected-parameter cells a previous run added; a user's own cells stay.
  func removeGeneratedCells(_ notebook: inout Notebook) {
    notebook.cells = notebook.cells.filter { !Self.isGenerated($0) }
  }

  /// `cell` with an id no cell of `cells` has (`<id>-2`, `-3`, … when its own is taken).
  static func withUniqueID(_ cell: Cell, among cells: [Cell]) -> Cell {
    let used = Set(cells.compactMap(\.id))
    guard let base = cell.id, used.contains(base) else { return cell }
    var cell = cell
    var n = 2
    while used.contains("\(base)-\(n)") { n += 1 }
    cell.id = "\(base)-\(n)"
    return cell
  }

  /// A cell id that was missing, not of nbformat's form, or a repeat, and what replaced it.
  struct IDRepair {
    /// The cell's position in the notebook.
    var index: Int
    /// The id as found (nil when there was none).
    var was: JSONValue?
    /// "an invalid" or "a duplicate".
    var reason: String
    var id: String
  }

  /// Whether `id` has nbformat's form: 1 to 64 of `a-z A-Z 0-9 - _`.
  static func isValidID(_ id: String) -> Bool {
    (1...64).contains(id.utf8.count)
      && id.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
      }
  }

  /// `base`, or `base-2`, `base-3`, … : the first not in `used`.
  static func fresh(_ base: String, used: Set<String>) -> String {
    guard used.contains(base) else { return base }
    var n = 2
    while used.contains("\(base)-\(n)") { n += 1 }
    return "\(base)-\(n)"
  }

  /// Gives every cell a valid, unique id, as nbformat's validator does when it repairs a
  /// notebook, but deterministically: a missing, invalid or repeated id (the first of a repeated
  /// id keeps it) becomes `cell-<index>` (made unique if taken). Missing ids are the norm before
  /// nbformat 4.5 and are not reported; the other repairs are returned.
  func repairIDs(_ notebook: inout Notebook) -> [IDRepair] {
    var cells = notebook.cells
    var repairs: [IDRepair] = []
    var used = Set(cells.compactMap(\.id).filter(Self.isValidID))
    var seen = Set<String>()
    var changed = false
    for i in cells.indices {
      let raw = cells[i].json["id"]
      var reason: String?
      if let id = raw?.stringValue, Self.isValidID(id) {
        if !seen.contains(id) {
          seen.insert(id)
          continue
        }
        reason = "a duplicate"
      } else if raw != nil {
        reason = "an invalid"
      }
      let id = Self.fresh("cell-\(i)", used: used)
      used.insert(id)
      seen.insert(id)
      cells[i].id = id
      changed = true
      if let reason { repairs.append(IDRepair(index: i, was: raw, reason: reason, id: id)) }
    }
    guard changed else { return [] }
    notebook.cells = cells
    if (notebook.document["nbformat_minor"]?.integerValue ?? 0) < 5 {
      notebook.document["nbformat_minor"] = .integer(5)
    }
    return repairs
  }

  /// Writes every displayed PNG and SVG to `folder` as `<notebook>-<cell>-<n>` or its given name.
  func exportFigures(_ notebook: Notebook, to folder: String, stem: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for cell in notebook.cells where cell.type == "code" {
      var n = 0
      for output in cell.outputs where output["output_type"]?.stringValue == "display_data" {
        guard let data = output["data"] else { continue }
        let png = data["image/png"]?.joinedText, svg = data["image/svg+xml"]?.joinedText
        if png == nil && svg == nil { continue }
        n += 1
        let base =
          folder + "/" + (output["metadata"]?["tessera_name"]?.stringValue ?? "\(stem)-\(cell.id ?? "cell")-\(n)")
        if let svg { try svg.write(toFile: base + ".svg", atomically: true, encoding: .utf8) }
        if let png, let bytes = Data(base64Encoded: png, options: .ignoreUnknownCharacters) {
          try bytes.write(to: URL(fileURLWithPath: base + ".png"), options: .atomic)
        }
      }
    }
  }

  func iso(_ seconds: Double) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: seconds))
  }

  func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

  func formatSeconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }
}
