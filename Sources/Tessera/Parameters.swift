import Foundation

/// The parameters and seed of this run.
///
/// Papermill's convention: a cell tagged `parameters` holds `let name = literal` defaults;
/// `tessera run -p name value` overrides them *at run time* (each as JSON in the environment
/// variable `TESSERA_PARAMETER_<name>`), so runs with other values reuse the compiled program.
public enum RunSettings {
  /// The run's seed (`tessera run --seed N`, default 0).
  public static let seed: UInt64 = ProcessInfo.processInfo.environment["TESSERA_SEED"].flatMap(UInt64.init) ?? 0

  /// A random stream of this run's seed, named by `label`.
  public static func random(_ label: String) -> RandomGenerator { RandomGenerator(seed: seed).fork(label) }

  /// The value of parameter `name`: the run's override, else `defaultValue`.
  public static func parameter<T: Decodable>(_ name: String, default defaultValue: T) -> T {
    guard let text = ProcessInfo.processInfo.environment["TESSERA_PARAMETER_\(name)"] else { return defaultValue }
    do {
      return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    } catch {
      fatalError("parameter \(name): \(text) is not a \(T.self)")
    }
  }
}
