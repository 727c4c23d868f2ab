import ArgumentParser
import Foundation
import TesseraNotebook

/// `tessera new`: a starter notebook.
struct NewCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "new", abstract: "Write a starter notebook: an introduction, a parameters cell and a first tensor.")

  @Argument(help: "The notebook to create (.ipynb).")
  var path: String

  @Flag(help: "Replace the file if it exists.")
  var force = false

  func run() throws {
    if FileManager.default.fileExists(atPath: path) && !force {
      throw ValidationError("\(path) exists; use --force to replace it")
    }
    let title = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    try StarterNotebook.make(title: title, path: path).write(to: path)
    print("wrote \(path) — run it with: tessera run \(path)")
  }
}
