import Foundation
import TesseraCore

/// Model checkpoints as `.safetensors` files: one tensor per parameter under its dotted name
/// (what `model.state_dict()` would hold), plus string metadata (e.g. the model's config as JSON).
public enum Checkpoint {
  /// Writes `model`'s parameters (atomically) to `path`.
  public static func save<M: Module>(_ model: M, to path: String, metadata: [String: String] = [:]) throws {
    try SafeTensors.write(model.parameters(), metadata: metadata, to: path)
  }

  /// Loads every parameter of `model` from `path`; a name in the file that the model lacks, or
  /// a parameter the file lacks, or a shape that differs, is an error that lists them.
  /// Returns the file's metadata.
  @discardableResult
  public static func load<M: Module>(_ model: M, from path: String) throws -> [String: String] {
    let contents = try SafeTensors.read(path)
    do {
      try model.update(contents.tensors, strict: true)
    } catch let error as ModuleError {
      throw SafeTensors.Error(path: path, problem: "does not fit the model: \(error)")
    }
    return contents.metadata
  }
}
