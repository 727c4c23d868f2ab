import Foundation

/// One point × seed of a sweep: its folder `runs/<sweep>/<point>_seed=<s>/` holds
/// `parameters.json` (the point's values, passed to `tessera run -f`), `notebook.ipynb` (the
/// executed notebook), `log.txt` (what `tessera run` printed) and `status.json` (how it ended).
public struct SweepTask: Sendable {
  public var folder: String
  public var point: [(String, JSONValue)]
  public var seed: UInt64

  public init(folder: String, point: [(String, JSONValue)], seed: UInt64) {
    self.folder = folder
    self.point = point
    self.seed = seed
  }

  public var name: String { (folder as NSString).lastPathComponent }
  public var parametersPath: String { folder + "/parameters.json" }
  public var notebookPath: String { folder + "/notebook.ipynb" }
  public var statusPath: String { folder + "/status.json" }
  public var logPath: String { folder + "/log.txt" }
  public var taskPath: String { folder + "/task.json" }

  /// How a task ended.
  public struct Status: Sendable {
    /// `ok`, `error` (a cell failed), `interrupted` (a signal stopped it), `refused` (bad input).
    public var state: String
    public var exitStatus: Int32
    /// The failing cell's id and its error, when a cell failed.
    public var cell: String?
    public var error: String?
    public var seconds: Double

    public init(state: String, exitStatus: Int32, cell: String? = nil, error: String? = nil, seconds: Double) {
      self.state = state
      self.exitStatus = exitStatus
      self.cell = cell
      self.error = error
      self.seconds = seconds
    }

    /// Finished: ran to the end, or stopped on a cell error (re-run with `--only-failed`).
    public var isFinished: Bool { state == "ok" || state == "error" }

    var json: JSONValue {
      .object([
        ("state", .string(state)), ("exit", .integer(Int64(exitStatus))), ("cell", cell.map { .string($0) } ?? .null),
        ("error", error.map { .string($0) } ?? .null), ("seconds", .real((seconds * 1000).rounded() / 1000)),
      ])
    }
  }

  /// Makes the folder and writes `parameters.json` and `task.json` (the point, the seed and the
  /// notebook, which is all a Slurm task needs to run this one).
  public func prepare(notebook: String, runArguments: [String]) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try Self.write(.object(point), to: parametersPath)
    try Self.write(
      .object([
        ("notebook", .string(notebook)), ("seed", .integer(Int64(bitPattern: seed))), ("point", .object(point)),
        ("order", .array(point.map { .string($0.0) })),
        ("run_arguments", .array(runArguments.map { .string($0) })),
      ]), to: taskPath)
  }

  /// The task described by `<folder>/task.json`, with its notebook and extra `tessera run` arguments.
  public static func load(_ folder: String) throws -> (task: SweepTask, notebook: String, runArguments: [String]) {
    let path = folder + "/task.json"
    guard let text = try? String(contentsOfFile: path, encoding: .utf8), let value = try? JSONText.parse(text),
      let notebook = value["notebook"]?.stringValue, let seed = value["seed"]?.integerValue,
      let point = value["point"]?.objectValue
    else {
      throw SweepGrid.GridError(description: "\(path): not a sweep task (notebook, seed, point)")
    }
    let arguments = value["run_arguments"]?.arrayValue?.compactMap(\.stringValue) ?? []
    // The file's object has its keys sorted; `order` keeps the grid's order of parameters.
    let order = value["order"]?.arrayValue?.compactMap(\.stringValue) ?? point.map(\.0)
    let ordered = order.compactMap { name in point.first { $0.0 == name } }
    return (SweepTask(folder: folder, point: ordered, seed: UInt64(bitPattern: seed)), notebook, arguments)
  }

  public func readStatus() -> Status? {
    guard let text = try? String(contentsOfFile: statusPath, encoding: .utf8), let value = try? JSONText.parse(text),
      let state = value["state"]?.stringValue
    else { return nil }
    return Status(
      state: state, exitStatus: Int32(value["exit"]?.integerValue ?? -1), cell: value["cell"]?.stringValue,
      error: value["error"]?.stringValue, seconds: value["seconds"]?.doubleValue ?? 0)
  }

  public func writeStatus(_ status: Status) throws { try Self.write(status.json, to: statusPath) }

  /// The status of a finished `tessera run` of this task from its exit status, the notebook it
  /// wrote and its log.
  public func status(exitStatus: Int32, seconds: Double) -> Status {
    switch exitStatus {
    case 0: return Status(state: "ok", exitStatus: 0, seconds: seconds)
    case 1:
      let notebook = try? Notebook.read(notebookPath)
      for cell in notebook?.cells ?? [] {
        if let error = cell.outputs.first(where: { $0["output_type"]?.stringValue == "error" }) {
          let text = "\(error["ename"]?.stringValue ?? "Error"): \(error["evalue"]?.stringValue ?? "")"
          return Status(state: "error", exitStatus: 1, cell: cell.id, error: text, seconds: seconds)
        }
      }
      return Status(state: "error", exitStatus: 1, error: lastError(), seconds: seconds)
    case 2: return Status(state: "refused", exitStatus: 2, error: lastError(), seconds: seconds)
    case 129...: return Status(state: "interrupted", exitStatus: exitStatus, error: lastError(), seconds: seconds)
    default: return Status(state: "error", exitStatus: exitStatus, error: lastError(), seconds: seconds)
    }
  }

  /// The last `error:` line of the log.
  func lastError() -> String? {
    let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    return log.split(separator: "\n").last { $0.hasPrefix("error: ") }.map { String($0.dropFirst(7)) }
  }

  static func write(_ value: JSONValue, to path: String) throws {
    try Data(JSONText.writeBytes(value)).write(to: URL(fileURLWithPath: path), options: .atomic)
  }
}
