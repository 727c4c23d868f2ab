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
/// `sum(o * d_o)` with cotangent 1 before the gradients are taken, as the file's are. A file
/// whose first output is a scalar loss holds no `d_o` (`lossFile`): its gradients are the loss's
/// own. A form with no `inputs` (a sampler: discrete outputs only) takes no gradient. A file with
/// several gradient sets (of the output and of an auxiliary loss, or of several outputs) names
/// them in `objectives`, each checked on its own.
/// One gradient set of a golden file: the gradient of `sum(output * cotangent)` (or of the scalar
/// `output` when `cotangent` is nil) with respect to every input, stored as `gradientName(input)`.
struct GoldenObjective: Sendable {
  let output: String
  let cotangent: String?
  let gradientName: @Sendable (String) -> String
}

struct GoldenForm: Sendable, CustomStringConvertible {
  let name: String
  let inputs: [String]
  let constants: [String]
  let outputs: [String]
  let exact: Set<String>
  let addedLosses: [String]
  let lossFile: Bool
  let objectives: [GoldenObjective]?
  let run: @Sendable ([Tensor]) -> [Tensor]

  init(
    _ name: String, inputs: [String], constants: [String] = [], outputs: [String] = ["o"], exact: Set<String> = [],
    addedLosses: [String] = [], lossFile: Bool = false, objectives: [GoldenObjective]? = nil,
    _ run: @escaping @Sendable ([Tensor]) -> [Tensor]
  ) {
    self.name = name
    self.inputs = inputs
    self.constants = constants
    self.outputs = outputs
    self.exact = exact
    self.addedLosses = addedLosses
    self.lossFile = lossFile
    self.objectives = objectives
    self.run = run
  }

  /// Whether the file holds a cotangent `d_o` for the first output.
  var hasCotangent: Bool { !lossFile && !inputs.isEmpty }

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
  // Masked-diffusion losses: p from t by LLaDA's schedule (checked against the stored p_mask), the
  // mask read from the noisy tokens as LLaDA's training loop does (checked against the stored one).
  "llada_loss": [
    GoldenForm(
      "reference", inputs: ["logits"], constants: ["input_ids", "t", "p_mask", "mask", "noisy_input_ids", "mask_id"],
      outputs: ["loss"], lossFile: true
    ) { x in
      let masked = goldenMask(noisy: x[5], maskID: x[6], stored: x[4])
      let p = MaskedDiffusion.maskProbability(t: x[2].scalars)
      expectClose(p, x[3].scalars, "llada_loss: p_mask from t")
      return [lladaLoss(logits: x[0], targets: goldenIndices(x[1]), masked: masked, maskProbability: p).reshaped(1)]
    }
  ],
  "llada_sft_loss": [
    GoldenForm(
      "reference", inputs: ["logits"],
      constants: ["input_ids", "prompt_lengths", "t", "p_mask", "mask", "noisy_input_ids", "mask_id"],
      outputs: ["loss"], lossFile: true
    ) { x in
      let masked = goldenMask(noisy: x[6], maskID: x[7], stored: x[5])
      let p = MaskedDiffusion.maskProbability(t: x[3].scalars)
      expectClose(p, x[4].scalars, "llada_sft_loss: p_mask from t")
      return [
        lladaSFTLoss(
          logits: x[0], targets: goldenIndices(x[1]), masked: masked, maskProbability: p,
          promptLengths: goldenIndices(x[2]).values
        ).reshaped(1)
      ]
    }
  ],
  // MDLM's weight dσ/expm1(σ) under the log-linear schedule is 1/t: taken from t, checked against the
  // stored weight.
  "mdlm_loss": [
    GoldenForm(
      "reference", inputs: ["logits"],
      constants: ["input_ids", "attention_mask", "t", "weight", "mask", "noisy_input_ids", "mask_id"],
      outputs: ["loss"], lossFile: true
    ) { x in
      let masked = goldenMask(noisy: x[6], maskID: x[7], stored: x[5])
      let weights = x[3].scalars.map { 1 / $0 }
      expectClose(weights, x[4].scalars, "mdlm_loss: weight 1/t")
      return [
        mdlmLoss(
          logits: x[0], targets: goldenIndices(x[1]), masked: masked, weights: weights, attentionMask: x[2],
          maskID: Int(x[7].scalars[0])
        ).reshaped(1)
      ]
    }
  ],
  // Conditional compute. Boundaries, concept counts and hard gates exactly.
  "dynamic_chunking": [goldenChunking(.conceptMoE)],
  "hnet_dynamic_chunking": [goldenChunking(.hNet)],
  "gumbel_gate": [
    GoldenForm(
      "reference", inputs: ["logits"], constants: ["gumbel", "tau", "target_sparsity"],
      outputs: ["y_soft", "y_hard", "sparsity", "loss_l2", "loss_l1"], exact: ["y_hard"],
      objectives: [
        GoldenObjective(output: "y_soft", cotangent: "d_soft") { "grad_\($0)_soft" },
        GoldenObjective(output: "y_hard", cotangent: "d_hard") { "grad_\($0)_hard" },
        GoldenObjective(output: "loss_l2", cotangent: nil) { "grad_\($0)_l2" },
        GoldenObjective(output: "loss_l1", cotangent: nil) { "grad_\($0)_l1" },
      ]
    ) { x in
      let soft = GumbelGate.soft(logits: x[0], noise: x[1], temperature: x[2].scalars[0])
      let hard = GumbelGate.hard(soft)
      let sparsity = GumbelGate.sparsity(hard)
      let target = x[3].scalars[0]
      return [
        soft, hard, sparsity.reshaped(1),
        GumbelGate.sparsityLoss(sparsity, target: target, penalty: .squared).reshaped(1),
        GumbelGate.sparsityLoss(sparsity, target: target, penalty: .absolute).reshaped(1),
      ]
    }
  ],
  "llada_transfer": [goldenSampler(.lowConfidence)],
  "llada_transfer_random": [goldenSampler(.random)],
  // Small specialised models: distillation, early exit, graph layers.
  "kd_loss": [
    GoldenForm(
      "reference", inputs: ["student"], constants: ["teacher", "targets", "T", "alpha"],
      outputs: ["loss", "soft_loss", "hard_loss"], lossFile: true
    ) { x in
      let kd = DistillationLoss(
        student: x[0], teacher: x[1], targets: goldenIndices(x[2]), temperature: x[3].scalars[0], alpha: x[4].scalars[0]
      )
      return [kd.loss.reshaped(1), kd.soft.reshaped(1), kd.hard.reshaped(1)]
    }
  ],
  "early_exit_confidence": [
    GoldenForm(
      "reference", inputs: [],
      constants: ["logits", "hidden", "threshold_softmax_max", "threshold_softmax_diff", "threshold_state"],
      outputs: [
        "conf_softmax_max", "exit_softmax_max", "conf_softmax_diff", "exit_softmax_diff", "conf_state", "exit_state",
        "exit_batch_softmax_max", "exit_batch_softmax_diff",
      ],
      exact: [
        "exit_softmax_max", "exit_softmax_diff", "exit_state", "exit_batch_softmax_max", "exit_batch_softmax_diff",
      ]
    ) { x in
      let layers = x[0].shape[0]
      func confidences(_ measure: ExitConfidence) -> [[Float]] {
        (0..<layers).map { l in
          measure.confidence(
            logits: x[0].select(axis: 0, index: l), hidden: x[1].select(axis: 0, index: l),
            previousHidden: l == 0 ? nil : x[1].select(axis: 0, index: l - 1))
        }
      }
      func table(_ c: [[Float]]) -> Tensor { Tensor(c.flatMap { $0 }, shape: [c.count, c[0].count]) }
      func exits(_ c: [[Float]], _ threshold: Tensor) -> Tensor {
        let e = ExitConfidence.exitLayers(c, threshold: threshold.scalars[0])
        return Tensor(e.map(Float.init), shape: [e.count])
      }
      func batchExit(_ c: [[Float]], _ threshold: Tensor) -> Tensor {
        Tensor([Float(ExitConfidence.batchExitLayer(c, threshold: threshold.scalars[0]))], shape: [1])
      }
      let (top, gap, state) = (
        confidences(.softmaxMax), confidences(.softmaxDifference), confidences(.hiddenStateCosine)
      )
      return [
        table(top), exits(top, x[2]), table(gap), exits(gap, x[3]), table(state), exits(state, x[4]),
        batchExit(top, x[2]),
        batchExit(gap, x[3]),
      ]
    }
  ],
  "gcn": [
    GoldenForm("reference", inputs: ["x", "weight", "bias"], constants: ["edge_index"]) { x in
      [GraphConvolution.convolve(x[0], edges: goldenEdges(x[3], nodes: x[0].shape[0]), weight: x[1], bias: x[2])]
    }
  ],
  "gat": [
    GoldenForm("reference", inputs: ["x", "weight", "att_src", "att_dst", "bias"], constants: ["edge_index"]) { x in
      [
        GraphAttention.attend(
          x[0], edges: goldenEdges(x[5], nodes: x[0].shape[0]), weight: x[1], attentionSource: x[2],
          attentionTarget: x[3], bias: x[4])
      ]
    }
  ],
]

/// A graph's edges from a stored `edge_index` `[2, E]` (row 0 sources, row 1 targets; float32).
func goldenEdges(_ index: Tensor, nodes: Int) -> EdgeList {
  let values = index.scalars.map { Int($0) }
  let count = index.shape[1]
  return EdgeList(nodes: nodes, sources: Array(values[..<count]), targets: Array(values[count...]))
}

/// A chunk / dechunk round trip with the identity as the inner network, under `rule`: the boundary
/// probabilities and decisions, the concepts, their smoothed spread back to the tokens, the output
/// and the ratio loss; gradients of the output (`grad_*`) and of the ratio loss (`grad_aux_*`).
func goldenChunking(_ rule: DynamicChunking.Rule) -> GoldenForm {
  let hNet = rule == .hNet
  return GoldenForm(
    "reference", inputs: ["x", "wq", "wk"], constants: hNet ? ["mask", "ratio"] : ["ratio"],
    outputs: [
      "o", "p", "boundary", "selected_probs", hNet ? "chunk_mask" : "num_chunks", "chunked", "dechunked", "aux_loss",
    ],
    exact: ["boundary", "chunk_mask", "num_chunks"],
    objectives: [
      GoldenObjective(output: "o", cotangent: "d_o") { "grad_" + $0 },
      GoldenObjective(output: "aux_loss", cotangent: nil) { "grad_aux_" + $0 },
    ]
  ) { x in
    let (input, wq, wk) = (x[0], x[1], x[2])
    let boundaries = DynamicChunking.boundaries(
      queries: linear(input, weight: wq), keys: linear(input, weight: wk), rule: rule, mask: hNet ? x[3] : nil)
    let concepts = DynamicChunking.chunk(input, boundaries)
    let spread = DynamicChunking.spread(DynamicChunking.smooth(concepts, boundaries), boundaries)
    let counts = hNet ? boundaries.conceptMask : Tensor(boundaries.conceptCounts.map(Float.init))
    return [
      DynamicChunking.dechunk(concepts, boundaries, residual: input), boundaries.probabilities, boundaries.boundaryMask,
      boundaries.selectedProbabilities, counts, concepts, spread,
      DynamicChunking.ratioLoss(boundaries, ratio: Double(x.last!.scalars[0])).reshaped(1),
    ]
  }
}

/// Token ids stored as floats (losses are stored with shape [1]).
func goldenIndices(_ x: Tensor) -> IndexTensor {
  IndexTensor(x.contiguous().scalars.map { Int($0.rounded()) }, shape: x.shape)
}

/// The mask of a masked-diffusion file read from its noisy tokens (`noisy == mask_id`), expected
/// to equal the stored mask.
func goldenMask(noisy: Tensor, maskID: Tensor, stored: Tensor) -> Tensor {
  let id = maskID.scalars[0]
  let mask = Tensor(noisy.contiguous().scalars.map { $0 == id ? 1 : 0 }, shape: noisy.shape)
  #expect(
    mask.scalars == stored.contiguous().scalars, "the mask read from the noisy tokens differs from the stored one")
  return mask
}

/// Per-sequence quantities recomputed from their definition, within float32 rounding of the stored ones.
func expectClose(_ computed: [Float], _ stored: [Float], _ label: String) {
  #expect(computed.count == stored.count, "\(label): \(computed.count) values, \(stored.count) stored")
  for (a, b) in zip(computed, stored) { #expect(abs(a - b) <= 1e-6 * max(1, abs(b)), "\(label): \(a) vs \(b)") }
}

/// One LLaDA sampler run on the stored logits of each step (and, for random remasking, the stored
/// draws): every step's tokens before and after, the transfer counts and the final tokens, exactly.
func goldenSampler(_ remasking: MaskedDiffusionSampler.Remasking) -> GoldenForm {
  let random = remasking == .random
  return GoldenForm(
    "\(remasking)", inputs: [],
    constants: ["prompt", "logits", "steps", "gen_length", "block_length", "mask_id"] + (random ? ["rand"] : []),
    outputs: ["o", "x_in", "x_out", "num_transfer_tokens"], exact: ["o", "x_in", "x_out", "num_transfer_tokens"]
  ) { x in
    let prompt = goldenIndices(x[0]), logits = x[1]
    let sampler = MaskedDiffusionSampler(
      steps: Int(x[2].scalars[0]), generationLength: Int(x[3].scalars[0]), blockLength: Int(x[4].scalars[0]),
      maskID: Int(x[5].scalars[0]), remasking: remasking)
    var (step, drawStep) = (0, 0)
    let trace = sampler.generate(
      prompt: prompt,
      logits: { tokens in
        defer { step += 1 }
        return logits.select(axis: 0, index: step)
      },
      uniforms: { shape in
        precondition(random && shape.count == 2, "the stored run draws only remasking ranks")
        defer { drawStep += 1 }
        return x[6].select(axis: 0, index: drawStep).contiguous().scalars
      })
    let floats = { (t: IndexTensor) in Tensor(t.values.map(Float.init), shape: t.shape) }
    let counts = trace.transferCounts.flatMap { $0.flatMap { $0 } }.map(Float.init)
    return [
      floats(trace.output), stack(trace.before.map(floats), axis: 0), stack(trace.after.map(floats), axis: 0),
      Tensor(counts, shape: [sampler.blocks, prompt.shape[0], sampler.stepsPerBlock]),
    ]
  }
}

/// The golden ops the zoo does not implement yet, by name. Their files are listed as held back
/// by every run — neither checked nor passed — and an op that lands in ``goldenImplementations``
/// must leave this set (the suite fails while it is in both).
let notYetImplemented: Set<String> = []

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
    let objectives =
      form.objectives
      ?? (form.inputs.isEmpty
        ? []
        : [
          GoldenObjective(output: form.outputs[0], cotangent: form.hasCotangent ? "d_o" : nil) { "grad_" + $0 }
        ])
    let used = Set(
      form.inputs + form.constants + form.outputs + objectives.compactMap(\.cotangent)
        + objectives.flatMap { objective in form.inputs.map(objective.gradientName) })
    let unused = tensors.keys.filter { !used.contains($0) }.sorted()
    #expect(unused.isEmpty, "\(file.name): tensors \(unused) are not checked by form \(form.name)")

    let inputs = try form.inputs.map(tensor)
    let constants = try form.constants.map(tensor)
    let added = try form.addedLosses.map { name in
      try #require(form.outputs.firstIndex(of: name), "form \(form.name) adds \(name), which it does not output")
    }
    var gradientChecks: [(name: String, value: Tensor, bound: Float)] = []
    for objective in objectives {
      let index = try #require(
        form.outputs.firstIndex(of: objective.output), "form \(form.name) has no output \(objective.output)")
      let cotangent = try objective.cotangent.map(tensor)
      let gradients = gradient(at: inputs) { x in
        let outputs = form.run(x + constants)
        let value = cotangent.map { (outputs[index] * $0).sum() } ?? outputs[index].sum()
        return added.reduce(value) { $0 + outputs[$1] }
      }
      for (name, g) in zip(form.inputs, gradients) { gradientChecks.append((objective.gradientName(name), g, 1e-4)) }
    }
    let outputs = withoutGradients { form.run(inputs + constants) }
    try #require(outputs.count == form.outputs.count, "form \(form.name) returns \(outputs.count) outputs")
    var checks: [(name: String, value: Tensor, bound: Float)] = []
    for (name, value) in zip(form.outputs, outputs) { checks.append((name, value, 1e-5)) }
    checks += gradientChecks
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
