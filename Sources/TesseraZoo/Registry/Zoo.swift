import TesseraNN

/// The architecture zoo's registry: every layer family a ``ModelSpec`` can name, listed once.
/// Tests, benchmarks, notebooks and the README's table iterate this list.
public enum Zoo {
  /// The registered families, by kind. Adding a family is one line here.
  public static let families = try! FamilyRegistry([
    SoftmaxAttentionLayer.self,
    SlidingWindowAttentionLayer.self,
    ForgettingAttentionLayer.self,
    LongformerAttentionLayer.self,
    BigBirdAttentionLayer.self,
    TopKAttentionLayer.self,
    MoBALayer.self,
    NativeSparseAttentionLayer.self,
    LinearAttentionLayer.self,
    RetentionLayer.self,
    GatedLinearAttentionLayer.self,
    DeltaNetLayer.self,
    GatedDeltaNetLayer.self,
    TestTimeTrainingLinearLayer.self,
    TestTimeTrainingMLPLayer.self,
    DiagonalStateSpaceLayer.self,
    MambaBlock.self,
    Mamba2Block.self,
    MLP.self,
    SwiGLU.self,
    TokenChoiceLayer.self,
    SwitchLayer.self,
    ExpertChoiceLayer.self,
    DeepSeekMoELayer.self,
    ChunkingLayer.self,
  ])
}
