// swift-tools-version: 6.0
import PackageDescription

// MARK: - Public API

let products: [Product] = [
  .library(name: "TesseraCore", targets: ["TesseraCore"]),
  .executable(name: "tessera", targets: ["tessera"]),
]

// MARK: - System libraries

let systemLibraries: [Target] = [
  .systemLibrary(
    name: "CBLAS",
    path: "Sources/CBLAS",
    providers: [.apt(["libopenblas-dev"])]
  )
]

// MARK: - Implementation

let optimized: [SwiftSetting] = [
  .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let implementation: [Target] = [
  .target(
    name: "TesseraCore",
    dependencies: ["CBLAS"],
    swiftSettings: optimized
  ),
  .target(
    name: "_TestSupport",
    dependencies: ["TesseraCore"]
  ),
  .executableTarget(
    name: "tessera",
    dependencies: [
      "TesseraCore",
      "CBLAS",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ],
    swiftSettings: optimized
  ),
]

// MARK: - Tests

let tests: [Target] = [
  .testTarget(
    name: "TesseraCoreTests",
    dependencies: ["TesseraCore", "_TestSupport"]
  )
]

let package = Package(
  name: "Tessera",
  platforms: [.macOS(.v14)],
  products: products,
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: systemLibraries + implementation + tests,
  swiftLanguageModes: [.v5]
)
