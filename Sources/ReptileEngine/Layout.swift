// Shape changes that move no arithmetic: reshape (shares storage) and concat.

/// The same values under a new shape with the same element count. One dimension may be -1 and
/// is then inferred (`reshape(x, [batch, -1])` flattens).
public func reshape(_ input: Variable, _ shape: [Int]) -> Variable {
    var resolved = shape
    if let inferred = shape.firstIndex(of: -1) {
        let known = shape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
        precondition(known > 0 && input.value.count % known == 0,
                     "Cannot reshape tensor of shape \(input.shape) to \(shape)")
        resolved[inferred] = input.value.count / known
    }
    let output = input.value.reshaped(resolved)
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for index in 0..<result.value.count { dx[index] += dy[index] }
    }
}

/// Joins tensors along `axis`; every other dimension must agree.
public func concat(_ inputs: [Variable], alongAxis axis: Int) -> Variable {
    precondition(!inputs.isEmpty, "concat needs at least one tensor")
    let first = inputs[0].shape
    precondition(axis >= 0 && axis < first.count, "concat along axis \(axis) of tensors of shape \(first)")
    for input in inputs {
        var expected = first, actual = input.shape
        precondition(expected.count == actual.count,
                     "concat along axis \(axis): shapes \(first) and \(input.shape) differ in rank")
        expected[axis] = 0
        actual[axis] = 0
        precondition(expected == actual,
                     "concat along axis \(axis): shapes \(first) and \(input.shape) differ outside that axis")
    }
    // Each input is [outer, its length along axis × inner]; the output interleaves those rows.
    let outer = first[..<axis].reduce(1, *), inner = first[(axis + 1)...].reduce(1, *)
    let rowSizes = inputs.map { $0.shape[axis] * inner }
    let outputRowSize = rowSizes.reduce(0, +)
    var outputShape = first
    outputShape[axis] = inputs.map { $0.shape[axis] }.reduce(0, +)
    var output = Tensor(uninitializedShape: outputShape)
    let y = output.mutablePointer
    var columnOffset = 0
    for (input, rowSize) in zip(inputs, rowSizes) {
        let x = input.value.readPointer
        for row in 0..<outer {
            (y + row * outputRowSize + columnOffset).update(from: x + row * rowSize, count: rowSize)
        }
        columnOffset += rowSize
    }
    return Variable(output, parents: inputs) { result in
        let dy = result.gradient!.readPointer
        var columnOffset = 0
        for (input, rowSize) in zip(inputs, rowSizes) {
            if input.requiresGradient {
                let dx = input.gradientForAccumulation()
                for row in 0..<outer {
                    let source = dy + row * outputRowSize + columnOffset, destination = dx + row * rowSize
                    for index in 0..<rowSize { destination[index] += source[index] }
                }
            }
            columnOffset += rowSize
        }
    }
}
