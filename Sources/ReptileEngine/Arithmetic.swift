// Elementwise arithmetic. The right operand may have the same shape as the left, or be a suffix of
// it (a bias [C] added to [N, C]); its gradient then sums over the repeated leading block.

/// How many times `rhs` repeats inside `lhs` when its shape is a suffix of lhs's shape.
private func broadcastRepeats(_ lhs: [Int], _ rhs: [Int], operation: String) -> Int {
    precondition(rhs.count <= lhs.count && Array(lhs.suffix(rhs.count)) == rhs,
                 "\(operation): shape \(rhs) must equal shape \(lhs) or one of its trailing parts")
    return lhs.dropLast(rhs.count).reduce(1, *)
}

public func + (lhs: Variable, rhs: Variable) -> Variable {
    let repeats = broadcastRepeats(lhs.shape, rhs.shape, operation: "add")
    let blockSize = rhs.value.count
    var output = Tensor(uninitializedShape: lhs.shape)
    let a = lhs.value.readPointer, b = rhs.value.readPointer, y = output.mutablePointer
    for block in 0..<repeats {
        let offset = block * blockSize
        for index in 0..<blockSize { y[offset + index] = a[offset + index] + b[index] }
    }
    return Variable(output, parents: [lhs, rhs]) { result in
        let dy = result.gradient!.readPointer
        if lhs.requiresGradient {
            let dx = lhs.gradientForAccumulation()
            for index in 0..<(repeats * blockSize) { dx[index] += dy[index] }
        }
        if rhs.requiresGradient {
            let db = rhs.gradientForAccumulation()
            for block in 0..<repeats {
                let offset = block * blockSize
                for index in 0..<blockSize { db[index] += dy[offset + index] }
            }
        }
    }
}

public func - (lhs: Variable, rhs: Variable) -> Variable {
    lhs + scale(rhs, by: -1)
}

/// Elementwise (Hadamard) product.
public func * (lhs: Variable, rhs: Variable) -> Variable {
    let repeats = broadcastRepeats(lhs.shape, rhs.shape, operation: "multiply")
    let blockSize = rhs.value.count
    var output = Tensor(uninitializedShape: lhs.shape)
    let a = lhs.value.readPointer, b = rhs.value.readPointer, y = output.mutablePointer
    for block in 0..<repeats {
        let offset = block * blockSize
        for index in 0..<blockSize { y[offset + index] = a[offset + index] * b[index] }
    }
    return Variable(output, parents: [lhs, rhs]) { result in
        let dy = result.gradient!.readPointer
        let a = lhs.value.readPointer, b = rhs.value.readPointer
        if lhs.requiresGradient {
            let da = lhs.gradientForAccumulation()
            for block in 0..<repeats {
                let offset = block * blockSize
                for index in 0..<blockSize { da[offset + index] += dy[offset + index] * b[index] }
            }
        }
        if rhs.requiresGradient {
            let db = rhs.gradientForAccumulation()
            for block in 0..<repeats {
                let offset = block * blockSize
                for index in 0..<blockSize { db[index] += dy[offset + index] * a[offset + index] }
            }
        }
    }
}

/// factor · x.
public func scale(_ input: Variable, by factor: Float) -> Variable {
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    for index in 0..<output.count { y[index] = x[index] * factor }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        for index in 0..<result.value.count { dx[index] += dy[index] * factor }
    }
}
