import TesseraCore

/// Several tasks of one vocabulary and length in one stream, each sequence tagged with its task's
/// context id (its index in `tasks`): the multi-context data of module pruning, where a gate
/// predictor reads the id and learns which modules each task needs. Sequence `n` of batch `i` is
/// task `(i · size + n) mod tasks.count` — every batch holds the tasks in turn — drawn as that
/// task's example of the same position, so each task's stream is its own.
public struct MultiContextTasks: SequenceTask, @unchecked Sendable {
  public let tasks: [any SequenceTask]
  public let names: [String]
  public var vocabularySize: Int { tasks[0].vocabularySize }
  public var sequenceLength: Int { tasks[0].sequenceLength }

  public init(_ tasks: [(name: String, task: any SequenceTask)]) {
    check(!tasks.isEmpty, "MultiContextTasks: no tasks")
    let (v, t) = (tasks[0].task.vocabularySize, tasks[0].task.sequenceLength)
    for (name, task) in tasks {
      check(
        task.vocabularySize == v && task.sequenceLength == t,
        "MultiContextTasks: \(name) has vocabulary \(task.vocabularySize) and length \(task.sequenceLength); the first task has \(v) and \(t)"
      )
    }
    self.tasks = tasks.map(\.task)
    names = tasks.map(\.name)
  }

  func assemble(_ index: Int, size: Int, _ draw: (any SequenceTask, Int) -> TokenBatch) -> TokenBatch {
    var inputs: [Int] = [], targets: [Int] = [], contexts: [Int] = []
    for n in 0..<size {
      let position = index * size + n
      let context = position % tasks.count
      let one = draw(tasks[context], position / tasks.count)
      inputs += one.inputs.values
      targets += one.targets.values
      contexts.append(context)
    }
    return TokenBatch(
      inputs: IndexTensor(inputs, shape: [size, sequenceLength]),
      targets: IndexTensor(targets, shape: [size, sequenceLength]), contexts: contexts)
  }

  public func batch(_ index: Int, size: Int) -> TokenBatch {
    assemble(index, size: size) { $0.batch($1, size: 1) }
  }

  public func evaluationBatch(_ index: Int, size: Int) -> TokenBatch {
    assemble(index, size: size) { $0.evaluationBatch($1, size: 1) }
  }

  /// Held-out batch `index` of task `context` alone, its sequences tagged with the context.
  public func evaluationBatch(_ index: Int, size: Int, context: Int) -> TokenBatch {
    var batch = tasks[context].evaluationBatch(index, size: size)
    batch.contexts = Array(repeating: context, count: size)
    return batch
  }
}
