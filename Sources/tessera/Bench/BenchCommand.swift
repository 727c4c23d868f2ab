import ArgumentParser
import Foundation
import TesseraCore

/// `tessera bench GROUP`: benchmarks that print one JSON object per line.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Run a benchmark group; prints one JSON object per line.",
    discussion: """
      Every line has "bench", "case", "metric" and "value", plus "threads", "blas_core" and "gemm".
      Units are in the metric name (ms, gflops, gbps). Timings are medians over repeats.
      Groups: core, attention, sparse, moe, conditional, train, mixers, notebook.
      """
  )

  @Argument(help: "The group to run: core, attention, sparse, moe, conditional, train, mixers, notebook.")
  var group: String

  @Flag(help: "Smaller sizes and fewer repeats (seconds instead of a minute).")
  var quick = false

  @Flag(help: "Also time sgemm under each OpenBLAS kernel family this CPU can run (child processes).")
  var compareCores = false

  @Option(help: "Only run cases whose name contains this text.")
  var filter: String?

  @Flag(
    help: "train: time the tiled step on the portable GEMM and on OpenBLAS in alternating rounds (one process).")
  var compareGemm = false

  func run() throws {
    switch group {
    case "core":
      var bench = CoreBench(quick: quick, filter: filter)
      bench.run()
      if compareCores { try CoreBench.compareKernelFamilies(quick: quick) }
    case "attention":
      AttentionBench(quick: quick, filter: filter).run()
    case "sparse":
      SparseBench(quick: quick, filter: filter).run()
    case "moe":
      MixtureOfExpertsBench(quick: quick, filter: filter).run()
    case "conditional":
      ConditionalComputeBench(quick: quick, filter: filter).run()
    case "train":
      if compareGemm {
        TrainBench(quick: quick, filter: filter).compareGEMMKernels()
      } else {
        TrainBench(quick: quick, filter: filter).run()
      }
    case "mixers":
      MixerBench(quick: quick, filter: filter).run()
    case "notebook":
      try NotebookBench(quick: quick, filter: filter).run()
    default:
      throw ValidationError(
        "unknown benchmark group '\(group)'; available: core, attention, sparse, moe, conditional, train, mixers, notebook"
      )
    }
  }
}
