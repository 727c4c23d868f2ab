import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

@Suite("Distillation loss (Hinton KD)")
struct DistillationLossTests {
  static func logits(_ seed: UInt64) -> (student: Tensor, teacher: Tensor, targets: IndexTensor) {
    var rng = RandomGenerator(seed: seed)
    return (rng.normal([5, 7]), rng.normal([5, 7]) * 2, IndexTensor([0, 3, 6, 2, 2]))
  }

  @Test(
    "α = 1 is the cross-entropy; the soft term is the KL divergence written out; a teacher equal to the student gives 0"
  )
  func terms() {
    let l = Self.logits(1)
    let hardOnly = DistillationLoss(
      student: l.student, teacher: l.teacher, targets: l.targets, temperature: 3, alpha: 1)
    #expect(abs(hardOnly.loss.scalar - crossEntropy(l.student, targets: l.targets).scalar) < 1e-6)
    let kd = DistillationLoss(student: l.student, teacher: l.teacher, targets: l.targets, temperature: 2, alpha: 0.3)
    var kl: Double = 0
    let (s, t) = (l.student.scalars, l.teacher.scalars)
    for n in 0..<5 {
      let row = (n * 7)..<((n + 1) * 7)
      let p = t[row].map { Foundation.exp(Double($0) / 2) }, q = s[row].map { Foundation.exp(Double($0) / 2) }
      let (sp, sq) = (p.reduce(0, +), q.reduce(0, +))
      for c in 0..<7 { kl += p[c] / sp * Foundation.log((p[c] / sp) / (q[c] / sq)) }
    }
    #expect(abs(Double(kd.soft.scalar) - kl / 5) < 1e-5)
    #expect(abs(kd.loss.scalar - (0.3 * kd.hard.scalar + 0.7 * 4 * kd.soft.scalar)) < 1e-5)
    let same = DistillationLoss(student: l.student, teacher: l.student, targets: l.targets, temperature: 4, alpha: 0)
    #expect(abs(same.loss.scalar) < 1e-6)
  }

  @Test("the student's gradient = finite differences (2e-3); none reaches the teacher")
  func gradients() {
    let l = Self.logits(2)
    let result = GradientCheck.check([l.student]) { x in
      DistillationLoss(student: x[0], teacher: l.teacher, targets: l.targets, temperature: 2.5, alpha: 0.4).loss
        .reshaped(1)
    }
    #expect(result.worst < 2e-3, "\(result)")
    let teacherGradient = gradient(at: [l.student, l.teacher]) { x in
      DistillationLoss(student: x[0], teacher: x[1], targets: l.targets, temperature: 2.5, alpha: 0.4).loss
    }[1]
    #expect(teacherGradient.scalars.allSatisfy { $0 == 0 })
  }
}

@Suite("Early-exit confidence (CALM)")
struct ExitConfidenceTests {
  @Test("softmax max, top-1 − top-2 and state cosine on hand-made values; per-example and batch exit layers")
  func measures() {
    let logits = Tensor([0, 0, Float(Foundation.log(2.0)), 5, 5, 0], shape: [2, 3])
    let top = ExitConfidence.softmaxMax.confidence(logits: logits, hidden: nil, previousHidden: nil)
    #expect(abs(top[0] - 0.5) < 1e-6)
    let gap = ExitConfidence.softmaxDifference.confidence(logits: logits, hidden: nil, previousHidden: nil)
    #expect(abs(gap[0] - 0.25) < 1e-6 && abs(gap[1]) < 1e-6)  // a tie at the top gives 0
    let h = Tensor([1, 0, 3, 4], shape: [2, 2]), previous = Tensor([1, 1, 3, 4], shape: [2, 2])
    let state = ExitConfidence.hiddenStateCosine.confidence(logits: nil, hidden: h, previousHidden: previous)
    #expect(abs(state[0] - 1 / Float(2).squareRoot()) < 1e-6 && abs(state[1] - 1) < 1e-6)
    #expect(ExitConfidence.hiddenStateCosine.confidence(logits: nil, hidden: h, previousHidden: nil) == [0, 0])
    let perLayer: [[Float]] = [[0.2, 0.95], [0.7, 0.6], [0.95, 0.99]]
    #expect(ExitConfidence.exitLayers(perLayer, threshold: 0.9) == [3, 1])
    #expect(ExitConfidence.exitLayers(perLayer, threshold: 0.99) == [3, 3])  // never confident: the last layer
    #expect(ExitConfidence.batchExitLayer(perLayer, threshold: 0.9) == 3)
    #expect(ExitConfidence.batchExitLayer(perLayer, threshold: 0.5) == 2)
  }
}
