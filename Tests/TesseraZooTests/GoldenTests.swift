import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

// The reference vectors of Tests/Golden (see its README): every file is either checked against
// each form the zoo computes its op in, or held back by name because the zoo has no such op yet.
// A file that is neither — or that cannot be read — fails the run.

/// One way the zoo computes a golden op. `run` takes the file's tensors named by `inputs`, then
/// those named by `constants` (inputs with no gradient: a stored layout), in that order, and
/// returns the tensors named by `outputs`, in that order; the first output is `o`, the one the
/// file's cotangent `d_o` applies to, and every input's gradient of `sum(o * d_o)` is checked
/// against `grad_<input>`. Outputs named in `exact` (discrete choices: selected blocks) must
/// match bit for bit. Outputs named in `addedLosses` (a router's auxiliary loss) are added to
/// `sum(o * d_o)` with cotangent 1 before the gradients are taken, as the file's are.
struct GoldenForm: Sendable, CustomStringConvertible {
  let name: String
  let inputs: [String]
  let constants: [String]
  let outputs: [String]
  let exact: Set<String>
  let addedLosses: [String]
  let run: @Sendable ([Tensor]) -> [Tensor]

  init(
    _ name: String, inputs: [String], constants: [String] = [], outputs: [String] = ["o"], exact: Set<String> = [],
    addedLosses: [String] = [], _ run: @escaping @Sendable ([Tensor]) -> [Tensor]
  ) {
    self.name = name
    self.inputs = inputs
    self.constants = constants
    self.outputs = outputs
    self.exact = exact
    self.addedLosses = addedLosses
    self.run = run
  }

  var description: String { name }
}

/// The recurrent, parallel and chunked (16 and 64 steps) forms of an op of the gated linear
/// recurrence family; `call` runs the op in the form it is given. With `finalState` the state
/// after the last step is checked too (against the file's `final_state`).
func recurrenceForms(
  inputs: [String], finalState: Bool = true,
  _ call: @escaping @Sendable ([Tensor], Form) -> (output: Tensor, finalState: Tensor)
) -> [GoldenForm] {
  linearForms.map { form in
    GoldenForm("\(form)", inputs: inputs, outputs: finalState ? ["o", "final_state"] : ["o"]) { x in
      let result = call(x, form)
      return finalState ? [result.output, result.finalState] : [result.output]
    }
  }
}

/// Every golden op the zoo implements, with the forms that compute it. The one place the golden
/// tests call the zoo: a change of an op's API changes its entry here.
let goldenImplementations: [String: [GoldenForm]] = [
  "attention_causal": [
    GoldenForm("reference", inputs: ["q", "k", "v"]) { x in
      [attention(x[0], x[1], x[2], mask: .causal, form: .reference)]
    },
    GoldenForm("tiled", inputs: ["q", "k", "v"]) { x in
      [attention(x[0], x[1], x[2], mask: .causal, form: .tiled(queryBlock: 16, keyBlock: 16))]
    },
  ],
  // Two query heads per key/value head.
  "attention_gqa": [
    GoldenForm("reference", inputs: ["q", "k", "v"]) { x in
      [attention(x[0], x[1], x[2], mask: .causal, form: .reference)]
    },
    GoldenForm("tiled", inputs: ["q", "k", "v"]) { x in
      [attention(x[0], x[1], x[2], mask: .causal, form: .tiled(queryBlock: 16, keyBlock: 16))]
    },
  ],
  "attention_sliding_window": [
    GoldenForm("reference", inputs: ["q", "k", "v"]) { x in
      [attention(x[0], x[1], x[2], mask: .slidingWindow(5), form: .reference)]
    },
    GoldenForm("tiled", inputs: ["q", "k", "v"]) { x in
      [attention(x[0], x[1], x[2], mask: .slidingWindow(5), form: .tiled(queryBlock: 16, keyBlock: 16))]
    },
  ],
  // The stored BigBird layout over blocks of 4, intersected with the causal mask.
  "attention_block_sparse": [Form.reference, .tiled(queryBlock: 8, keyBlock: 4), .tiled(queryBlock: 16, keyBlock: 16)]
    .map { form in
      GoldenForm("\(form)", inputs: ["q", "k", "v"], constants: ["layout"]) { x in
        let mask = AttentionMask.causal && .blockLayout(BlockLayout(block: 4, x[3]))
        return [attention(x[0], x[1], x[2], mask: mask, form: form)]
      }
    },
  "attention_topk": [Form.reference, .tiled(queryBlock: 16, keyBlock: 8)].map { form in
    GoldenForm("\(form)", inputs: ["q", "k", "v"]) { x in [topKAttention(x[0], x[1], x[2], topK: 8, form: form)] }
  },
  "moba": [Form.reference, .tiled(queryBlock: 16, keyBlock: 8), .tiled(queryBlock: 8, keyBlock: 16)].map { form in
    GoldenForm("\(form)", inputs: ["q", "k", "v"]) { x in
      [mixtureOfBlockAttention(x[0], x[1], x[2], block: 8, topK: 3, form: form)]
    }
  },
  "nsa": [Form.reference, .tiled(queryBlock: 16, keyBlock: 8), .tiled(queryBlock: 4, keyBlock: 4)].map { form in
    GoldenForm(
      "\(form)", inputs: ["q", "k", "v", "g_cmp", "g_slc", "g_swa"], outputs: ["o", "block_indices"],
      exact: ["block_indices"]
    ) { x in
      let result = nativeSparseAttention(
        x[0], x[1], x[2], compressedGate: x[3], selectedGate: x[4], windowGate: x[5], block: 4, selectedBlocks: 5,
        window: 8, form: form)
      return [result.output, result.selection.tensor.permuted(0, 2, 1, 3)]  // [B, T, H, n] as stored
    }
  },
  "moe_topk": mixtureForms(goldenTokenChoice),
  "moe_switch": mixtureForms(goldenSwitch),
  "moe_expert_choice": mixtureForms(goldenExpertChoice),
  "moe_shared": mixtureForms(goldenDeepSeek),
  "linear_attention": recurrenceForms(inputs: ["q", "k", "v"]) { x, form in
    linearAttention(x[0], x[1], x[2], form: form)
  },
  "simple_gla": recurrenceForms(inputs: ["q", "k", "v", "g"]) { x, form in
    simpleGatedLinearAttention(x[0], x[1], x[2], logDecay: x[3], form: form)
  },
  "gla": recurrenceForms(inputs: ["q", "k", "v", "gk"]) { x, form in
    gatedLinearAttention(x[0], x[1], x[2], logDecay: x[3], form: form)
  },
  // The file holds no final state.
  "retention": recurrenceForms(inputs: ["q", "k", "v"], finalState: false) { x, form in
    retention(x[0], x[1], x[2], form: form)
  },
  "delta_rule": recurrenceForms(inputs: ["q", "k", "v", "beta"]) { x, form in
    deltaRule(x[0], x[1], x[2], beta: x[3], form: form)
  },
  "gated_delta_rule": recurrenceForms(inputs: ["q", "k", "v", "beta", "g"]) { x, form in
    deltaRule(x[0], x[1], x[2], beta: x[3], logDecay: x[4], form: form)
  },
  "forgetting_attention": [
    GoldenForm("reference", inputs: ["q", "k", "v", "g"]) { x in
      [forgettingAttention(x[0], x[1], x[2], logDecay: x[3], form: .reference)]
    },
    GoldenForm("tiled", inputs: ["q", "k", "v", "g"]) { x in
      [forgettingAttention(x[0], x[1], x[2], logDecay: x[3], form: .tiled(queryBlock: 16, keyBlock: 16))]
    },
  ],
  "selective_scan":
    recurrenceForms(inputs: ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]) { x, form in
      selectiveScan(x[0], delta: x[1], A: x[2], B: x[3], C: x[4], D: x[5], z: x[6], deltaBias: x[7], form: form)
    } + [
      GoldenForm(
        "fused", inputs: ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"], outputs: ["o", "final_state"]
      ) { x in
        let result = selectiveScan(
          x[0], delta: x[1], A: x[2], B: x[3], C: x[4], D: x[5], z: x[6], deltaBias: x[7], form: .fused)
        return [result.output, result.finalState]
      }
    ],
  "ssd": recurrenceForms(inputs: ["X", "A", "B", "C"]) { x, form in
    stateSpaceDuality(x[0], logDecay: x[1], B: x[2], C: x[3], form: form)
  },
]

/// The golden ops the zoo does not implement yet, by name. Their files are listed as held back
/// by every run — neither checked nor passed — and an op that lands in ``goldenImplementations``
/// must leave this set (the suite fails while it is in both).
let notYetImplemented: Set<String> = [
  "llada_loss", "llada_sft_loss", "llada_transfer", "llada_transfer_random", "mdlm_loss",
  "dynamic_chunking", "hnet_dynamic_chunking", "gumbel_gate",
  "gcn", "gat", "kd_loss", "early_exit_confidence",
]

/// One form of an implemented op on one golden file.
struct GoldenCase: Sendable, CustomStringConvertible {
  let file: GoldenVectors.File
  let form: GoldenForm
  var description: String { "\(file.name) \(form.name)" }
}

@Suite("Golden vectors")
struct GoldenTests {
  static let files = GoldenVectors.files()
  static let cases = files.flatMap { file in
    (file.op.flatMap { goldenImplementations[$0] } ?? []).map { GoldenCase(file: file, form: $0) }
  }

  @Test("the golden folder exists and holds reference files")
  func folder() {
    if let problem = GoldenVectors.folderProblem { Issue.record("\(problem)") }
    #expect(!Self.files.isEmpty, "no golden files found in \(GoldenVectors.directory)")
  }

  /// A file is readable and its op is implemented or held back by name: never both, never neither.
  @Test("every golden file is readable and its op is implemented or held back", arguments: files)
  func accountedFor(_ file: GoldenVectors.File) {
    guard let op = file.op else {
      Issue.record("unreadable golden file \(file.name): \(file.problem ?? "no op")")
      return
    }
    switch (goldenImplementations[op], notYetImplemented.contains(op)) {
    case (nil, false):
      Issue.record(
        "no implementation of op \(op) (file \(file.name)): add it to goldenImplementations or notYetImplemented")
    case (.some, true):
      Issue.record("op \(op) (file \(file.name)) is implemented: remove it from notYetImplemented")
    case (let forms?, false):
      #expect(!forms.isEmpty, "op \(op) (file \(file.name)) has no forms in goldenImplementations")
    case (nil, true):
      break
    }
  }

  /// An op named in either table has a golden file: a misspelt or renamed op would otherwise be
  /// implemented or held back without a single file to check.
  @Test("every op named in the tables has a golden file")
  func tablesNameFiles() {
    let ops = Set(Self.files.compactMap(\.op))
    for op in Set(goldenImplementations.keys).union(notYetImplemented).sorted() where !ops.contains(op) {
      Issue.record("op \(op) has no golden file in \(GoldenVectors.directory)")
    }
  }

  /// Outputs (`o`, and `final_state` where the form returns it) within 1e-5 relative RMS error of
  /// the reference, the gradient of `sum(o * d_o)` with respect to every input within 1e-4 (the
  /// bounds of the golden README for float32). Every tensor of the file is used: an input, `d_o`,
  /// an output or an input's gradient; one that is none of these fails the check.
  @Test("every form of every implemented op matches its reference", arguments: cases)
  func matches(_ golden: GoldenCase) throws {
    let (file, form) = (golden.file, golden.form)
    let tensors = try file.load().tensors
    func tensor(_ name: String) throws -> Tensor {
      try #require(tensors[name], "\(file.name) has no tensor \(name) (form \(form.name))")
    }
    let used = Set(form.inputs + form.constants + ["d_o"] + form.outputs + form.inputs.map { "grad_" + $0 })
    let unused = tensors.keys.filter { !used.contains($0) }.sorted()
    #expect(unused.isEmpty, "\(file.name): tensors \(unused) are not checked by form \(form.name)")

    let inputs = try form.inputs.map(tensor)
    let constants = try form.constants.map(tensor)
    let cotangent = try tensor("d_o")
    let added = try form.addedLosses.map { name in
      try #require(form.outputs.firstIndex(of: name), "form \(form.name) adds \(name), which it does not output")
    }
    var traced: Tensor?
    let gradients = gradient(at: inputs) { x in
      let outputs = form.run(x + constants)
      traced = outputs[0]
      return added.reduce((outputs[0] * cotangent).sum()) { $0 + outputs[$1] }
    }
    let o = traced!.detached()
    let outputs = [o] + withoutGradients { form.run(inputs + constants).dropFirst() }
    try #require(outputs.count == form.outputs.count, "form \(form.name) returns \(outputs.count) outputs")
    var checks: [(name: String, value: Tensor, bound: Float)] = []
    for (name, value) in zip(form.outputs, outputs) { checks.append((name, value, 1e-5)) }
    for (name, gradient) in zip(form.inputs, gradients) { checks.append(("grad_" + name, gradient, 1e-4)) }
    for check in checks {
      let reference = try tensor(check.name)
      if form.exact.contains(check.name) {
        #expect(check.value.shape == reference.shape, "\(file.name) \(form.name): \(check.name) shape")
        let differing = zip(check.value.contiguous().scalars, reference.scalars).filter { $0 != $1 }.count
        #expect(differing == 0, "\(file.name) \(form.name): \(check.name) differs in \(differing) entries")
        continue
      }
      let error = check.value.relativeError(to: reference)
      if ProcessInfo.processInfo.environment["SHOW_ERRORS"] != nil { print("GOLDEN", golden, check.name, error) }
      #expect(
        error <= check.bound, "\(file.name) \(form.name): \(check.name) relative RMS error \(error) > \(check.bound)")
    }
  }

  /// The run's output names every golden file and what became of it.
  @Test("the run lists every golden file as checked or held back")
  func report() {
    print("golden folder: \(GoldenVectors.directory)")
    for file in Self.files {
      if let op = file.op, let forms = goldenImplementations[op] {
        print("checked: \(file.name) (\(forms.map(\.name).joined(separator: ", ")))")
      } else if let op = file.op, notYetImplemented.contains(op) {
        print("held back (not yet implemented): \(file.name)")
      } else {
        print("not accounted for: \(file.name) (\(file.problem ?? "op \(file.op ?? "?") is in neither table"))")
      }
    }
  }
}
