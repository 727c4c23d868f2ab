import Foundation

/// A Jupyter notebook (nbformat 4) whose code cells are Swift.
///
/// The notebook is kept as its JSON document, so metadata, output types and fields that Tessera
/// does not know survive a read and write untouched; ``cells`` gives typed access on top of it.
public struct Notebook: Sendable {
  /// The whole document.
  public var document: JSONValue
  /// Where it was read from (for messages).
  public var path: String

  /// The cells in order.
  public var cells: [Cell] {
    get { (document["cells"]?.arrayValue ?? []).map(Cell.init) }
    set { document["cells"] = .array(newValue.map(\.json)) }
  }

  /// The notebook-level metadata object.
  public var metadata: JSONValue {
    get { document["metadata"] ?? .object([]) }
    set { document["metadata"] = newValue }
  }

  /// Reads and checks a notebook: JSON, nbformat 4, every cell with a `source`, a Swift kernel.
  public static func read(_ path: String) throws -> Notebook {
    guard let data = FileManager.default.contents(atPath: path) else {
      let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
      throw NotebookError(path: path, problem: reason)
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw NotebookError(path: path, problem: "is not UTF-8 text")
    }
    return try parse(text, path: path)
  }

  /// Parses and checks notebook text; `path` labels errors.
  public static func parse(_ text: String, path: String) throws -> Notebook {
    let document: JSONValue
    do {
      document = try JSONText.parse(text)
    } catch let error as JSONText.ParseError {
      throw NotebookError(path: path, problem: "is not JSON (\(error))")
    }
    guard case .object = document, let cells = document["cells"]?.arrayValue, document["nbformat"] != nil else {
      throw NotebookError(
        path: path, problem: "is JSON but not a Jupyter notebook (no \"cells\" list and \"nbformat\")")
    }
    guard let major = document["nbformat"]?.integerValue, major == 4 else {
      let found = document["nbformat"]?.integerValue.map(String.init) ?? "?"
      throw NotebookError(
        path: path,
        problem:
          "is nbformat \(found); Tessera reads nbformat 4 (convert with `jupyter nbconvert --to notebook --nbformat 4`)"
      )
    }
    for (i, cell) in cells.enumerated() {
      guard case .object = cell, cell["cell_type"]?.stringValue != nil else {
        throw NotebookError(path: path, problem: "cell \(i + 1) has no \"cell_type\"")
      }
      guard let source = cell["source"], source.joinedText != nil else {
        let id = cell["id"]?.stringValue.map { " (id \($0))" } ?? ""
        throw NotebookError(path: path, problem: "cell \(i + 1)\(id) has no \"source\" (a string or a list of strings)")
      }
    }
    let notebook = Notebook(document: document, path: path)
    if let language = notebook.kernelLanguage, language.lowercased() != "swift" {
      throw NotebookError(path: path, problem: "its kernel is \(language), not Swift: Tessera runs Swift code cells")
    }
    return notebook
  }

  /// The language the notebook's kernelspec or language_info names, if any.
  public var kernelLanguage: String? {
    metadata["kernelspec"]?["language"]?.stringValue ?? metadata["language_info"]?["name"]?.stringValue
  }

  /// The document as Jupyter lays it out.
  public func serialized() -> String { JSONText.write(document) }

  /// Writes the notebook to `path` atomically: a temporary file in the same folder, renamed into
  /// place, so a crash never leaves a half-written notebook. A symbolic link is written through
  /// (the file it points to is replaced, the link stays), and an existing file keeps its mode.
  public func write(to path: String) throws {
    let target = Notebook.resolvingLinks(path)
    let url = URL(fileURLWithPath: target)
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
    var existing = stat()
    let exists = stat(target, &existing) == 0
    do {
      try Data(JSONText.writeBytes(document)).write(to: temporary)
      if exists, chmod(temporary.path, existing.st_mode & 0o7777) != 0 {
        throw NotebookError(path: path, problem: "cannot keep its mode: \(String(cString: strerror(errno)))")
      }
      if rename(temporary.path, url.path) != 0 {
        throw NotebookError(path: path, problem: "cannot be replaced: \(String(cString: strerror(errno)))")
      }
    } catch let error as NotebookError {
      try? FileManager.default.removeItem(at: temporary)
      throw error
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw NotebookError(path: path, problem: "cannot be written: \(error.localizedDescription)")
    }
  }

  /// `path` with its symbolic links resolved; `path` itself when it does not exist yet.
  public static func resolvingLinks(_ path: String) -> String {
    guard let real = realpath(path, nil) else { return path }
    defer { free(real) }
    return String(cString: real)
  }

  /// Throws, naming `path` and the problem, unless a notebook can be written there: an existing
  /// regular file the user may write (or none), in a folder the user may write. Running as root,
  /// a file or folder without any write permission bit counts as read-only too.
  public static func checkWritable(_ path: String) throws {
    let target = resolvingLinks(path)
    var info = stat()
    if stat(target, &info) == 0 {
      if info.st_mode & S_IFMT == S_IFDIR {
        throw NotebookError(path: path, problem: "is a folder, not a notebook file (nothing was run)")
      }
      if info.st_mode & S_IFMT != S_IFREG {
        throw NotebookError(path: path, problem: "is not a regular file (nothing was run)")
      }
      if !writable(target, mode: info.st_mode, access: W_OK) {
        throw NotebookError(path: path, problem: "is read-only, so it cannot be written (nothing was run)")
      }
    }
    var folder = (target as NSString).deletingLastPathComponent
    if folder.isEmpty { folder = "." }
    var folderInfo = stat()
    guard stat(folder, &folderInfo) == 0, folderInfo.st_mode & S_IFMT == S_IFDIR else {
      throw NotebookError(path: path, problem: "cannot be written: there is no folder \(folder) (nothing was run)")
    }
    if !writable(folder, mode: folderInfo.st_mode, access: W_OK | X_OK) {
      throw NotebookError(
        path: path, problem: "cannot be written: the folder \(folder) is read-only (nothing was run)")
    }
  }

  static func writable(_ path: String, mode: mode_t, access how: Int32) -> Bool {
    access(path, how) == 0 && (geteuid() != 0 || mode & 0o222 != 0)
  }
}

/// A notebook that cannot be used, with the file and the problem in one line.
public struct NotebookError: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let problem: String
  public init(path: String, problem: String) {
    self.path = path
    self.problem = problem
  }
  public var description: String { "\(path): \(problem)" }
}
