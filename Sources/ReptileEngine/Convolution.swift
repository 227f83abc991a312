import ReptileCore

// Convolution over a batch as im2col + ONE GEMM per layer (not one per image), with the column
// matrix cached for the weight gradient. Legend as in Im2Col.swift.

/// 2-D convolution (cross-correlation, as PyTorch): input [B, C, H, W], weight [O, C, KH, KW],
/// bias [O] → [B, O, OH, OW] with OH = (H + 2·padding − KH) / stride + 1.
public func conv2d(_ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0) -> Variable {
    precondition(input.shape.count == 4 && weight.shape.count == 4,
                 "conv2d needs input [B, C, H, W] and weight [O, C, KH, KW], got \(input.shape) and \(weight.shape)")
    precondition(input.shape[1] == weight.shape[1],
                 "conv2d: input \(input.shape) has \(input.shape[1]) channels, weight \(weight.shape) expects \(weight.shape[1])")
    let geometry = ConvolutionGeometry(
        channels: input.shape[1], height: input.shape[2], width: input.shape[3],
        kernelHeight: weight.shape[2], kernelWidth: weight.shape[3],
        strideHeight: stride, strideWidth: stride, paddingHeight: padding, paddingWidth: padding)
    geometry.validate(operation: "conv2d", inputShape: input.shape)
    if WinogradConvolution.applies(to: geometry) {
        return winogradConvolution(input, weight: weight, bias: bias, geometry: geometry)
    }
    return convolution(input, weight: weight, bias: bias, geometry: geometry)
}

/// The shared kernel of conv1d and conv2d: the weight is [O, C·KH·KW] in memory whatever its rank.
func convolution(_ input: Variable, weight: Variable, bias: Variable?, geometry g: ConvolutionGeometry) -> Variable {
    let batch = input.shape[0], outputChannels = weight.shape[0]
    precondition(weight.value.count == outputChannels * g.columnRows,
                 "convolution: weight \(weight.shape) does not match input \(input.shape)")
    if let bias {
        precondition(bias.shape == [outputChannels], "convolution: bias \(bias.shape) should be [\(outputChannels)]")
    }
    let positions = g.outputPositions
    // Each worker takes a contiguous share of the batch (runWorkers), and goes through it a few
    // images at a time: the column block of a whole batch (115 MB for W4's second convolution)
    // would stream through memory three times per step, a chunk stays in cache while im2col
    // writes it, the GEMM packs it and col2im reads it back.
    let chunking = ImageChunking(batch: batch, entriesPerImage: g.columnRows * positions, positions: positions)
    let workers = chunking.workers, chunk = chunking.largestChunkSize
    let columnBlockSize = g.columnRows * chunk * positions, productBlockSize = outputChannels * chunk * positions
    let workerScratchSize = columnBlockSize + productBlockSize
    let outputShape = input.shape.count == 3
        ? [batch, outputChannels, g.outputWidth] : [batch, outputChannels, g.outputHeight, g.outputWidth]
    var output = Tensor(uninitializedShape: outputShape)
    do {
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let x = input.value.readPointer, w = weight.value.readPointer, y = output.mutablePointer
        let scratchBase = scratch.mutablePointer, biasValues = bias?.value.readPointer
        chunking.forEachChunk { worker, first, count in
            let columnBlock = scratchBase + worker * workerScratchSize, productBlock = columnBlock + columnBlockSize
            imageToColumns(x + first * g.imageSize, batch: count, geometry: g, into: columnBlock)
            // [O, n·L] = W [O, C·K·K] · columns [C·K·K, n·L]
            matrixMultiply(w, columnBlock, into: productBlock,
                           rows: outputChannels, columns: count * positions, inner: g.columnRows)
            // The permute to [n, O, L] adds the bias as it copies: one pass over the output instead of two.
            channelMajorToBatchMajor(productBlock, channels: outputChannels, batch: count, positions: positions,
                                     addingBias: biasValues, into: y + first * outputChannels * positions)
        }
    }

    let parents = bias.map { [input, weight, $0] } ?? [input, weight]
    return Variable(output, parents: parents) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer, w = weight.value.readPointer
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let scratchBase = scratch.mutablePointer
        let weightGradient = weight.requiresGradient ? weight.gradientForAccumulation() : nil
        let biasGradient = bias.flatMap { $0.requiresGradient ? $0.gradientForAccumulation() : nil }
        let inputGradient = input.requiresGradient ? input.gradientForAccumulation() : nil
        // Worker 0 adds into the gradients themselves, the others into zeroed partial sums that
        // are added afterwards in worker order (the same sums whatever the timing).
        let weightCount = weight.value.count, partialSize = weightCount + outputChannels
        var partials = Tensor(zeros: [workers - 1, partialSize])
        let partialBase = partials.mutablePointer
        chunking.forEachChunk { worker, first, count in
            let columnBlock = scratchBase + worker * workerScratchSize, gradientBlock = columnBlock + columnBlockSize
            let partial = worker == 0 ? nil : partialBase + (worker - 1) * partialSize
            let workerWeightGradient = partial ?? weightGradient, workerBiasGradient = partial.map { $0 + weightCount } ?? biasGradient
            let columnCount = count * positions
            // dY [n, O, L] → [O, n·L]
            swapLeadingAxes(dy + first * outputChannels * positions, outer: count, middle: outputChannels,
                            inner: positions, into: gradientBlock)
            if weightGradient != nil, let workerWeightGradient {
                // The columns again (cheaper in cache than keeping the whole batch's from the forward).
                imageToColumns(x + first * g.imageSize, batch: count, geometry: g, into: columnBlock)
                // dW [O, C·K·K] += dY [O, n·L] · columnsᵀ
                matrixMultiply(gradientBlock, columnBlock, transposeB: true, into: workerWeightGradient,
                               rows: outputChannels, columns: g.columnRows, inner: columnCount, beta: 1)
            }
            if biasGradient != nil, let workerBiasGradient {
                // Each channel's n·L gradients are one contiguous row of the permuted block.
                for channel in 0..<outputChannels {
                    workerBiasGradient[channel] += sumOfElements(gradientBlock + channel * columnCount, count: columnCount)
                }
            }
            if let inputGradient {
                // dColumns [C·K·K, n·L] = Wᵀ · dY, then scattered back onto the images.
                matrixMultiply(w, transposeA: true, gradientBlock, into: columnBlock,
                               rows: g.columnRows, columns: columnCount, inner: outputChannels)
                addColumnsToImage(columnBlock, batch: count, geometry: g, into: inputGradient + first * g.imageSize)
            }
        }
        for worker in 1..<max(workers, 1) {
            let partial = partialBase + (worker - 1) * partialSize
            if let weightGradient { for index in 0..<weightCount { weightGradient[index] += partial[index] } }
            if let biasGradient {
                for channel in 0..<outputChannels { biasGradient[channel] += partial[weightCount + channel] }
            }
        }
    }
}

/// y[b, c, :] += bias[c]
func addChannelBias(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, batch: Int, channels: Int, positions: Int) {
    for image in 0..<batch {
        for channel in 0..<channels {
            let row = y + (image * channels + channel) * positions, value = bias[channel]
            for index in 0..<positions { row[index] += value }
        }
    }
}

/// sums[c] += Σ over b and positions of dy[b, c, :]
func addChannelSums(_ dy: UnsafePointer<Float>, to sums: UnsafeMutablePointer<Float>, batch: Int, channels: Int, positions: Int) {
    for image in 0..<batch {
        for channel in 0..<channels {
            sums[channel] += sumOfElements(dy + (image * channels + channel) * positions, count: positions)
        }
    }
}

/// [C, B, L] → [B, C, L] (the GEMM's channel-major result to NCHW), adding bias[c] on the way when given.
func channelMajorToBatchMajor(_ source: UnsafePointer<Float>, channels: Int, batch: Int, positions: Int,
                              addingBias bias: UnsafePointer<Float>?, into destination: UnsafeMutablePointer<Float>) {
    guard let bias else {
        swapLeadingAxes(source, outer: channels, middle: batch, inner: positions, into: destination)
        return
    }
    for image in 0..<batch {
        for channel in 0..<channels {
            let from = source + (channel * batch + image) * positions
            let to = destination + (image * channels + channel) * positions, value = bias[channel]
            for index in 0..<positions { to[index] = from[index] + value }
        }
    }
}

/// 1-D convolution: input [B, C, T], weight [O, C, K], bias [O] → [B, O, (T + 2·padding − K) / stride + 1].
public func conv1d(_ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0) -> Variable {
    precondition(input.shape.count == 3 && weight.shape.count == 3,
                 "conv1d needs input [B, C, T] and weight [O, C, K], got \(input.shape) and \(weight.shape)")
    precondition(input.shape[1] == weight.shape[1],
                 "conv1d: input \(input.shape) has \(input.shape[1]) channels, weight \(weight.shape) expects \(weight.shape[1])")
    let geometry = ConvolutionGeometry(
        channels: input.shape[1], height: 1, width: input.shape[2],
        kernelHeight: 1, kernelWidth: weight.shape[2],
        strideHeight: 1, strideWidth: stride, paddingHeight: 0, paddingWidth: padding)
    geometry.validate(operation: "conv1d", inputShape: input.shape)
    return convolution(input, weight: weight, bias: bias, geometry: geometry)
}

/// A convolution's weight and bias, uniform in ±1/√fanIn (PyTorch's default init).
func convolutionParameters(weightShape: [Int], fanIn: Int, outputChannels: Int, useBias: Bool, name: String,
                           random: inout SeededRandom) -> (weight: Variable, bias: Variable?) {
    let bound = 1 / Float(fanIn).squareRoot()
    let weight = uniformParameter(weightShape, bound: bound, name: qualifiedName(name, "weight"), random: &random)
    let bias = useBias ? uniformParameter([outputChannels], bound: bound, name: qualifiedName(name, "bias"), random: &random) : nil
    return (weight, bias)
}

/// Conv2d layer: weight [outputChannels, inputChannels, k, k] and bias, PyTorch's default init.
public final class Conv2d: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, padding: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                useBias: Bool = true, name: String, random: inout SeededRandom) {
        (weight, bias) = convolutionParameters(weightShape: [outputChannels, inputChannels, kernelSize, kernelSize],
                                               fanIn: inputChannels * kernelSize * kernelSize, outputChannels: outputChannels,
                                               useBias: useBias, name: name, random: &random)
        self.stride = stride
        self.padding = padding
    }

    public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ input: Variable) -> Variable {
        conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Conv1d layer over [B, C, T]: weight [outputChannels, inputChannels, k] and bias.
public final class Conv1d: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, padding: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                useBias: Bool = true, name: String, random: inout SeededRandom) {
        (weight, bias) = convolutionParameters(weightShape: [outputChannels, inputChannels, kernelSize],
                                               fanIn: inputChannels * kernelSize, outputChannels: outputChannels,
                                               useBias: useBias, name: name, random: &random)
        self.stride = stride
        self.padding = padding
    }

    public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ input: Variable) -> Variable {
        conv1d(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
