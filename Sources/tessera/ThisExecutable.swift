import Foundation

/// The running `tessera` binary: its path on disk, and how to start it again.
enum ThisExecutable {
  /// The binary's path (without the " (deleted)" Linux appends when it was rebuilt meanwhile), for
  /// what is named by path: the library folder beside it, job scripts that run on other machines.
  static var path: String {
    let path =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
  }

  /// What to start for another `tessera` command from this process: this very binary
  /// (`/proc/self/exe`), so a rebuild meanwhile neither breaks the command nor mixes two versions.
  static let forChildren = FileManager.default.fileExists(atPath: "/proc/self/exe") ? "/proc/self/exe" : path
}
