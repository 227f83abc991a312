import ReptileCore

// Batch-norm and layer-norm as fused forward/backward pairs that cache the normalised input x̂
// and the reciprocal standard deviation (llm.c's layernorm shape).

/// Running statistics of a batch-norm layer, updated in training and used in evaluation.
public final class RunningStatistics {
    public var mean: Variable
    public var variance: Variable
    public let momentum: Float

    init(channels: Int, momentum: Float, name: String) {
        mean = Variable(Tensor(zeros: [channels]), name: qualifiedName(name, "running_mean"))
        variance = Variable(Tensor(shape: [channels], repeating: 1), name: qualifiedName(name, "running_var"))
        self.momentum = momentum
    }
}

/// Batch normalisation over [N, C] or [N, C, spatial…], per channel C.
/// Training: batch statistics (biased variance), and the running statistics move towards them
/// with `momentum` (the unbiased variance, as PyTorch). Evaluation: the running statistics.
public func batchNorm(_ input: Variable, scale: Variable, shift: Variable, statistics: RunningStatistics,
                      training: Bool, epsilon: Float = 1e-5) -> Variable {
    precondition(input.shape.count >= 2, "batchNorm needs [N, C, …], got \(input.shape)")
    let batch = input.shape[0], channels = input.shape[1], positions = input.shape[2...].reduce(1, *)
    precondition(scale.shape == [channels] && shift.shape == [channels],
                 "batchNorm: scale \(scale.shape) and shift \(shift.shape) should be [\(channels)] for input \(input.shape)")
    let reductionCount = batch * positions
    precondition(!training || reductionCount > 1, "batchNorm in training needs more than one value per channel, input \(input.shape)")
    let x = input.value.readPointer

    var mean = [Float](repeating: 0, count: channels), reciprocalDeviation = [Float](repeating: 0, count: channels)
    if training {
        // Image-major order walks memory contiguously (for [N, C] inputs a channel-major walk
        // would jump a whole row per element); per-row partial sums in Float, totals in Double.
        var totals = [Double](repeating: 0, count: channels), squares = [Double](repeating: 0, count: channels)
        if positions == 1 {
            // [N, C] input (the generator's BatchNorm1d over 6272 features): the per-(image, channel)
            // loops below would run one element each. Walk rows with the channel innermost instead,
            // which vectorises; per-channel partial sums in Float over the batch, totals in Double.
            batchNormFeatureSums(x, batch: batch, channels: channels, totals: &totals)
        }
        for image in 0..<batch where positions > 1 {
            for channel in 0..<channels {
                totals[channel] += Double(sumOfElements(x + (image * channels + channel) * positions, count: positions))
            }
        }
        for channel in 0..<channels { mean[channel] = Float(totals[channel] / Double(reductionCount)) }
        // Second pass around the mean: no cancellation, unlike E[x²] − E[x]².
        if positions == 1 {
            batchNormFeatureSquares(x, mean: mean, batch: batch, channels: channels, squares: &squares)
        }
        for image in 0..<batch where positions > 1 {
            for channel in 0..<channels {
                let row = x + (image * channels + channel) * positions, channelMean = mean[channel]
                var rowSquares: Float = 0
                for index in 0..<positions {
                    let centred = row[index] - channelMean
                    rowSquares += centred * centred
                }
                squares[channel] += Double(rowSquares)
            }
        }
        let variance = squares.map { Float($0 / Double(reductionCount)) }
        let momentum = statistics.momentum, correction = Float(reductionCount) / Float(reductionCount - 1)
        let runningMean = statistics.mean.value.mutablePointer, runningVariance = statistics.variance.value.mutablePointer
        for channel in 0..<channels {
            reciprocalDeviation[channel] = 1 / fastSquareRoot(variance[channel] + epsilon)
            runningMean[channel] = (1 - momentum) * runningMean[channel] + momentum * mean[channel]
            runningVariance[channel] = (1 - momentum) * runningVariance[channel] + momentum * variance[channel] * correction
        }
    } else {
        let runningMean = statistics.mean.value.readPointer, runningVariance = statistics.variance.value.readPointer
        for channel in 0..<channels {
            mean[channel] = runningMean[channel]
            reciprocalDeviation[channel] = 1 / fastSquareRoot(runningVariance[channel] + epsilon)
        }
    }

    var normalized = Tensor(uninitializedShape: input.shape)
    var output = Tensor(uninitializedShape: input.shape)
    let xHat = normalized.mutablePointer, y = output.mutablePointer
    let gamma = scale.value.readPointer, beta = shift.value.readPointer
    if positions == 1 {
        // [N, C]: the channel innermost, so the loop vectorises (see the statistics above).
        mean.withUnsafeBufferPointer { means in
            reciprocalDeviation.withUnsafeBufferPointer { deviations in
                for image in 0..<batch {
                    let offset = image * channels
                    for channel in 0..<channels {
                        let value = (x[offset + channel] - means[channel]) * deviations[channel]
                        xHat[offset + channel] = value
                        y[offset + channel] = value * gamma[channel] + beta[channel]
                    }
                }
            }
        }
    }
    for image in 0..<batch where positions > 1 {
        for channel in 0..<channels {
            let offset = (image * channels + channel) * positions
            let channelMean = mean[channel], rstd = reciprocalDeviation[channel]
            let channelScale = gamma[channel], channelShift = beta[channel]
            for index in offset..<(offset + positions) {
                let value = (x[index] - channelMean) * rstd
                xHat[index] = value
                y[index] = value * channelScale + channelShift
            }
        }
    }

    return Variable(output, parents: [input, scale, shift]) { result in
        let dy = result.gradient!.readPointer, xHat = normalized.readPointer, gamma = scale.value.readPointer
        // Σ dy and Σ dy·x̂ per channel: the shift and scale gradients, and the terms of dx.
        var shiftGradient = [Float](repeating: 0, count: channels), scaleGradient = [Float](repeating: 0, count: channels)
        if positions == 1 {
            shiftGradient.withUnsafeMutableBufferPointer { shiftSums in
                scaleGradient.withUnsafeMutableBufferPointer { scaleSums in
                    for image in 0..<batch {
                        let offset = image * channels
                        for channel in 0..<channels {
                            shiftSums[channel] += dy[offset + channel]
                            scaleSums[channel] += dy[offset + channel] * xHat[offset + channel]
                        }
                    }
                }
            }
        }
        for image in 0..<batch where positions > 1 {
            for channel in 0..<channels {
                let offset = (image * channels + channel) * positions
                var sumGradient: Float = 0, sumGradientTimesNormalized: Float = 0
                for index in offset..<(offset + positions) {
                    sumGradient += dy[index]
                    sumGradientTimesNormalized += dy[index] * xHat[index]
                }
                shiftGradient[channel] += sumGradient
                scaleGradient[channel] += sumGradientTimesNormalized
            }
        }
        if scale.requiresGradient {
            let dGamma = scale.gradientForAccumulation()
            for channel in 0..<channels { dGamma[channel] += scaleGradient[channel] }
        }
        if shift.requiresGradient {
            let dBeta = shift.gradientForAccumulation()
            for channel in 0..<channels { dBeta[channel] += shiftGradient[channel] }
        }
        guard input.requiresGradient else { return }
        let dx = input.gradientForAccumulation()
        let inverseCount = 1 / Float(reductionCount)
        if positions == 1 && training {
            // [N, C] in training, channel innermost as above.
            var factors = [Float](repeating: 0, count: channels)
            for channel in 0..<channels { factors[channel] = gamma[channel] * reciprocalDeviation[channel] }
            factors.withUnsafeBufferPointer { factor in
                shiftGradient.withUnsafeBufferPointer { shiftSums in
                    scaleGradient.withUnsafeBufferPointer { scaleSums in
                        for image in 0..<batch {
                            let offset = image * channels
                            for channel in 0..<channels {
                                let index = offset + channel
                                dx[index] += factor[channel] * (dy[index] - shiftSums[channel] * inverseCount
                                                                - xHat[index] * (scaleSums[channel] * inverseCount))
                            }
                        }
                    }
                }
            }
            return
        }
        for image in 0..<batch {
            for channel in 0..<channels {
                let offset = (image * channels + channel) * positions
                let factor = gamma[channel] * reciprocalDeviation[channel]
                if training {
                    // dx = γ·rstd · (dy − mean(dy) − x̂·mean(dy·x̂)): the batch statistics depend on x too.
                    let meanGradient = shiftGradient[channel] * inverseCount
                    let meanGradientTimesNormalized = scaleGradient[channel] * inverseCount
                    for index in offset..<(offset + positions) {
                        dx[index] += factor * (dy[index] - meanGradient - xHat[index] * meanGradientTimesNormalized)
                    }
                } else {
                    for index in offset..<(offset + positions) { dx[index] += factor * dy[index] }
                }
            }
        }
    }
}

/// Batch-norm layer: scale (γ, init 1) and shift (β, init 0) per channel, running statistics with
/// momentum 0.1, epsilon 1e-5 (PyTorch's defaults).
public final class BatchNorm: Layer {
    public let scale: Variable
    public let shift: Variable
    public let statistics: RunningStatistics
    public let epsilon: Float
    public private(set) var isTraining = true

    public init(featureCount: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, name: String) {
        scale = Variable(parameter: Tensor(shape: [featureCount], repeating: 1), name: qualifiedName(name, "weight"))
        shift = Variable(parameter: Tensor(zeros: [featureCount]), name: qualifiedName(name, "bias"))
        statistics = RunningStatistics(channels: featureCount, momentum: momentum, name: name)
        self.epsilon = epsilon
    }

    public var parameters: [Variable] { [scale, shift] }
    public var buffers: [Variable] { [statistics.mean, statistics.variance] }
    public func setTraining(_ training: Bool) { isTraining = training }

    public func callAsFunction(_ input: Variable) -> Variable {
        batchNorm(input, scale: scale, shift: shift, statistics: statistics, training: isTraining, epsilon: epsilon)
    }
}

/// Layer normalisation over the last dimension D: input [..., D], scale and shift [D].
public func layerNorm(_ input: Variable, scale: Variable, shift: Variable, epsilon: Float = 1e-5) -> Variable {
    let width = input.shape.last ?? 0
    precondition(width > 0 && scale.shape == [width] && shift.shape == [width],
                 "layerNorm: scale \(scale.shape) and shift \(shift.shape) should be [\(width)] for input \(input.shape)")
    let rows = input.value.count / width
    var normalized = Tensor(uninitializedShape: input.shape)
    var output = Tensor(uninitializedShape: input.shape)
    var deviations = Tensor(uninitializedShape: [rows])
    let x = input.value.readPointer, xHat = normalized.mutablePointer, y = output.mutablePointer
    let gamma = scale.value.readPointer, beta = shift.value.readPointer, reciprocalDeviation = deviations.mutablePointer
    // Rows are independent: split them among the engine's threads (the same results on any number;
    // three passes over a row in cache make this compute-bound).
    let rowsPerWorker = max(1, computeBoundElementsPerWorker / width)
    forEachRange(count: rows, minimumPerWorker: rowsPerWorker) { rowRange in
        for row in rowRange {
            let offset = row * width
            // Centre into x̂ first, so both row sums run in vector lanes (FastMath.swift).
            let rowMean = sumOfElements(x + offset, count: width) / Float(width)
            for index in 0..<width { xHat[offset + index] = x[offset + index] - rowMean }
            let squares = dotProduct(xHat + offset, xHat + offset, count: width)
            let rstd = 1 / fastSquareRoot(squares / Float(width) + epsilon)
            reciprocalDeviation[row] = rstd
            for index in 0..<width {
                let value = xHat[offset + index] * rstd
                xHat[offset + index] = value
                y[offset + index] = value * gamma[index] + beta[index]
            }
        }
    }
    return Variable(output, parents: [input, scale, shift]) { result in
        let dy = result.gradient!.readPointer, xHat = normalized.readPointer, gamma = scale.value.readPointer
        let dGamma = scale.requiresGradient ? scale.gradientForAccumulation() : nil
        let dBeta = shift.requiresGradient ? shift.gradientForAccumulation() : nil
        let dx = input.requiresGradient ? input.gradientForAccumulation() : nil
        let reciprocalDeviation = deviations.readPointer
        // γ and β sum over the rows: split by column, each worker going through every row in order,
        // so every sum is taken in the same order on any number of threads.
        if dGamma != nil || dBeta != nil {
            forEachRange(count: width, minimumPerWorker: max(1, computeBoundElementsPerWorker / max(rows, 1))) { columns in
                for row in 0..<rows {
                    let offset = row * width
                    if let dGamma { for index in columns { dGamma[index] += dy[offset + index] * xHat[offset + index] } }
                    if let dBeta { for index in columns { dBeta[index] += dy[offset + index] } }
                }
            }
        }
        guard let dx else { return }
        forEachRange(count: rows, minimumPerWorker: rowsPerWorker) { rowRange in
            // dy ⊙ γ of one row, so its two sums run in vector lanes.
            let normalizedGradients = UnsafeMutablePointer<Float>.allocate(capacity: width)
            defer { normalizedGradients.deallocate() }
            for row in rowRange {
                let offset = row * width
                for index in 0..<width { normalizedGradients[index] = dy[offset + index] * gamma[index] }
                let meanGradient = sumOfElements(normalizedGradients, count: width) / Float(width)
                let meanGradientTimesNormalized = dotProduct(normalizedGradients, xHat + offset, count: width) / Float(width)
                let rstd = reciprocalDeviation[row]
                for index in 0..<width {
                    dx[offset + index] += rstd * (normalizedGradients[index] - meanGradient - xHat[offset + index] * meanGradientTimesNormalized)
                }
            }
        }
    }
}

/// Layer-norm layer: scale (init 1) and shift (init 0) over the last dimension.
public final class LayerNorm: Layer {
    public let scale: Variable
    public let shift: Variable
    public let epsilon: Float

    public init(featureCount: Int, epsilon: Float = 1e-5, name: String) {
        scale = Variable(parameter: Tensor(shape: [featureCount], repeating: 1), name: qualifiedName(name, "weight"))
        shift = Variable(parameter: Tensor(zeros: [featureCount]), name: qualifiedName(name, "bias"))
        self.epsilon = epsilon
    }

    public var parameters: [Variable] { [scale, shift] }

    public func callAsFunction(_ input: Variable) -> Variable {
        layerNorm(input, scale: scale, shift: shift, epsilon: epsilon)
    }
}

/// Σ over the batch of x[n, c], per feature c, for [N, C] inputs (see batchNorm).
private func batchNormFeatureSums(_ x: UnsafePointer<Float>, batch: Int, channels: Int, totals: inout [Double]) {
    var partial = [Float](repeating: 0, count: channels)
    partial.withUnsafeMutableBufferPointer { sums in
        for image in 0..<batch {
            let row = x + image * channels
            for channel in 0..<channels { sums[channel] += row[channel] }
        }
    }
    for channel in 0..<channels { totals[channel] = Double(partial[channel]) }
}

/// Σ over the batch of (x[n, c] − mean[c])², per feature c, for [N, C] inputs.
private func batchNormFeatureSquares(_ x: UnsafePointer<Float>, mean: [Float], batch: Int, channels: Int,
                                     squares: inout [Double]) {
    var partial = [Float](repeating: 0, count: channels)
    partial.withUnsafeMutableBufferPointer { sums in
        mean.withUnsafeBufferPointer { means in
            for image in 0..<batch {
                let row = x + image * channels
                for channel in 0..<channels {
                    let centred = row[channel] - means[channel]
                    sums[channel] += centred * centred
                }
            }
        }
    }
    for channel in 0..<channels { squares[channel] = Double(partial[channel]) }
}

/// y[n, c, …] = x[n, c, …] · scale[n, c] + shift[n, c]: an affine map per sample and channel, the
/// second half of a conditional batch-norm whose gain and bias depend on each sample's class.
/// input [N, C] or [N, C, spatial…]; scale and shift [N, C].
public func channelAffine(_ input: Variable, scale: Variable, shift: Variable) -> Variable {
    precondition(input.shape.count >= 2, "channelAffine needs [N, C, …], got \(input.shape)")
    let batch = input.shape[0], channels = input.shape[1], positions = input.shape[2...].reduce(1, *)
    precondition(scale.shape == [batch, channels] && shift.shape == [batch, channels],
                 "channelAffine: scale \(scale.shape) and shift \(shift.shape) should be [\(batch), \(channels)] for input \(input.shape)")
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, gamma = scale.value.readPointer, beta = shift.value.readPointer, y = output.mutablePointer
    for row in 0..<(batch * channels) {
        let offset = row * positions, rowScale = gamma[row], rowShift = beta[row]
        for index in offset..<(offset + positions) { y[index] = x[index] * rowScale + rowShift }
    }
    return Variable(output, parents: [input, scale, shift]) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer, gamma = scale.value.readPointer
        let dx = input.requiresGradient ? input.gradientForAccumulation() : nil
        let dScale = scale.requiresGradient ? scale.gradientForAccumulation() : nil
        let dShift = shift.requiresGradient ? shift.gradientForAccumulation() : nil
        for row in 0..<(batch * channels) {
            let offset = row * positions, rowScale = gamma[row]
            var scaleSum: Float = 0, shiftSum: Float = 0
            for index in offset..<(offset + positions) {
                if let dx { dx[index] += dy[index] * rowScale }
                scaleSum += dy[index] * x[index]
                shiftSum += dy[index]
            }
            dScale?[row] += scaleSum
            dShift?[row] += shiftSum
        }
    }
}

/// Conditional batch normalisation (de Vries et al. 2017; the generators of Miyato & Koyama 2018
/// and BigGAN): statistics shared by all classes, but the gain and bias after normalising are rows
/// of per-class tables [classCount, C], so the class reaches every layer of the network instead of
/// only its input. Gains start at 1 and biases at 0 (a plain batch-norm at initialisation).
public final class ConditionalBatchNorm: Layer {
    public let classScale: Variable
    public let classShift: Variable
    public let statistics: RunningStatistics
    public let epsilon: Float
    public private(set) var isTraining = true
    /// The constant identity affine of the shared normalisation (the class tables replace it).
    private let unitScale: Variable, zeroShift: Variable

    public init(featureCount: Int, classCount: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, name: String) {
        classScale = Variable(parameter: Tensor(shape: [classCount, featureCount], repeating: 1), name: qualifiedName(name, "class_weight"))
        classShift = Variable(parameter: Tensor(zeros: [classCount, featureCount]), name: qualifiedName(name, "class_bias"))
        statistics = RunningStatistics(channels: featureCount, momentum: momentum, name: name)
        self.epsilon = epsilon
        unitScale = Variable(Tensor(shape: [featureCount], repeating: 1))
        zeroShift = Variable(Tensor(zeros: [featureCount]))
    }

    public var parameters: [Variable] { [classScale, classShift] }
    public var buffers: [Variable] { [statistics.mean, statistics.variance] }
    public func setTraining(_ training: Bool) { isTraining = training }

    /// input [N, C, …] and one class per sample → normalised, then scaled and shifted by the class's rows.
    public func callAsFunction(_ input: Variable, labels: [Int]) -> Variable {
        precondition(labels.count == input.shape[0], "ConditionalBatchNorm: \(labels.count) labels for input \(input.shape)")
        let normalized = batchNorm(input, scale: unitScale, shift: zeroShift, statistics: statistics, training: isTraining, epsilon: epsilon)
        return channelAffine(normalized, scale: embedding(labels, indexShape: [labels.count], weight: classScale),
                             shift: embedding(labels, indexShape: [labels.count], weight: classShift))
    }
}
