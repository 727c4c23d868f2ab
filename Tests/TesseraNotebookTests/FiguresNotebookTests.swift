import Foundation
import Testing
import TesseraNotebook

@Suite("Figures in notebooks")
struct FiguresNotebookTests {
  @Test("notebooks/figures.ipynb runs headless; its figures land in the notebook and in the export folder")
  func figuresNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped("figures.ipynb")
    #expect(run.status == 0, "\(run.stderr)")
    let displays = (run.notebook?.cells ?? []).flatMap(\.outputs).filter {
      $0["output_type"]?.stringValue == "display_data"
    }
    #expect(displays.count == 5)
    for output in displays {
      let png = output["data"]?["image/png"]?.stringValue.flatMap { Data(base64Encoded: $0) }
      #expect(png?.starts(with: [0x89, 0x50, 0x4E, 0x47]) == true)
      #expect(output["data"]?["image/svg+xml"]?.joinedText?.contains("<svg") == true)
      #expect(output["metadata"]?["image/png"]?["width"]?.integerValue != nil)
    }
    for name in ["loss-curves", "scaling", "attention-map", "bars", "grid"] {
      for ext in ["png", "svg"] {
        #expect(h.exported(name, ext), "\(name).\(ext) not exported")
      }
    }
    let verdict = try NotebookHarness.validate(run.path)
    #expect(verdict.valid, "\(verdict)")
  }

  @Test("an unnamed figure is exported as <notebook>-<cell>-<n>")
  func unnamed() throws {
    let h = try NotebookHarness()
    let path = try h.write(
      "plain.ipynb",
      cells: ["import Tessera\nlet f = Figure()\nf.panel.line([1.0, 4, 9], label: \"squares\")\ndisplay(f)\ndisplay(f)"]
    )
    let run = try h.run(path, ["--export-figures", h.folder + "/out"])
    #expect(run.status == 0, "\(run.stderr)")
    for n in 1...2 {
      #expect(FileManager.default.fileExists(atPath: h.folder + "/out/plain-c1-\(n).svg"))
      #expect(FileManager.default.fileExists(atPath: h.folder + "/out/plain-c1-\(n).png"))
    }
  }
}

@Suite("The attention notebook")
struct AttentionNotebookTests {
  @Test("notebooks/attention.ipynb runs headless with a short MQAR budget")
  func attentionNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped("attention.ipynb", ["-p", "mqarSteps", "10", "-p", "mqarBatch", "8"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("cache").contains("largest relative difference"))
    for name in ["attention-memory", "attention-masks", "mqar-attention-loss"] {
      #expect(h.exported(name, "png"), "\(name)")
    }
  }
}

@Suite("The linear attention notebook")
struct LinearAttentionNotebookTests {
  @Test("notebooks/linear-attention.ipynb runs headless with a short training budget")
  func linearAttentionNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped("linear-attention.ipynb", ["-p", "trainingSteps", "3"])
    #expect(run.status == 0, "\(run.stderr)")
    for name in ["linear-decay-profiles", "linear-state-norms", "linear-mqar-loss"] {
      #expect(h.exported(name, "svg"), "\(name)")
    }
  }
}

@Suite("The sparse attention notebook")
struct SparseAttentionNotebookTests {
  @Test("notebooks/sparse-attention.ipynb runs headless at small lengths")
  func sparseAttentionNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped(
      "sparse-attention.ipynb",
      ["-p", "mapLength", "256", "-p", "mapTile", "32", "-p", "costLengths", "[256, 512]", "-p", "costWidth", "64"])
    #expect(run.status == 0, "\(run.stderr)")
    for name in ["sparse-block-maps", "sparse-picks", "sparse-cost"] {
      #expect(h.exported(name, "png"), "\(name)")
    }
  }
}

@Suite("The mixture-of-experts notebook")
struct MixtureOfExpertsNotebookTests {
  @Test("notebooks/mixture-of-experts.ipynb runs headless at toy sizes")
  func mixtureOfExpertsNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped(
      "mixture-of-experts.ipynb",
      [
        "-p", "width", "16", "-p", "blocks", "1", "-p", "length", "16", "-p", "batchSize", "2", "-p", "steps", "4",
        "-p", "experts", "4", "-p", "words", "60", "-p", "sentences", "400", "-p", "capacitySteps", "2",
        "-p", "costWidth", "32",
      ])
    #expect(run.status == 0, "\(run.stderr)")
    for name in ["moe-routers", "moe-load-balance", "moe-capacity", "moe-routing"] {
      #expect(h.exported(name, "png"), "\(name)")
    }
  }
}

@Suite("The hybrids and diffusion notebooks")
struct HybridDiffusionNotebookTests {
  @Test("notebooks/hybrids.ipynb runs headless at toy sizes; decoding state measured = counted")
  func hybridsNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped(
      "hybrids.ipynb",
      [
        "-p", "width", "16", "-p", "vocabulary", "32", "-p", "length", "32", "-p", "pairs", "4", "-p", "shortLength",
        "16", "-p", "shortPairs", "2", "-p", "shortSteps", "4", "-p", "shortTokensPerStep", "128", "-p", "steps", "6",
        "-p", "tokensPerStep", "128", "-p", "decodeLengths=[8, 24]", "-p", "presetWidth", "32", "-p", "presetBlocks",
        "4",
      ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("hyb-8").contains("measured decoding state = counted stateBytes"), "\(run.text("hyb-8"))")
    for name in ["hybrids-recall", "hybrids-decoding"] { #expect(h.exported(name, "png"), "\(name)") }
  }

  @Test("notebooks/diffusion-lm.ipynb runs headless at toy sizes")
  func diffusionNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped(
      "diffusion-lm.ipynb",
      [
        "-p", "width", "16", "-p", "blocks", "1", "-p", "heads", "2", "-p", "steps", "4", "-p", "batchSize", "2", "-p",
        "words", "40",
      ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(h.exported("diffusion-lm-order", "png"))
  }
}

@Suite("The conditional-compute notebook")
struct ConditionalComputeNotebookTests {
  @Test("notebooks/conditional-compute.ipynb runs headless at toy sizes")
  func conditionalComputeNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped(
      "conditional-compute.ipynb",
      ["-p", "pruningSteps", "8", "-p", "chunkSteps", "8", "-p", "batchSize", "4", "-p", "words", "40"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.text("cc-3").contains("Hamming distance"), "\(run.text("cc-3"))")
    for name in ["conditional-compute-kept", "conditional-compute-chunking"] {
      #expect(h.exported(name, "png"), "\(name)")
    }
  }
}

@Suite("The ontology-architectures notebook")
struct OntologyArchitecturesNotebookTests {
  @Test("notebooks/ontology-architectures.ipynb runs headless at toy sizes and prints a bench line per row")
  func ontologyArchitecturesNotebook() throws {
    let h = try NotebookHarness()
    let run = try h.runShipped(
      "ontology-architectures.ipynb",
      [
        "-p", "width", "16", "-p", "steps", "4", "-p", "batchSize", "8", "-p", "evaluationBatches", "1",
        "-p", "evaluationSize", "16", "-p", "latencyQueries", "6",
      ])
    #expect(run.status == 0, "\(run.stderr)")
    let printed = (run.notebook?.cells ?? []).map { run.text($0.id ?? "") }.joined()
    #expect(printed.components(separatedBy: "\"bench\": \"ontology-architectures\"").count - 1 == 10, "\(printed)")
    #expect(printed.contains("every other parameter bit-identical true"), "\(printed)")
  }
}
