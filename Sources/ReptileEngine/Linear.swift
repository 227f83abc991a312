import ReptileCore

/// y = x · Wᵀ + b with x [N, in] (leading dimensions are flattened into N), W [out, in], b [out].
public func linear(_ input: Variable, weight: Variable, bias: Variable?) -> Variable {
    precondition(weight.shape.count == 2, "linear needs a weight [out, in], got \(weight.shape)")
    let outputSize = weight.shape[0], inputSize = weight.shape[1]
    precondition(input.shape.last == inputSize,
                 "linear: input \(input.shape) does not end in \(inputSize) features for weight \(weight.shape)")
    if let bias { precondition(bias.shape == [outputSize], "linear: bias \(bias.shape) should be [\(outputSize)]") }
    let rows = input.value.count / inputSize
    var output = Tensor(uninitializedShape: Array(input.shape.dropLast()) + [outputSize])
    let y = output.mutablePointer
    if let bias {
        // Start from the bias in every row, then accumulate the product onto it (beta = 1).
        let b = bias.value.readPointer
        // W2's output layer fills 2048 rows of 5000: worth the engine's threads.
        forEachRange(count: rows, minimumPerWorker: max(1, pointwiseElementsPerWorker / max(outputSize, 1))) { range in
            for row in range { (y + row * outputSize).update(from: b, count: outputSize) }
        }
    }
    matrixMultiply(input.value.readPointer, weight.value.readPointer, transposeB: true, into: y,
                   rows: rows, columns: outputSize, inner: inputSize, beta: bias == nil ? 0 : 1)

    let parents = bias.map { [input, weight, $0] } ?? [input, weight]
    return Variable(output, parents: parents) { result in
        let dy = result.gradient!.readPointer
        if input.requiresGradient {
            // dx [N, in] += dy [N, out] · W [out, in]
            matrixMultiply(dy, weight.value.readPointer, into: input.gradientForAccumulation(),
                           rows: rows, columns: inputSize, inner: outputSize, beta: 1)
        }
        if weight.requiresGradient {
            // dW [out, in] += dyᵀ · x
            matrixMultiply(dy, transposeA: true, input.value.readPointer, into: weight.gradientForAccumulation(),
                           rows: outputSize, columns: inputSize, inner: rows, beta: 1)
        }
        if let bias, bias.requiresGradient {
            // Columns split over the engine's threads: each column's sum keeps its row order.
            let db = bias.gradientForAccumulation()
            forEachRange(count: outputSize, minimumPerWorker: max(1, pointwiseElementsPerWorker / max(rows, 1))) { columns in
                for row in 0..<rows {
                    let source = dy + row * outputSize
                    for index in columns { db[index] += source[index] }
                }
            }
        }
    }
}

/// Fully connected layer, PyTorch's default init (uniform ±1/√inputSize).
public final class Linear: Layer {
    public let weight: Variable
    public let bias: Variable?

    public init(inputSize: Int, outputSize: Int, useBias: Bool = true, name: String, random: inout SeededRandom) {
        let bound = 1 / Float(inputSize).squareRoot()
        weight = uniformParameter([outputSize, inputSize], bound: bound, name: qualifiedName(name, "weight"), random: &random)
        bias = useBias ? uniformParameter([outputSize], bound: bound, name: qualifiedName(name, "bias"), random: &random) : nil
    }

    /// A layer over given parameters (weights loaded from elsewhere, or initialised otherwise).
    public init(weight: Variable, bias: Variable?) {
        precondition(weight.shape.count == 2 && (bias == nil || bias!.shape == [weight.shape[0]]),
                     "Linear needs weight [out, in] and bias [out], got \(weight.shape) and \(bias?.shape ?? [])")
        self.weight = weight
        self.bias = bias
    }

    public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ input: Variable) -> Variable {
        linear(input, weight: weight, bias: bias)
    }
}
