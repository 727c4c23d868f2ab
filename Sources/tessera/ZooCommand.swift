import ArgumentParser
import TesseraZoo

/// `tessera zoo`: the registered layer families as a Markdown table (kind, slot, forms, options
/// with defaults, paper), or one family's default options as JSON.
struct ZooCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zoo", abstract: "List the registered layer families (the kinds a model spec can name).")

  @Argument(help: "A kind: print its default options as JSON.")
  var kind: String?

  func run() throws {
    guard let kind else {
      print(Zoo.families.markdownTable)
      return
    }
    guard let entry = Zoo.families[kind] else {
      throw ValidationError(
        "no layer family is registered as \"\(kind)\"; the kinds are \(Zoo.families.kinds.joined(separator: ", "))")
    }
    print(entry.defaultOptions)
  }
}
