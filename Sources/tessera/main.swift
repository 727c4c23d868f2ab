import Foundation
import TesseraCore

// OpenBLAS picks its kernels when it loads, before any Swift code runs. When this CPU has a
// faster kernel family than the one OpenBLAS would pick and the user has not chosen one, start
// again with the choice in the environment.
if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = BLASCore.preferred {
  setenv("OPENBLAS_CORETYPE", core, 1)
  execv("/proc/self/exe", CommandLine.unsafeArgv)
  // execv returns only on failure: carry on with OpenBLAS's own choice.
}

TesseraCommand.main(commandLine: Array(CommandLine.arguments.dropFirst()))
