import ReptileCore

// Transposed convolution: the adjoint of conv2d, as one GEMM over the batch followed by col2im.
// The matching conv2d maps the output image [O, OH, OW] back to the input's H×W grid.

/// input [B, C, H, W], weight [C, O, K, K] (PyTorch layout), bias [O]
/// → [B, O, OH, OW] with OH = (H − 1)·stride − 2·padding + K.
public func convTranspose2d(_ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0) -> Variable {
    precondition(input.shape.count == 4 && weight.shape.count == 4,
                 "convTranspose2d needs input [B, C, H, W] and weight [C, O, K, K], got \(input.shape) and \(weight.shape)")
    precondition(input.shape[1] == weight.shape[0],
                 "convTranspose2d: input \(input.shape) has \(input.shape[1]) channels, weight \(weight.shape) expects \(weight.shape[0])")
    let batch = input.shape[0], inputChannels = input.shape[1], height = input.shape[2], width = input.shape[3]
    let outputChannels = weight.shape[1], kernelHeight = weight.shape[2], kernelWidth = weight.shape[3]
    let outputHeight = (height - 1) * stride - 2 * padding + kernelHeight
    let outputWidth = (width - 1) * stride - 2 * padding + kernelWidth
    precondition(stride > 0 && padding >= 0 && outputHeight > 0 && outputWidth > 0,
                 "convTranspose2d: stride \(stride), padding \(padding) and weight \(weight.shape) give no output for input \(input.shape)")
    // The conv2d from the output image back to the input grid: its output positions are H×W.
    let geometry = ConvolutionGeometry(
        channels: outputChannels, height: outputHeight, width: outputWidth,
        kernelHeight: kernelHeight, kernelWidth: kernelWidth,
        strideHeight: stride, strideWidth: stride, paddingHeight: padding, paddingWidth: padding)
    assert(geometry.outputHeight == height && geometry.outputWidth == width)
    if let bias {
        precondition(bias.shape == [outputChannels], "convTranspose2d: bias \(bias.shape) should be [\(outputChannels)]")
    }
    let positions = height * width, outputPlane = outputHeight * outputWidth
    let inputImageSize = inputChannels * positions, outputImageSize = outputChannels * outputPlane
    // Workers and chunks of images as in `convolution`.
    let chunking = ImageChunking(batch: batch, entriesPerImage: geometry.columnRows * positions, positions: positions)
    let workers = chunking.workers, chunk = chunking.largestChunkSize
    let inputBlockSize = inputChannels * chunk * positions, columnBlockSize = geometry.columnRows * chunk * positions
    let workerScratchSize = inputBlockSize + columnBlockSize
    var output = Tensor(uninitializedShape: [batch, outputChannels, outputHeight, outputWidth])
    do {
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let x = input.value.readPointer, w = weight.value.readPointer, y = output.mutablePointer
        let scratchBase = scratch.mutablePointer, biasValues = bias?.value.readPointer
        chunking.forEachChunk { worker, first, count in
            let inputBlock = scratchBase + worker * workerScratchSize, columnBlock = inputBlock + inputBlockSize
            // x [n, C, H·W] → [C, n·H·W]
            swapLeadingAxes(x + first * inputImageSize, outer: count, middle: inputChannels, inner: positions, into: inputBlock)
            // columns [O·K·K, n·H·W] = Wᵀ (W viewed as [C, O·K·K]) · x
            matrixMultiply(w, transposeA: true, inputBlock, into: columnBlock,
                           rows: geometry.columnRows, columns: count * positions, inner: inputChannels)
            // Start from the bias (or zero) and let col2im add onto it: one pass over the output fewer.
            let images = y + first * outputImageSize
            for image in 0..<count {
                for channel in 0..<outputChannels {
                    (images + (image * outputChannels + channel) * outputPlane)
                        .update(repeating: biasValues?[channel] ?? 0, count: outputPlane)
                }
            }
            addColumnsToImage(columnBlock, batch: count, geometry: geometry, into: images)
        }
    }

    let parents = bias.map { [input, weight, $0] } ?? [input, weight]
    return Variable(output, parents: parents) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer, w = weight.value.readPointer
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let scratchBase = scratch.mutablePointer
        let weightGradient = weight.requiresGradient ? weight.gradientForAccumulation() : nil
        let inputGradient = input.requiresGradient ? input.gradientForAccumulation() : nil
        if let bias, bias.requiresGradient {
            addChannelSums(dy, to: bias.gradientForAccumulation(), batch: batch, channels: outputChannels, positions: outputPlane)
        }
        // Worker 0 adds into the weight gradient, the others into zeroed partial sums added in worker order.
        let weightCount = weight.value.count
        var partials = Tensor(zeros: [weightGradient == nil ? 0 : workers - 1, weightCount])
        let partialBase = partials.mutablePointer
        chunking.forEachChunk { worker, first, count in
            let inputBlock = scratchBase + worker * workerScratchSize, columnBlock = inputBlock + inputBlockSize
            let workerWeightGradient = worker == 0 ? weightGradient : partialBase + (worker - 1) * weightCount
            let columnCount = count * positions
            // dColumns = im2col(dY) of this chunk.
            imageToColumns(dy + first * outputImageSize, batch: count, geometry: geometry, into: columnBlock)
            if weightGradient != nil, let workerWeightGradient {
                // dW [C, O·K·K] += x [C, n·H·W] · dColumnsᵀ
                swapLeadingAxes(x + first * inputImageSize, outer: count, middle: inputChannels, inner: positions,
                                into: inputBlock)
                matrixMultiply(inputBlock, columnBlock, transposeB: true, into: workerWeightGradient,
                               rows: inputChannels, columns: geometry.columnRows, inner: columnCount, beta: 1)
            }
            if let inputGradient {
                // dx [C, n·H·W] = W [C, O·K·K] · dColumns, then back to [n, C, H, W].
                matrixMultiply(w, columnBlock, into: inputBlock, rows: inputChannels, columns: columnCount,
                               inner: geometry.columnRows)
                let images = inputGradient + first * inputImageSize
                for image in 0..<count {
                    for channel in 0..<inputChannels {
                        let from = inputBlock + (channel * count + image) * positions
                        let to = images + (image * inputChannels + channel) * positions
                        for index in 0..<positions { to[index] += from[index] }
                    }
                }
            }
        }
        if let weightGradient {
            for worker in 1..<max(workers, 1) {
                let partial = partialBase + (worker - 1) * weightCount
                for index in 0..<weightCount { weightGradient[index] += partial[index] }
            }
        }
    }
}

/// ConvTranspose2d layer: weight [inputChannels, outputChannels, k, k] and bias; PyTorch's
/// default init, whose fan-in is outputChannels·k·k for this layout.
public final class ConvTranspose2d: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, padding: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                useBias: Bool = true, name: String, random: inout SeededRandom) {
        (weight, bias) = convolutionParameters(weightShape: [inputChannels, outputChannels, kernelSize, kernelSize],
                                               fanIn: outputChannels * kernelSize * kernelSize, outputChannels: outputChannels,
                                               useBias: useBias, name: name, random: &random)
        self.stride = stride
        self.padding = padding
    }

    public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ input: Variable) -> Variable {
        convTranspose2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
