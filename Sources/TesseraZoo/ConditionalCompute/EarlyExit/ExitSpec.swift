import TesseraCore
import TesseraNN

/// An exit head after a block (``BlockSpec/exit``): the model's prediction from that block's
/// output, trained by ``Objective/earlyExit(weights:)`` and used at inference by an
/// ``ExitPolicy`` to stop computing for the examples that are already confident (CALM, Schuster
/// et al., 2022; early-exit BERTs). `shared` reads the block's output through the model's final
/// norm and output head, as CALM does; `own` gives the exit its own norm and head.
public struct ExitSpec: Codable, Sendable, Equatable {
  public enum Head: String, Codable, Sendable, CaseIterable {
    case shared, own
  }
  public var head: Head

  public init(head: Head = .shared) { self.head = head }

  enum CodingKeys: String, CodingKey, CaseIterable { case head }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
    let c = try decoder.container(keyedBy: CodingKeys.self)
    head = try c.decodeIfPresent(Head.self, forKey: .head) ?? .shared
  }
}

extension ExitSpec.Head {
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

/// When an example leaves the model at inference (``ForwardOptions/exit``): at each exit head,
/// the confidence (``ExitConfidence``) of its prediction at `position` (nil: the last position,
/// where a classifier or a next-token query reads its answer); an example whose confidence
/// reaches `threshold` exits — its logits are that head's, and the blocks after it never see it.
public struct ExitPolicy: Sendable, Equatable {
  public var measure: ExitConfidence
  public var threshold: Float
  public var position: Int?

  public init(measure: ExitConfidence = .softmaxMax, threshold: Float, position: Int? = nil) {
    self.measure = measure
    self.threshold = threshold
    self.position = position
  }
}

/// An exit head's own parameters (an ``ExitSpec/Head/own`` head: a norm and an untied
/// projection to the vocabulary); a shared head has none and reads through the model's.
public final class ExitHead: Module {
  public let norm: Norm?
  public let head: Linear?

  init(_ spec: ExitSpec, normKind: NormKind, width: Int, vocabulary: Int, generator: inout RandomGenerator) {
    norm = spec.head == .own ? Norm(normKind, width) : nil
    head = spec.head == .own ? Linear(width, vocabulary, bias: false, generator: &generator) : nil
  }
}
