// Selections that copy part of a tensor: a contiguous range along one axis (slice), chosen rows
// (gather), and the stack/split pair built on them. Every view is [outer, length, inner] around the
// axis, so each op is a loop of row copies.

/// The elements whose index along `axis` lies in `range`; the axis keeps its place with length
/// `range.count` (slicing [B, T, H] along 1 with 3..<4 gives [B, 1, H]).
public func slice(_ input: Variable, alongAxis axis: Int, range: Range<Int>) -> Variable {
    let shape = input.shape
    precondition(axis >= 0 && axis < shape.count, "slice along axis \(axis) of a tensor of shape \(shape)")
    precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis],
                 "slice: range \(range) outside 0..<\(shape[axis]) on axis \(axis) of shape \(shape)")
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    let inputRowSize = shape[axis] * inner, outputRowSize = range.count * inner
    let offset = range.lowerBound * inner
    var outputShape = shape
    outputShape[axis] = range.count
    var output = Tensor(uninitializedShape: outputShape)
    let x = input.value.readPointer, y = output.mutablePointer
    for row in 0..<outer {
        (y + row * outputRowSize).update(from: x + row * inputRowSize + offset, count: outputRowSize)
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for row in 0..<outer {
            let source = dy + row * outputRowSize, destination = dx + row * inputRowSize + offset
            for index in 0..<outputRowSize { destination[index] += source[index] }
        }
    }
}

/// Rows of `input` [N, …] picked by index (repeats allowed) → [rows.count, …]. Backward adds each
/// output row's gradient into the row it came from, so a row picked twice gets both.
public func gather(_ input: Variable, rows: [Int]) -> Variable {
    precondition(input.shape.count >= 1, "gather needs a tensor with a first axis, got shape \(input.shape)")
    let rowCount = input.shape[0], rowSize = input.shape.dropFirst().reduce(1, *)
    for row in rows {
        precondition(row >= 0 && row < rowCount, "gather: row \(row) outside 0..<\(rowCount) for input \(input.shape)")
    }
    var output = Tensor(uninitializedShape: [rows.count] + input.shape.dropFirst())
    let x = input.value.readPointer, y = output.mutablePointer
    for (position, row) in rows.enumerated() {
        (y + position * rowSize).update(from: x + row * rowSize, count: rowSize)
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for (position, row) in rows.enumerated() {
            let source = dy + position * rowSize, destination = dx + row * rowSize
            for index in 0..<rowSize { destination[index] += source[index] }
        }
    }
}

/// Tensors of one shape joined along a new axis at `axis` (stacking k tensors [B, H] along 1 gives
/// [B, k, H]): a concat of the inputs given a length-1 axis there.
public func stack(_ inputs: [Variable], alongAxis axis: Int) -> Variable {
    precondition(!inputs.isEmpty, "stack needs at least one tensor")
    let shape = inputs[0].shape
    precondition(axis >= 0 && axis <= shape.count, "stack along axis \(axis) of tensors of shape \(shape)")
    for input in inputs {
        precondition(input.shape == shape, "stack: shapes \(shape) and \(input.shape) differ")
    }
    var expanded = shape
    expanded.insert(1, at: axis)
    return concat(inputs.map { reshape($0, expanded) }, alongAxis: axis)
}

/// The inverse of stack: one tensor per index along `axis`, with that axis removed.
public func split(_ input: Variable, alongAxis axis: Int) -> [Variable] {
    precondition(axis >= 0 && axis < input.shape.count, "split along axis \(axis) of a tensor of shape \(input.shape)")
    var reduced = input.shape
    reduced.remove(at: axis)
    return (0..<input.shape[axis]).map { index in
        reshape(slice(input, alongAxis: axis, range: index..<(index + 1)), reduced)
    }
}

/// The maximum over the last axis: [B, C, L] → [B, C] (the text CNN's max-pool over time).
/// Forward keeps where each maximum was; backward sends the gradient there.
public func maxOverTime(_ input: Variable) -> Variable {
    precondition(input.shape.count >= 2 && input.shape.last! > 0,
                 "maxOverTime needs [..., L] with L > 0, got \(input.shape)")
    let length = input.shape.last!, rows = input.value.count / length
    var output = Tensor(uninitializedShape: Array(input.shape.dropLast()))
    var positions = [Int](repeating: 0, count: rows)
    let x = input.value.readPointer, y = output.mutablePointer
    for row in 0..<rows {
        let source = x + row * length
        var best = source[0], bestIndex = 0
        for index in 1..<length where source[index] > best {
            best = source[index]
            bestIndex = index
        }
        y[row] = best
        positions[row] = bestIndex
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for row in 0..<rows { dx[row * length + positions[row]] += dy[row] }
    }
}

/// Swaps the last two axes: [..., M, N] → [..., N, M] (embeddings [B, L, E] to conv1d's [B, E, L]).
public func transposeLastTwoAxes(_ input: Variable) -> Variable {
    precondition(input.shape.count >= 2, "transposeLastTwoAxes needs rank 2 or more, got \(input.shape)")
    let rows = input.shape[input.shape.count - 2], columns = input.shape.last!
    let matrices = input.value.count / max(rows * columns, 1), matrixSize = rows * columns
    var outputShape = input.shape
    outputShape.swapAt(outputShape.count - 2, outputShape.count - 1)
    var output = Tensor(uninitializedShape: outputShape)
    let x = input.value.readPointer, y = output.mutablePointer
    for matrix in 0..<matrices {
        let source = x + matrix * matrixSize, destination = y + matrix * matrixSize
        for row in 0..<rows {
            for column in 0..<columns { destination[column * rows + row] = source[row * columns + column] }
        }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for matrix in 0..<matrices {
            let source = dy + matrix * matrixSize, destination = dx + matrix * matrixSize
            for row in 0..<rows {
                for column in 0..<columns { destination[row * columns + column] += source[column * rows + row] }
            }
        }
    }
}

/// Element-wise selection: output element i is `input[sourceIndices[i]]`, or 0 where the index is
/// negative; the output has `shape`. Any fixed re-arrangement with zero fill (shifts with zero
/// padding, cut-outs, crops) is one such map, and its gradient is the matching scatter-add, so
/// DiffAugment's translation and cutout stay differentiable for the generator.
public func gatherElements(_ input: Variable, sourceIndices: [Int32], shape: [Int]) -> Variable {
    precondition(sourceIndices.count == Tensor.elementCount(of: shape),
                 "gatherElements: \(sourceIndices.count) indices for output shape \(shape)")
    let inputCount = input.value.count
    var output = Tensor(uninitializedShape: shape)
    let x = input.value.readPointer, y = output.mutablePointer
    sourceIndices.withUnsafeBufferPointer { indices in
        for position in indices.indices {
            let source = Int(indices[position])
            precondition(source < inputCount, "gatherElements: index \(source) outside input of \(inputCount) elements")
            y[position] = source >= 0 ? x[source] : 0
        }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        sourceIndices.withUnsafeBufferPointer { indices in
            for position in indices.indices where indices[position] >= 0 {
                dx[Int(indices[position])] += dy[position]
            }
        }
    }
}
