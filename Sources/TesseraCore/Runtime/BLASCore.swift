import Foundation

/// Which OpenBLAS kernel family a process should use.
///
/// Debian's OpenBLAS 0.3.21 picks its AVX2 (`Haswell`) kernels on CPUs with AVX-512; the
/// `SkylakeX` kernels run sgemm about 2× faster there. OpenBLAS reads `OPENBLAS_CORETYPE` once,
/// when the library loads, so the choice must be in the environment before the process starts:
/// the `tessera` launcher re-executes itself with it, and the notebook runner sets it for its
/// child processes.
public enum BLASCore {
  /// The CPU's feature flags (from `/proc/cpuinfo` on Linux).
  public static let cpuFlags: Set<String> = {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return [] }
    return Set(line.split(separator: ":").last!.split(separator: " ").map(String.init))
  }()

  /// The CPU's model name.
  public static let cpuName: String = {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") })
    else { return "unknown" }
    return line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)
  }()

  /// The kernel family to request, or nil to let OpenBLAS choose: `SkylakeX` on CPUs with
  /// AVX-512F.
  public static var preferred: String? { cpuFlags.contains("avx512f") ? "SkylakeX" : nil }

  /// Kernel families this CPU can run, for side-by-side benchmarks.
  public static var runnable: [String] {
    var cores: [String] = []
    if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { cores.append("Haswell") }
    if cpuFlags.contains("avx512f") { cores.append("SkylakeX") }
    if cpuFlags.contains("avx") { cores.append("Sandybridge") }
    return cores
  }

  /// `environment` with `OPENBLAS_CORETYPE` set to ``preferred`` unless the user set it.
  public static func environment(_ environment: [String: String]) -> [String: String] {
    var env = environment
    if env["OPENBLAS_CORETYPE"] == nil, let core = preferred { env["OPENBLAS_CORETYPE"] = core }
    return env
  }
}
