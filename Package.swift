// swift-tools-version: 6.0
import PackageDescription

// MARK: - Public API

let products: [Product] = [
  .library(name: "TesseraCore", targets: ["TesseraCore"]),
  // What notebook programs link against (a dynamic library, so a notebook compiles in seconds).
  .library(name: "Tessera", type: .dynamic, targets: ["Tessera"]),
  .library(name: "TesseraNN", targets: ["TesseraNN"]),
  .library(name: "TesseraZoo", targets: ["TesseraZoo"]),
  .library(name: "TesseraTasks", targets: ["TesseraTasks"]),
  .library(name: "TesseraPlot", targets: ["TesseraPlot"]),
  .library(name: "TesseraNotebook", targets: ["TesseraNotebook"]),
  .executable(name: "tessera", targets: ["tessera"]),
]

// MARK: - System libraries

let systemLibraries: [Target] = [
  .systemLibrary(
    name: "CBLAS",
    path: "Sources/CBLAS",
    providers: [.apt(["libopenblas-dev"])]
  ),
  .systemLibrary(
    name: "CJansson",
    path: "Sources/CJansson",
    providers: [.apt(["libjansson-dev"])]
  ),
  .systemLibrary(
    name: "CCairo",
    path: "Sources/CCairo",
    providers: [.apt(["libcairo2-dev"])]
  ),
]

// MARK: - Implementation

let implementation: [Target] = [
  // Pointwise kernels built per instruction set; contraction is off in the sources (ScalarMath.h)
  // so every variant gives the same bits.
  .target(name: "CKernels"),
  // Process groups for notebook programs and compilers: a supervisor that ends the group when the
  // program exits or the runner dies.
  .target(name: "CProcess"),
  .target(
    name: "TesseraCore",
    dependencies: ["CBLAS", "CKernels"]
  ),
  .target(
    name: "TesseraNN",
    dependencies: ["TesseraCore"]
  ),
  .target(
    name: "TesseraZoo",
    dependencies: ["TesseraNN", "CBLAS"]
  ),
  .target(
    name: "TesseraTasks",
    dependencies: ["TesseraCore"]
  ),
  .target(
    name: "TesseraPlot",
    dependencies: ["CCairo"]
  ),
  .target(
    name: "Tessera",
    dependencies: ["TesseraCore", "TesseraNN", "TesseraZoo", "TesseraTasks", "TesseraPlot", "CKernels"]
  ),
  .target(
    name: "TesseraNotebook",
    dependencies: ["CJansson", "CProcess"]
  ),
  .target(
    name: "_TestSupport",
    dependencies: ["TesseraCore"]
  ),
  .executableTarget(
    name: "tessera",
    dependencies: [
      "TesseraCore",
      "TesseraNN",
      "TesseraZoo",
      "TesseraNotebook",
      "TesseraPlot",
      "Tessera",
      "CBLAS",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]
  ),
]

// MARK: - Tests

let tests: [Target] = [
  .testTarget(
    name: "TesseraCoreTests",
    dependencies: ["TesseraCore", "CKernels", "_TestSupport"]
  ),
  .testTarget(
    name: "TesseraNNTests",
    dependencies: ["TesseraNN", "_TestSupport"]
  ),
  .testTarget(
    name: "TesseraZooTests",
    dependencies: ["TesseraZoo", "TesseraTasks", "_TestSupport"]
  ),
  .testTarget(
    name: "TesseraTests",
    dependencies: ["Tessera", "_TestSupport"]
  ),
  .testTarget(
    name: "TesseraPlotTests",
    dependencies: ["TesseraPlot"]
  ),
  .testTarget(
    name: "TesseraNotebookTests",
    dependencies: ["TesseraNotebook", "_TestSupport"]
  ),
]

let package = Package(
  name: "Tessera",
  platforms: [.macOS(.v15)],
  products: products,
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: systemLibraries + implementation + tests,
  swiftLanguageModes: [.v6]
)
