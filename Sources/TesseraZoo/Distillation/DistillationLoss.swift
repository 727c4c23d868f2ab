import TesseraCore

/// Hinton et al.'s knowledge-distillation loss ("Distilling the Knowledge in a Neural Network",
/// 2015), in torchdistill's `KDLoss` convention: over `N` examples of `C` classes,
///
///     hard = mean_n CE(student_n, target_n)
///     soft = (1/N) Σ_n KL(softmax(teacher_n / T) ‖ softmax(student_n / T))
///     loss = α · hard + (1 − α) · T² · soft
///
/// α weights the hard labels; T² keeps the soft term's gradient on the scale of the hard one's
/// as T grows. The teacher is a constant: no gradient reaches it.
public struct DistillationLoss {
  /// The loss and its two terms (`soft` without its T² factor), each a scalar tensor.
  public let loss: Tensor
  public let soft: Tensor
  public let hard: Tensor

  /// `student` and `teacher` logits `[N, C]`, `targets` `[N]` class ids.
  public init(student: Tensor, teacher: Tensor, targets: IndexTensor, temperature: Float, alpha: Float) {
    check(
      student.rank == 2 && teacher.shape == student.shape && targets.shape == [student.shape[0]],
      "DistillationLoss: student \(student.shape), teacher \(teacher.shape) and targets \(targets.shape) must be [N, C], [N, C], [N]"
    )
    check(temperature > 0, "DistillationLoss: the temperature must be positive, got \(temperature)")
    let n = Float(student.shape[0])
    hard = crossEntropy(student, targets: targets)
    let teacherLog = (teacher.detached() * (1 / temperature)).logSoftmax(axis: -1).detached()
    let teacherProbabilities = teacherLog.exp()
    let studentLog = (student * (1 / temperature)).logSoftmax(axis: -1)
    soft = (teacherProbabilities * (teacherLog - studentLog)).sum() * (1 / n)
    loss = alpha * hard + (1 - alpha) * temperature * temperature * soft
  }
}
