import Foundation
import TesseraCore

/// Reference vectors from the authors' implementations, kept in the repository under
/// `Tests/Golden/` (or the folder in `TESSERA_GOLDEN_DIR`). Files are found by listing the folder;
/// each names its op in `__metadata__.op`, so a file added later is picked up with no code change.
///
/// Nothing here skips: a missing or empty folder is reported by ``folderProblem``, and a file that
/// cannot be read is still listed by ``files()``, with its ``File/problem``, so that a test can
/// fail on it by name.
public enum GoldenVectors {
  /// One reference computation: inputs, output `o`, cotangent `d_o`, and `grad_<input>`.
  public struct File: Sendable, CustomStringConvertible {
    /// The full path of the file.
    public let path: String
    /// The op named by `__metadata__.op`; nil when the file cannot be read or names no op.
    public let op: String?
    /// Why the file cannot serve as a reference (unreadable, bad header, no op); nil when it can.
    public let problem: String?

    /// The file name, e.g. `attention_causal-b2t37h2d16.safetensors`.
    public var name: String { (path as NSString).lastPathComponent }
    public var description: String { name }

    public func load() throws -> SafeTensors.Contents { try SafeTensors.read(path) }
  }

  /// The package's root folder, three levels above this source file.
  static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The golden folder: `TESSERA_GOLDEN_DIR` when set, else `Tests/Golden` of this package.
  public static var directory: String {
    if let dir = ProcessInfo.processInfo.environment["TESSERA_GOLDEN_DIR"], !dir.isEmpty { return dir }
    return packageRoot.appendingPathComponent("Tests/Golden").path
  }

  /// Why the golden folder cannot be used — it does not exist, is not a folder, or holds no
  /// `.safetensors` file — naming the folder; nil when it holds at least one file.
  public static var folderProblem: String? {
    let dir = directory
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isFolder) else {
      return "golden folder \(dir) does not exist"
    }
    guard isFolder.boolValue else { return "golden folder \(dir) is not a folder" }
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
      return "golden folder \(dir) cannot be listed"
    }
    if !names.contains(where: { $0.hasSuffix(".safetensors") }) {
      return "golden folder \(dir) holds no .safetensors file"
    }
    return nil
  }

  /// Every `.safetensors` file in ``directory``, sorted by name, with its op — or, for a file that
  /// cannot be read or names no op, with the problem instead. Empty when the folder cannot be
  /// listed (see ``folderProblem``).
  public static func files() -> [File] {
    let dir = directory
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
    return names.filter { $0.hasSuffix(".safetensors") }.sorted().map { name in
      let path = (dir as NSString).appendingPathComponent(name)
      let contents: SafeTensors.Contents
      do {
        contents = try SafeTensors.read(path)
      } catch {
        return File(path: path, op: nil, problem: "\(error)")
      }
      guard let op = contents.metadata["op"], !op.isEmpty else {
        return File(path: path, op: nil, problem: "\(path): the header has no __metadata__.op")
      }
      return File(path: path, op: op, problem: nil)
    }
  }
}
