import Foundation

/// Compiles notebook programs with `swiftc -O -assert-config Debug` (optimised, but `precondition`,
/// `assert` and the standard library's checks keep their messages) against the prebuilt dynamic
/// `Tessera` library,
/// through a cache keyed by the program, the library build, the compiler and its flags: the
/// same code compiles once, whatever the parameter values.
public struct NotebookCompiler: Sendable {
  /// The folder holding `libTessera.so` and `Modules/` (a SwiftPM build folder).
  public let libraryDirectory: String
  /// The cache folder (`TESSERA_CACHE`, else `~/.cache/tessera`).
  public let cacheDirectory: String
  public let swiftc: String
  /// Folders of the C shims' module maps (`Sources/CBLAS`, …), which clients of TesseraCore
  /// must see when they compile.
  public let moduleMapDirectories: [String]

  /// One compiler diagnostic, mapped to a cell when it points into one.
  public struct Diagnostic: Sendable {
    public var cellID: String?
    public var line: Int
    public var column: Int
    public var message: String
    /// The diagnostic as the compiler printed it, with its source excerpt.
    public var text: [String]
  }

  /// The outcome of a compile.
  public enum Outcome: Sendable {
    case success(executable: String, cacheHit: Bool, seconds: Double)
    case failure(diagnostics: [Diagnostic], output: String)
  }

  public struct SetupError: Error, CustomStringConvertible {
    public let description: String
  }

  public init(libraryDirectory: String, cacheDirectory: String? = nil, moduleMapDirectories: [String] = []) throws {
    self.libraryDirectory = libraryDirectory
    self.moduleMapDirectories = moduleMapDirectories
    let env = ProcessInfo.processInfo.environment
    self.cacheDirectory =
      cacheDirectory ?? env["TESSERA_CACHE"]
      ?? (env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/tessera"
    self.swiftc = env["SWIFTC"] ?? "swiftc"
    let version = try? ChildProcess.capture([swiftc, "--version"])
    self.compilerVersion = version?.split(separator: "\n").first.map(String.init) ?? "unknown"
    let lib = libraryDirectory + "/libTessera.so"
    guard FileManager.default.fileExists(atPath: lib),
      FileManager.default.fileExists(atPath: libraryDirectory + "/Modules/Tessera.swiftmodule")
    else {
      throw SetupError(
        description:
          "the Tessera library is not built in \(libraryDirectory) (no libTessera.so or Modules/Tessera.swiftmodule); "
          + "run `swift build -c release` in the Tessera package")
    }
  }

  var flags: [String] {
    [
      "-O", "-assert-config", "Debug", "-g", "-Xcc", "-fno-omit-frame-pointer", "-diagnostic-style=llvm",
      "-module-name", "NotebookProgram", "-I",
      libraryDirectory + "/Modules", "-L", libraryDirectory, "-lTessera",
      "-Xlinker", "-rpath", "-Xlinker", libraryDirectory,
    ] + moduleMapDirectories.flatMap { ["-I", $0] }
  }

  /// What identifies the library build: size and modification time of the library and module.
  var libraryIdentity: String {
    [libraryDirectory + "/libTessera.so", libraryDirectory + "/Modules/Tessera.swiftmodule"].map { path in
      let attributes = try? FileManager.default.attributesOfItem(atPath: path)
      let size = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
      let date = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
      return "\(path):\(size):\(date)"
    }.joined(separator: ";")
  }

  /// The compiler's version line (asked once, when the compiler is set up).
  public let compilerVersion: String

  /// Compiles `program`, or returns the cached executable.
  public func compile(_ program: ProgramAssembly) throws -> Outcome {
    let version = compilerVersion
    let key = Self.hash(
      [program.source, program.chunkedSource ?? "", version, flags.joined(separator: " "), libraryIdentity].joined(
        separator: "\u{0}"))
    let folder = cacheDirectory + "/programs/" + key
    let executable = folder + "/notebook"
    if FileManager.default.isExecutableFile(atPath: executable) {
      bumpCounter("hits")
      return .success(executable: executable, cacheHit: true, seconds: 0)
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let sourcePath = folder + "/main.swift"
    let partial = folder + "/notebook.partial.\(getpid())"
    let start = Date()
    // The program with its statements in functions first (it compiles much faster); the plain
    // program when that does not compile, whose diagnostics are the ones reported.
    var result: ChildProcess.Result?
    if let chunked = program.chunkedSource {
      try chunked.write(toFile: sourcePath, atomically: true, encoding: .utf8)
      let attempt = try ChildProcess.run([swiftc] + flags + [sourcePath, "-o", partial])
      if attempt.status == .exited(0) { result = attempt }
    }
    if result == nil {
      try program.source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
      result = try ChildProcess.run([swiftc] + flags + [sourcePath, "-o", partial])
    }
    let seconds = Date().timeIntervalSince(start)
    guard let result, result.status == .exited(0) else {
      try? FileManager.default.removeItem(atPath: partial)
      let text = (result?.stdout ?? "") + (result?.stderr ?? "")
      return .failure(diagnostics: Self.diagnostics(text, program: program), output: text)
    }
    if rename(partial, executable) != 0 {
      throw SetupError(description: "cannot move the compiled program into \(folder)")
    }
    bumpCounter("misses")
    return .success(executable: executable, cacheHit: false, seconds: seconds)
  }

  /// Hits and misses since the cache folder was made.
  public func counters() -> (hits: Int, misses: Int) {
    let text = (try? String(contentsOfFile: cacheDirectory + "/counters.json", encoding: .utf8)) ?? "{}"
    let value = (try? JSONText.parse(text)) ?? .object([])
    return (Int(value["hits"]?.integerValue ?? 0), Int(value["misses"]?.integerValue ?? 0))
  }

  func bumpCounter(_ name: String) {
    var (hits, misses) = counters()
    if name == "hits" { hits += 1 } else { misses += 1 }
    let text = JSONText.write(.object([("hits", .integer(Int64(hits))), ("misses", .integer(Int64(misses)))]))
    try? text.write(toFile: cacheDirectory + "/counters.json", atomically: true, encoding: .utf8)
  }

  /// Parses `file:line:col: error: message` blocks, mapping `<notebook>#cell-<id>` files to cells.
  static func diagnostics(_ output: String, program: ProgramAssembly) -> [Diagnostic] {
    let byLocation = Dictionary(uniqueKeysWithValues: program.locationNames.map { ($0.value, $0.key) })
    var found: [Diagnostic] = []
    var attaching = false
    for line in output.components(separatedBy: "\n") {
      if let d = parseHeader(line, cells: byLocation) {
        found.append(d)
        attaching = true
      } else if line.contains(": warning: ") {
        attaching = false
      } else if attaching && !line.isEmpty {
        found[found.count - 1].text.append(line)
      }
    }
    return found
  }

  static func parseHeader(_ line: String, cells: [String: String]) -> Diagnostic? {
    guard let range = line.range(of: ": error: ") else { return nil }
    let location = line[..<range.lowerBound]
    let parts = location.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count >= 3, let column = Int(parts[parts.count - 1]), let lineNumber = Int(parts[parts.count - 2])
    else {
      return nil
    }
    let file = parts[..<(parts.count - 2)].joined(separator: ":")
    return Diagnostic(
      cellID: cells[file], line: lineNumber, column: column, message: String(line[range.upperBound...]), text: [line])
  }

  /// 128 bits of FNV-1a (two 64-bit lanes with different offsets), as hex.
  static func hash(_ text: String) -> String {
    var a: UInt64 = 0xCBF2_9CE4_8422_2325
    var b: UInt64 = 0x8422_2325_CBF2_9CE4
    for byte in text.utf8 {
      a = (a ^ UInt64(byte)) &* 0x100_0000_01B3
      b = (b ^ UInt64(byte)) &* 0x100_0000_01B3 &+ 0x9E37_79B9
    }
    return String(a, radix: 16) + String(b, radix: 16)
  }
}
