import Foundation
import TesseraCore

/// Reference vectors from the authors' implementations (`../shared/golden/`, or the folder in
/// `TESSERA_GOLDEN_DIR`). Files are found by listing the folder; each names its op in
/// `__metadata__.op`, so a file added later is picked up with no code change.
public enum GoldenVectors {
  /// One reference computation: inputs, output `o`, cotangent `d_o`, and `grad_<input>`.
  public struct File: Sendable, CustomStringConvertible {
    public let path: String
    public let op: String
    public var description: String { "\(op) (\((path as NSString).lastPathComponent))" }

    public func load() throws -> SafeTensors.Contents { try SafeTensors.read(path) }
  }

  /// The golden folder: `TESSERA_GOLDEN_DIR`, else the nearest `shared/golden` beside the package
  /// or beside one of its parent folders.
  public static var directory: String {
    if let dir = ProcessInfo.processInfo.environment["TESSERA_GOLDEN_DIR"] { return dir }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    var folder = packageRoot.deletingLastPathComponent()
    let first = folder.appendingPathComponent("shared/golden").path
    while folder.path != "/" {
      let candidate = folder.appendingPathComponent("shared/golden").path
      if FileManager.default.fileExists(atPath: candidate) { return candidate }
      folder = folder.deletingLastPathComponent()
    }
    return first
  }

  /// Whether the golden folder exists on this machine. Where it does not, golden tests record a
  /// known issue ("skipped") naming the folder instead of passing silently or failing the run.
  public static var isAvailable: Bool { FileManager.default.fileExists(atPath: directory) }

  /// Every `.safetensors` file in ``directory``, sorted by name, with its op.
  public static func files() -> [File] {
    let dir = directory
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
    return names.filter { $0.hasSuffix(".safetensors") }.sorted().compactMap { name in
      let path = dir + "/" + name
      guard let contents = try? SafeTensors.read(path), let op = contents.metadata["op"] else { return nil }
      return File(path: path, op: op)
    }
  }
}
