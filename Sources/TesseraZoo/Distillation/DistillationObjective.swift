import TesseraCore

/// Where a student's soft targets come from: the teacher's logits `[B, T, vocabulary]` for a
/// batch's inputs — a larger model run on the fly (``model(_:name:)``), or any function of the
/// inputs (stored logits, an exact posterior). Two teachers are equal when their names are.
public struct Teacher: @unchecked Sendable, Equatable {
  public let name: String
  let logits: (IndexTensor) -> Tensor

  public init(name: String, logits: @escaping (IndexTensor) -> Tensor) {
    self.name = name
    self.logits = logits
  }

  /// A trained model as the teacher, run without gradients on every batch.
  public static func model(_ model: LanguageModel, name: String = "teacher") -> Teacher {
    Teacher(name: name) { tokens in withoutGradients { model.forward(tokens).logits } }
  }

  public static func == (a: Teacher, b: Teacher) -> Bool { a.name == b.name }
}

/// Knowledge distillation as a training objective (``Objective/distill(_:)``): at every scored
/// position, ``DistillationLoss`` between the student's logits and the teacher's — α weights the
/// hard labels, `(1 − α) T²` the soft term. With `headWeights`, every exit head of an early-exit
/// student is distilled too: `Σ_k headWeights[k] · loss(head k)`, the final head last.
public struct DistillationObjective: Sendable, Equatable {
  public var teacher: Teacher
  public var temperature: Float
  public var alpha: Float
  public var headWeights: [Double]?

  public init(teacher: Teacher, temperature: Float = 2, alpha: Float = 0.5, headWeights: [Double]? = nil) {
    check(temperature > 0, "DistillationObjective: the temperature must be positive, got \(temperature)")
    check((0...1).contains(alpha), "DistillationObjective: alpha must be in [0, 1], got \(alpha)")
    self.teacher = teacher
    self.temperature = temperature
    self.alpha = alpha
    self.headWeights = headWeights
  }

  func loss(_ model: LanguageModel, inputs: IndexTensor, targets: IndexTensor, step: Int, contexts: [Int]?) -> (
    Tensor, ModelOutput
  ) {
    let teacherLogits = teacher.logits(inputs)
    check(
      teacherLogits.rank == 3 && Array(teacherLogits.shape.prefix(2)) == inputs.shape,
      "DistillationObjective: the teacher's logits \(teacherLogits.shape) are not [batch, time, vocabulary] for inputs \(inputs.shape)"
    )
    let (rows, vocabulary) = (teacherLogits.shape[0] * teacherLogits.shape[1], teacherLogits.shape[2])
    let scored = targets.values.indices.filter { targets.values[$0] != Objective.ignoredTarget }
    let picked = IndexTensor(scored)
    let hard = IndexTensor(scored.map { targets.values[$0] })
    let soft = teacherLogits.reshaped([rows, vocabulary]).indexSelect(axis: 0, indices: picked)
    let (total, output) = model.headWeightedLoss(
      inputs, weights: headWeights, step: step, contexts: contexts, objective: "DistillationObjective"
    ) { logits in
      check(
        logits.shape == teacherLogits.shape,
        "DistillationObjective: the teacher's logits \(teacherLogits.shape) are not the student's \(logits.shape)")
      return DistillationLoss(
        student: logits.reshaped([rows, vocabulary]).indexSelect(axis: 0, indices: picked), teacher: soft,
        targets: hard, temperature: temperature, alpha: alpha
      ).loss
    }
    return (total, output)
  }
}
