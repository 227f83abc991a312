// Sums and means, over everything or along one axis. Accumulation runs in Double so that large
// reductions (a loss over a whole batch) do not lose low-order bits.

/// Sum of all elements: a scalar (shape []).
public func sum(_ input: Variable) -> Variable {
    reduceAll(input, factor: 1)
}

/// Mean of all elements: a scalar (shape []).
public func mean(_ input: Variable) -> Variable {
    precondition(input.value.count > 0, "mean of an empty tensor of shape \(input.shape)")
    return reduceAll(input, factor: 1 / Float(input.value.count))
}

private func reduceAll(_ input: Variable, factor: Float) -> Variable {
    let x = input.value.readPointer
    var total: Double = 0
    for index in 0..<input.value.count { total += Double(x[index]) }
    let output = Tensor(shape: [], values: [Float(total) * factor])
    return Variable(output, parents: [input]) { result in
        let seed = result.gradient!.scalarValue * factor
        let dx = input.gradientForAccumulation()
        for index in 0..<input.value.count { dx[index] += seed }
    }
}

/// Sum along `axis`, which disappears from the shape ([N, C, L] summed along 2 is [N, C]).
public func sum(_ input: Variable, alongAxis axis: Int) -> Variable {
    reduce(input, alongAxis: axis, factor: 1)
}

/// Mean along `axis`, which disappears from the shape.
public func mean(_ input: Variable, alongAxis axis: Int) -> Variable {
    precondition(axis >= 0 && axis < input.shape.count, "mean along axis \(axis) of a tensor of shape \(input.shape)")
    return reduce(input, alongAxis: axis, factor: 1 / Float(input.shape[axis]))
}

private func reduce(_ input: Variable, alongAxis axis: Int, factor: Float) -> Variable {
    let shape = input.shape
    precondition(axis >= 0 && axis < shape.count, "reduction along axis \(axis) of a tensor of shape \(shape)")
    // View the tensor as [outer, length, inner]; the reduction runs over the middle.
    let outer = shape[..<axis].reduce(1, *), length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
    var outputShape = shape
    outputShape.remove(at: axis)
    var output = Tensor(zeros: outputShape)
    let x = input.value.readPointer, y = output.mutablePointer
    for outerIndex in 0..<outer {
        for position in 0..<length {
            let source = x + (outerIndex * length + position) * inner
            let destination = y + outerIndex * inner
            for innerIndex in 0..<inner { destination[innerIndex] += source[innerIndex] }
        }
        for innerIndex in 0..<inner { y[outerIndex * inner + innerIndex] *= factor }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for outerIndex in 0..<outer {
            for position in 0..<length {
                let destination = dx + (outerIndex * length + position) * inner
                let source = dy + outerIndex * inner
                for innerIndex in 0..<inner { destination[innerIndex] += source[innerIndex] * factor }
            }
        }
    }
}

/// Mean over the real tokens of each sequence (sentence-transformers' mean pooling): hidden
/// [B, S, D] and a mask of B·S flags (true for a real token) → [B, D]. A sequence with no real
/// token pools to zeros, as the reference's clamp of the count to 1e-9 gives.
public func maskedMeanPooling(_ hidden: Variable, mask: [Bool]) -> Variable {
    precondition(hidden.shape.count == 3 && mask.count == hidden.shape[0] * hidden.shape[1],
                 "maskedMeanPooling needs hidden [B, S, D] and B·S mask flags, got \(hidden.shape) and \(mask.count) flags")
    let batch = hidden.shape[0], sequence = hidden.shape[1], width = hidden.shape[2]
    let weights: [Float] = (0..<batch).map { item in
        let real = mask[(item * sequence)..<((item + 1) * sequence)].count(where: { $0 })
        return real > 0 ? 1 / Float(real) : 0
    }
    var output = Tensor(zeros: [batch, width])
    let x = hidden.value.readPointer, y = output.mutablePointer
    for item in 0..<batch {
        let destination = y + item * width
        for position in 0..<sequence where mask[item * sequence + position] {
            let source = x + (item * sequence + position) * width
            for index in 0..<width { destination[index] += source[index] }
        }
        for index in 0..<width { destination[index] *= weights[item] }
    }
    return Variable(output, parents: [hidden]) { result in
        let dy = result.gradient!.readPointer, dx = hidden.gradientForAccumulation()
        for item in 0..<batch {
            let source = dy + item * width, weight = weights[item]
            for position in 0..<sequence where mask[item * sequence + position] {
                let destination = dx + (item * sequence + position) * width
                for index in 0..<width { destination[index] += source[index] * weight }
            }
        }
    }
}
