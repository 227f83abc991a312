import ReptileCore

/// Looks up rows of `weight` [V, D]: indices of shape `indexShape` → [indexShape..., D].
/// Backward adds each output row's gradient into the row it came from (a scatter-add).
public func embedding(_ indices: [Int], indexShape: [Int], weight: Variable) -> Variable {
    precondition(weight.shape.count == 2, "embedding needs a weight [V, D], got \(weight.shape)")
    precondition(indexShape.reduce(1, *) == indices.count,
                 "embedding: \(indices.count) indices do not fill index shape \(indexShape)")
    let vocabularySize = weight.shape[0], width = weight.shape[1]
    for index in indices {
        precondition(index >= 0 && index < vocabularySize,
                     "embedding: index \(index) outside 0..<\(vocabularySize) for weight \(weight.shape)")
    }
    var output = Tensor(uninitializedShape: indexShape + [width])
    let table = weight.value.readPointer, y = output.mutablePointer
    for (position, index) in indices.enumerated() {
        (y + position * width).update(from: table + index * width, count: width)
    }
    return Variable(output, parents: [weight]) { result in
        let dy = result.gradient!.readPointer, dTable = weight.gradientForAccumulation()
        for (position, index) in indices.enumerated() {
            let source = dy + position * width, destination = dTable + index * width
            for column in 0..<width { destination[column] += source[column] }
        }
    }
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
