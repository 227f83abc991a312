import ReptileCore

/// Inverted dropout: each element is zeroed with `probability` and the survivors are scaled by
/// 1/(1 − probability), so evaluation needs no rescaling. The mask comes from the caller's seeded
/// generator, never from a global one.
public func dropout(_ input: Variable, probability: Float, random: inout SeededRandom) -> Variable {
    precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1), got \(probability) for input \(input.shape)")
    if probability == 0 { return input }
    let keepScale = 1 / (1 - probability)
    var mask = Tensor(uninitializedShape: input.shape)
    let m = mask.mutablePointer
    for index in 0..<mask.count { m[index] = random.nextUnitFloat() < probability ? 0 : keepScale }
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    for index in 0..<output.count { y[index] = x[index] * m[index] }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, m = mask.readPointer, dx = input.gradientForAccumulation()
        for index in 0..<result.value.count { dx[index] += dy[index] * m[index] }
    }
}

/// Dropout layer: active in training, the identity in evaluation.
public final class Dropout: Layer {
    public let probability: Float
    public private(set) var isTraining = true

    public init(probability: Float) {
        self.probability = probability
    }

    public var parameters: [Variable] { [] }
    public func setTraining(_ training: Bool) { isTraining = training }

    public func callAsFunction(_ input: Variable, random: inout SeededRandom) -> Variable {
        isTraining ? dropout(input, probability: probability, random: &random) : input
    }
}
