import Foundation

// Softmax and log-softmax along the last axis, each row shifted by its maximum so expf never
// overflows.

/// Writes log-softmax of each `width`-long row of `x` into `y`.
func logSoftmaxRows(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for row in 0..<rows {
        let source = x + row * width, destination = y + row * width
        var maximum = -Float.infinity
        for index in 0..<width { maximum = max(maximum, source[index]) }
        var total: Float = 0
        for index in 0..<width { total += expf(source[index] - maximum) }
        // Subtract the maximum first: folding it into one constant loses bits when |maximum| is large.
        let logTotal = logf(total)
        for index in 0..<width { destination[index] = (source[index] - maximum) - logTotal }
    }
}

public func softmax(_ input: Variable) -> Variable {
    let width = input.shape.last ?? 1
    let rows = input.value.count / max(width, 1)
    var output = Tensor(uninitializedShape: input.shape)
    let y = output.mutablePointer
    logSoftmaxRows(input.value.readPointer, into: y, rows: rows, width: width)
    for index in 0..<output.count { y[index] = expf(y[index]) }
    return Variable(output, parents: [input]) { result in
        // dx = y ⊙ (dy − Σ dy·y), row by row.
        let dy = result.gradient!.readPointer, y = result.value.readPointer
        let dx = input.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width
            var dot: Float = 0
            for index in 0..<width { dot += dy[offset + index] * y[offset + index] }
            for index in 0..<width { dx[offset + index] += y[offset + index] * (dy[offset + index] - dot) }
        }
    }
}

public func logSoftmax(_ input: Variable) -> Variable {
    let width = input.shape.last ?? 1
    let rows = input.value.count / max(width, 1)
    var output = Tensor(uninitializedShape: input.shape)
    logSoftmaxRows(input.value.readPointer, into: output.mutablePointer, rows: rows, width: width)
    return Variable(output, parents: [input]) { result in
        // dx = dy − softmax · Σ dy, row by row.
        let dy = result.gradient!.readPointer, y = result.value.readPointer
        let dx = input.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width
            var total: Float = 0
            for index in 0..<width { total += dy[offset + index] }
            for index in 0..<width { dx[offset + index] += dy[offset + index] - expf(y[offset + index]) * total }
        }
    }
}
