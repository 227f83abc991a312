import Foundation

// Losses, each fused with its own backward and averaged over the batch (PyTorch's "mean").

/// Cross-entropy of logits [N, C] against class indices, with optional label smoothing: the target
/// distribution is (1 − ε)·onehot + ε/C. Fused with softmax, so backward is (softmax − target) / N.
public func crossEntropy(logits: Variable, labels: [Int], labelSmoothing: Float = 0) -> Variable {
    precondition(logits.shape.count == 2, "crossEntropy needs logits [N, C], got shape \(logits.shape)")
    let rows = logits.shape[0], classes = logits.shape[1]
    precondition(labels.count == rows, "crossEntropy: \(labels.count) labels for logits of shape \(logits.shape)")
    precondition(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing must be in [0, 1), got \(labelSmoothing)")
    for label in labels {
        precondition(label >= 0 && label < classes, "crossEntropy: label \(label) outside 0..<\(classes) for logits \(logits.shape)")
    }
    // Softmax once, through the vectorisable exp (libm's expf is a scalar call, ~3 ns per logit,
    // and W2 has 10M logits), cached for backward, which then needs no exp at all.
    var probabilities = Tensor(uninitializedShape: logits.shape)
    let x = logits.value.readPointer, p = probabilities.mutablePointer
    let offTarget = labelSmoothing / Float(classes), onTarget = 1 - labelSmoothing + offTarget
    // Rows split over the engine's threads when there are many logits (W2: 2048 × 5000); each
    // worker sums its rows' losses, and the partial sums are added in worker order.
    let workers = workerCount(count: rows, minimumPerWorker: max(1, (1 << 18) / max(classes, 1)))
    var workerTotals = [Double](repeating: 0, count: workers)
    labels.withUnsafeBufferPointer { labelBuffer in
        workerTotals.withUnsafeMutableBufferPointer { totals in
            let labelPointer = labelBuffer.baseAddress!, totalPointer = totals.baseAddress!
            runWorkers(workers) { worker in
                var total: Double = 0
                for row in workerRange(worker, of: workers, count: rows) {
                    let source = x + row * classes, destination = p + row * classes
                    let maximum = maximumOfElements(source, count: classes)
                    for index in 0..<classes { destination[index] = fastExponential(source[index] - maximum) }
                    let rowTotal = sumOfElements(UnsafePointer(destination), count: classes)
                    let logTotal = logf(rowTotal), scale = 1 / rowTotal
                    for index in 0..<classes { destination[index] *= scale }
                    // log p_i = (x_i − max) − log Σ; the maximum is subtracted first so no bits are lost.
                    var rowSum: Float = 0
                    if labelSmoothing > 0 {
                        rowSum = (sumOfElements(source, count: classes) - Float(classes) * maximum) - Float(classes) * logTotal
                    }
                    let targetLogProbability = (source[labelPointer[row]] - maximum) - logTotal
                    total -= Double(offTarget * rowSum + (onTarget - offTarget) * targetLogProbability)
                }
                totalPointer[worker] = total
            }
        }
    }
    let total = workerTotals.reduce(0, +)
    let loss = Tensor(shape: [], values: [Float(total / Double(rows))])
    return Variable(loss, parents: [logits]) { result in
        let seed = result.gradient!.scalarValue / Float(rows)
        let shift = seed * offTarget, labelShift = seed * (onTarget - offTarget)
        if logits.gradient == nil {
            // First contribution: turn the cached softmax into the gradient in place, which saves
            // zeroing a logits-sized buffer and adding into it.
            let g = probabilities.mutablePointer
            forEachRange(count: rows * classes, minimumPerWorker: pointwiseElementsPerWorker) { range in
                for index in range { g[index] = seed * g[index] - shift }
            }
            for row in 0..<rows { g[row * classes + labels[row]] -= labelShift }
            logits.gradient = probabilities
        } else {
            let p = probabilities.readPointer, dx = logits.gradientForAccumulation()
            for index in 0..<(rows * classes) { dx[index] += seed * p[index] - shift }
            for row in 0..<rows { dx[row * classes + labels[row]] -= labelShift }
        }
    }
}

/// Binary cross-entropy on logits, in the stable form max(x, 0) − x·t + log(1 + e^−|x|), averaged
/// over all elements. Targets may be soft (any value in [0, 1]).
public func binaryCrossEntropyWithLogits(logits: Variable, targets: Tensor) -> Variable {
    precondition(targets.count == logits.value.count,
                 "binaryCrossEntropyWithLogits: targets of shape \(targets.shape) for logits of shape \(logits.shape)")
    let count = logits.value.count
    let x = logits.value.readPointer, t = targets.readPointer
    var total: Double = 0
    for index in 0..<count {
        let value = x[index]
        total += Double(max(value, 0) - value * t[index] + log1pf(expf(-abs(value))))
    }
    let loss = Tensor(shape: [], values: [Float(total / Double(count))])
    return Variable(loss, parents: [logits]) { result in
        let seed = result.gradient!.scalarValue / Float(count)
        let x = logits.value.readPointer, t = targets.readPointer, dx = logits.gradientForAccumulation()
        for index in 0..<count { dx[index] += seed * (1 / (1 + expf(-x[index])) - t[index]) }
    }
}

/// Mean squared error against constant targets of the same element count.
public func meanSquaredError(_ predictions: Variable, targets: Tensor) -> Variable {
    precondition(targets.count == predictions.value.count,
                 "meanSquaredError: targets of shape \(targets.shape) for predictions of shape \(predictions.shape)")
    let count = predictions.value.count
    let x = predictions.value.readPointer, t = targets.readPointer
    var total: Double = 0
    for index in 0..<count {
        let difference = Double(x[index] - t[index])
        total += difference * difference
    }
    let loss = Tensor(shape: [], values: [Float(total / Double(count))])
    return Variable(loss, parents: [predictions]) { result in
        let seed = 2 * result.gradient!.scalarValue / Float(count)
        let x = predictions.value.readPointer, t = targets.readPointer, dx = predictions.gradientForAccumulation()
        for index in 0..<count { dx[index] += seed * (x[index] - t[index]) }
    }
}

/// A language model's loss: cross-entropy of logits [N, V] against next-token targets, where a
/// negative target (a prompt or padding position) counts for nothing; the mean over counted rows.
public func tokenCrossEntropy(logits: Variable, targets: [Int]) -> Variable {
    precondition(logits.shape.count == 2 && targets.count == logits.shape[0],
                 "tokenCrossEntropy: \(targets.count) targets for logits \(logits.shape)")
    let rows = logits.shape[0], classes = logits.shape[1]
    precondition(targets.allSatisfy { $0 < classes }, "tokenCrossEntropy: a target outside 0..<\(classes)")
    let counted = max(1, targets.filter { $0 >= 0 }.count)
    var probabilities = Tensor(uninitializedShape: logits.shape)
    let x = logits.value.readPointer, p = probabilities.mutablePointer
    let workers = workerCount(count: rows, minimumPerWorker: max(1, (1 << 18) / max(classes, 1)))
    var workerTotals = [Double](repeating: 0, count: workers)
    workerTotals.withUnsafeMutableBufferPointer { totals in
        let totalPointer = totals.baseAddress!
        runWorkers(workers) { worker in
            var total: Double = 0
            for row in workerRange(worker, of: workers, count: rows) where targets[row] >= 0 {
                let source = x + row * classes, destination = p + row * classes
                let maximum = maximumOfElements(source, count: classes)
                for index in 0..<classes { destination[index] = fastExponential(source[index] - maximum) }
                let rowTotal = sumOfElements(UnsafePointer(destination), count: classes)
                let scale = 1 / rowTotal
                for index in 0..<classes { destination[index] *= scale }
                total -= Double((source[targets[row]] - maximum) - logf(rowTotal))
            }
            totalPointer[worker] = total
        }
    }
    let loss = Tensor(shape: [], values: [Float(workerTotals.reduce(0, +) / Double(counted))])
    return Variable(loss, parents: [logits]) { result in
        let seed = result.gradient!.scalarValue / Float(counted)
        if logits.gradient == nil && counted == rows {
            // Every row counted and no gradient yet: the cached softmax becomes the gradient in place,
            // which saves a logits-sized buffer (100 MB for a batch of 512 tokens of SmolLM2).
            let g = probabilities.mutablePointer
            forEachRange(count: rows * classes, minimumPerWorker: pointwiseElementsPerWorker) { range in
                for index in range { g[index] *= seed }
            }
            for row in 0..<rows { g[row * classes + targets[row]] -= seed }
            logits.gradient = probabilities
            return
        }
        let p = probabilities.readPointer, dx = logits.gradientForAccumulation()
        forEachRange(count: rows, minimumPerWorker: max(1, pointwiseElementsPerWorker / max(classes, 1))) { range in
            for row in range where targets[row] >= 0 {
                let source = p + row * classes, destination = dx + row * classes
                for index in 0..<classes { destination[index] += seed * source[index] }
                destination[targets[row]] -= seed
            }
        }
    }
}
