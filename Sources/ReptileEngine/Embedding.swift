import ReptileCore

/// Looks up rows of `weight` [V, D]: indices of shape `indexShape` → [indexShape..., D]; a gather
/// of table rows, so backward scatter-adds each output row's gradient into the row it came from.
public func embedding(_ indices: [Int], indexShape: [Int], weight: Variable) -> Variable {
    precondition(weight.shape.count == 2, "embedding needs a weight [V, D], got \(weight.shape)")
    precondition(indexShape.reduce(1, *) == indices.count,
                 "embedding: \(indices.count) indices do not fill index shape \(indexShape)")
    return reshape(gather(weight, rows: indices), indexShape + [weight.shape[1]])
}

/// Embedding layer: a [vocabularySize, embeddingSize] table drawn from N(0, 1) (PyTorch's default).
public final class Embedding: Layer {
    public let weight: Variable

    public init(vocabularySize: Int, embeddingSize: Int, name: String, random: inout SeededRandom) {
        weight = Variable(parameter: Tensor(normalShape: [vocabularySize, embeddingSize], random: &random),
                          name: qualifiedName(name, "weight"))
    }

    public var parameters: [Variable] { [weight] }

    public func callAsFunction(_ indices: [Int], indexShape: [Int]) -> Variable {
        embedding(indices, indexShape: indexShape, weight: weight)
    }
}
