/// The settings of a ``LanguageModel``, `Codable` so sweeps and paper tables name models in JSON.
///
/// `layerPattern` lists the mixer of each block, comma-separated (`"attn,attn"`; later families
/// add their own names, e.g. `"gla,attn"`). A `swa:W` entry is causal attention over a sliding
/// window of `W` tokens.
public struct LanguageModelConfig: Codable, Sendable, Equatable {
  public var vocabularySize: Int
  public var modelDimension: Int
  public var layerPattern: String
  public var heads: Int
  public var keyValueHeads: Int?
  /// Hidden width of the feed-forward blocks (default 4 × model dimension); 0 leaves them out.
  public var feedForwardDimension: Int?
  /// `"mlp"` (GELU) or `"swiglu"`.
  public var feedForward: String
  /// `"layernorm"` or `"rmsnorm"`.
  public var normalization: String
  /// The output head reuses the embedding matrix (Press & Wolf, 2017).
  public var tiedEmbeddings: Bool
  public var rotary: Bool
  public var attention: AttentionImplementation

  public init(
    vocabularySize: Int, modelDimension: Int, layerPattern: String = "attn,attn", heads: Int = 4,
    keyValueHeads: Int? = nil, feedForwardDimension: Int? = nil, feedForward: String = "mlp",
    normalization: String = "layernorm", tiedEmbeddings: Bool = true, rotary: Bool = true,
    attention: AttentionImplementation = .tiled
  ) {
    self.vocabularySize = vocabularySize
    self.modelDimension = modelDimension
    self.layerPattern = layerPattern
    self.heads = heads
    self.keyValueHeads = keyValueHeads
    self.feedForwardDimension = feedForwardDimension
    self.feedForward = feedForward
    self.normalization = normalization
    self.tiedEmbeddings = tiedEmbeddings
    self.rotary = rotary
    self.attention = attention
  }

  /// The mixer names of the blocks, in order.
  public var layers: [String] {
    layerPattern.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
  }
}

extension String {
  func trimmingCharacters(in set: Set<Character>) -> String {
    var s = Substring(self)
    while let f = s.first, set.contains(f) { s.removeFirst() }
    while let l = s.last, set.contains(l) { s.removeLast() }
    return String(s)
  }
}

extension Set where Element == Character {
  static let whitespaces: Set<Character> = [" ", "\t"]
}
