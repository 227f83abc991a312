import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

@Suite struct EngineConvolutionTests {
    /// Direct convolution by the definition, for comparison with im2col + GEMM.
    private func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor, stride: Int, padding: Int) -> [Float] {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outputs, kernel) = (w.shape[0], w.shape[2])
        let outputHeight = (height + 2 * padding - kernel) / stride + 1, outputWidth = (width + 2 * padding - kernel) / stride + 1
        var result: [Float] = []
        for n in 0..<batch { for o in 0..<outputs { for oy in 0..<outputHeight { for ox in 0..<outputWidth {
            var total = b[flatIndex: o]
            for c in 0..<channels { for ky in 0..<kernel { for kx in 0..<kernel {
                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                total += x[flatIndex: ((n * channels + c) * height + iy) * width + ix]
                    * w[flatIndex: ((o * channels + c) * kernel + ky) * kernel + kx]
            } } }
            result.append(total)
        } } } }
        return result
    }

    @Test(arguments: [(1, 0), (2, 1), (2, 0), (1, 2), (3, 1)])
    func conv2dMatchesTheDefinition(stride: Int, padding: Int) {
        let x = randomVariable([2, 3, 7, 6], seed: 1), w = randomVariable([4, 3, 3, 3], seed: 2), b = randomVariable([4], seed: 3)
        let y = conv2d(x, weight: w, bias: b, stride: stride, padding: padding)
        let expected = naiveConv2d(x.value, w.value, b.value, stride: stride, padding: padding)
        #expect(y.value.count == expected.count)
        for (got, want) in zip(y.value.scalars, expected) { #expect(abs(got - want) < 1e-4) }
    }

    @Test(arguments: [(1, 0), (2, 1), (2, 0), (1, 2), (3, 1)])
    func conv2dGradients(stride: Int, padding: Int) {
        let x = randomVariable([2, 3, 6, 5], seed: 4), w = randomVariable([4, 3, 3, 3], seed: 5), b = randomVariable([4], seed: 6)
        expectGradientsMatch(gradientCheck([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding) })
    }

    @Test func conv2dWithKernelFourStrideTwoAsInTheDiscriminator() {
        let x = randomVariable([2, 2, 8, 8], seed: 7), w = randomVariable([3, 2, 4, 4], seed: 8), b = randomVariable([3], seed: 9)
        let y = conv2d(x, weight: w, bias: b, stride: 2, padding: 1)
        #expect(y.shape == [2, 3, 4, 4])
        expectGradientsMatch(gradientCheck([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1) })
        // Without a bias, as under batch normalisation.
        expectGradientsMatch(gradientCheck([x, w]) { conv2d($0[0], weight: $0[1], bias: nil, stride: 2, padding: 1) })
    }

    @Test(arguments: [(1, 0), (2, 1), (2, 0), (3, 1)])
    func convTranspose2dGradients(stride: Int, padding: Int) {
        let x = randomVariable([2, 3, 4, 3], seed: 10), w = randomVariable([3, 2, 4, 4], seed: 11), b = randomVariable([2], seed: 12)
        expectGradientsMatch(gradientCheck([x, w, b]) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding)
        })
        expectGradientsMatch(gradientCheck([x, w]) { convTranspose2d($0[0], weight: $0[1], bias: nil, stride: stride, padding: padding) })
    }

    /// ⟨conv2d(x, W), y⟩ = ⟨x, convTranspose2d(y, W)⟩: the transposed convolution is the adjoint.
    @Test func convTranspose2dIsTheAdjointOfConv2d() {
        let x = randomVariable([2, 3, 8, 8], seed: 13), w = randomVariable([5, 3, 4, 4], seed: 14)
        let forward = conv2d(x, weight: w, bias: nil, stride: 2, padding: 1)
        #expect(forward.shape == [2, 5, 4, 4])
        let y = randomVariable(forward.shape, seed: 15)
        let back = convTranspose2d(y, weight: w, bias: nil, stride: 2, padding: 1)
        #expect(back.shape == x.shape)
        var left: Double = 0, right: Double = 0
        for index in 0..<forward.value.count { left += Double(forward.value[flatIndex: index] * y.value[flatIndex: index]) }
        for index in 0..<x.value.count { right += Double(x.value[flatIndex: index] * back.value[flatIndex: index]) }
        #expect(abs(left - right) < 1e-3 * max(1, abs(left)))
    }

    @Test func conv1dGradientsAndShape() {
        let x = randomVariable([2, 3, 9], seed: 16), w = randomVariable([4, 3, 3], seed: 17), b = randomVariable([4], seed: 18)
        #expect(conv1d(x, weight: w, bias: b, stride: 2, padding: 1).shape == [2, 4, 5])
        expectGradientsMatch(gradientCheck([x, w, b]) { conv1d($0[0], weight: $0[1], bias: $0[2]) })
        expectGradientsMatch(gradientCheck([x, w, b]) { conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1) })
        expectGradientsMatch(gradientCheck([x, w]) { conv1d($0[0], weight: $0[1], bias: nil) })
    }
}

/// Convolutions run over the batch a few images at a time (the column block stays in cache).
/// Forcing one- or two-image chunks must give what one chunk for the whole batch gives, and
/// finite differences must agree on the several-chunk path too.
@Suite struct EngineConvolutionChunkTests {
    /// Output and every gradient of `operation` over fresh copies of the inputs.
    private func outputAndGradients(_ inputs: [Variable], columnBlockEntries: Int,
                                    _ operation: ([Variable]) -> Variable) -> [[Float]] {
        ConvolutionChunking.$minimumColumns.withValue(1) { ConvolutionChunking.$columnBlockEntries.withValue(columnBlockEntries) {
            let copies = inputs.map { Variable(parameter: $0.value, name: "copy") }
            let output = operation(copies)
            var random = SeededRandom(seed: 31)
            output.backward(seed: Tensor(normalShape: output.shape, random: &random))
            return [output.value.scalars] + copies.map { $0.gradient!.scalars }
        } }
    }

    private func expectChunkingChangesNothing(_ inputs: [Variable], entriesPerImage: Int,
                                              _ operation: ([Variable]) -> Variable) {
        let whole = outputAndGradients(inputs, columnBlockEntries: 1 << 30, operation)
        // One image per chunk, then two (five images: 2 + 2 + 1).
        for entries in [entriesPerImage, 2 * entriesPerImage] {
            let chunked = outputAndGradients(inputs, columnBlockEntries: entries, operation)
            for (wholeValues, chunkedValues) in zip(whole, chunked) {
                #expect(wholeValues.count == chunkedValues.count)
                let worst = zip(wholeValues, chunkedValues).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
                #expect(worst < 1e-5, "chunks of \(entries / entriesPerImage) image(s) differ by \(worst)")
            }
        }
    }

    @Test func conv2dInChunksEqualsOneChunk() {
        let x = randomVariable([5, 3, 9, 8], seed: 41), w = randomVariable([4, 3, 4, 4], seed: 42), b = randomVariable([4], seed: 43)
        // Column entries per image: C·K·K · OH·OW = 48 · (4·4).
        expectChunkingChangesNothing([x, w, b], entriesPerImage: 48 * 16) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }

    @Test func conv1dInChunksEqualsOneChunk() {
        let x = randomVariable([5, 3, 11], seed: 44), w = randomVariable([4, 3, 3], seed: 45), b = randomVariable([4], seed: 46)
        expectChunkingChangesNothing([x, w, b], entriesPerImage: 9 * 11) { conv1d($0[0], weight: $0[1], bias: $0[2], padding: 1) }
    }

    @Test func convTranspose2dInChunksEqualsOneChunk() {
        let x = randomVariable([5, 3, 4, 3], seed: 47), w = randomVariable([3, 2, 4, 4], seed: 48), b = randomVariable([2], seed: 49)
        // Column entries per image: O·K·K · H·W = 32 · 12.
        expectChunkingChangesNothing([x, w, b], entriesPerImage: 32 * 12) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }

    @Test func gradientsWithSeveralChunks() {
        ConvolutionChunking.$minimumColumns.withValue(1) { ConvolutionChunking.$columnBlockEntries.withValue(1) {
            let x = randomVariable([3, 2, 6, 5], seed: 50), w = randomVariable([3, 2, 3, 3], seed: 51), b = randomVariable([3], seed: 52)
            expectGradientsMatch(gradientCheck([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1) })
            let y = randomVariable([3, 3, 3, 4], seed: 53), v = randomVariable([3, 2, 4, 4], seed: 54), c = randomVariable([2], seed: 55)
            expectGradientsMatch(gradientCheck([y, v, c]) {
                convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
            })
        } }
    }

    /// im2col against its definition, and not one float written past the column matrix (stride 2
    /// copies rows in whole 8-wide stores that run into later rows; outputs narrower than 8 too).
    @Test(arguments: [(2, 1, 4, 8, 8), (3, 2, 4, 4, 5), (5, 1, 3, 3, 2), (2, 3, 4, 28, 28), (4, 2, 2, 1, 16)])
    func imageToColumnsWritesTheMatrixAndNothingElse(batch: Int, channels: Int, kernel: Int, height: Int, width: Int) {
        for (stride, padding) in [(2, 1), (2, 0), (1, 1)] where height + 2 * padding >= kernel && width + 2 * padding >= kernel {
            let g = ConvolutionGeometry(channels: channels, height: height, width: width, kernelHeight: kernel, kernelWidth: kernel,
                                        strideHeight: stride, strideWidth: stride, paddingHeight: padding, paddingWidth: padding)
            let images = (0..<(batch * g.imageSize)).map { Float($0 % 97) + 1 }
            let count = g.columnRows * batch * g.outputPositions
            var columns = [Float](repeating: .nan, count: count + 16)
            images.withUnsafeBufferPointer { source in
                columns.withUnsafeMutableBufferPointer { imageToColumns(source.baseAddress!, batch: batch, geometry: g, into: $0.baseAddress!) }
            }
            var expected: [Float] = []
            for c in 0..<channels { for ky in 0..<kernel { for kx in 0..<kernel { for b in 0..<batch {
                for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth {
                    let y = oy * stride - padding + ky, x = ox * stride - padding + kx
                    let inside = y >= 0 && y < height && x >= 0 && x < width
                    expected.append(inside ? images[((b * channels + c) * height + y) * width + x] : 0)
                } }
            } } } }
            #expect(Array(columns[0..<count]) == expected, "stride \(stride), padding \(padding)")
            #expect(columns[count...].allSatisfy { $0.isNaN }, "stride \(stride), padding \(padding): written past the matrix")
        }
    }

    @Test func chunkSizesSplitTheBatchEvenly() {
        #expect(imagesPerChunk(batch: 64, columnEntriesPerImage: 1024 * 49, targetEntries: 1 << 20) == 16)
        #expect(largestChunk(batch: 64, columnEntriesPerImage: 1024 * 49, targetEntries: 1 << 20) == 20)
        #expect(imagesPerChunk(batch: 5, columnEntriesPerImage: 10, targetEntries: 20) == 2)
        #expect(imagesPerChunk(batch: 3, columnEntriesPerImage: 1_000, targetEntries: 1) == 1)
        #expect(imagesPerChunk(batch: 128, columnEntriesPerImage: 16, targetEntries: 1 << 20) == 128)
    }
}

@Suite struct EngineLinearTests {
    @Test func linearValuesAndGradients() {
        let x = Variable(Tensor(shape: [1, 2], values: [1, 2]))
        let w = Variable(parameter: Tensor(shape: [3, 2], values: [1, 0, 0, 1, 1, 1]), name: "w")
        let b = Variable(parameter: Tensor(shape: [3], values: [0.5, 0, -1]), name: "b")
        #expect(linear(x, weight: w, bias: b).value.scalars == [1.5, 2, 2])
        let input = randomVariable([4, 5], seed: 1), weight = randomVariable([3, 5], seed: 2), bias = randomVariable([3], seed: 3)
        expectGradientsMatch(gradientCheck([input, weight, bias]) { linear($0[0], weight: $0[1], bias: $0[2]) })
        expectGradientsMatch(gradientCheck([input, weight]) { linear($0[0], weight: $0[1], bias: nil) })
        // Leading dimensions flatten: [2, 2, 5] works like [4, 5].
        let batched = randomVariable([2, 2, 5], seed: 4)
        expectGradientsMatch(gradientCheck([batched, weight, bias]) { linear($0[0], weight: $0[1], bias: $0[2]) })
    }

    @Test func layersNameTheirParameters() {
        var random = SeededRandom(seed: 1)
        let layer = Linear(inputSize: 4, outputSize: 2, name: "generator.fc", random: &random)
        #expect(layer.parameters.map { $0.name } == ["generator.fc.weight", "generator.fc.bias"])
        let deconv = ConvTranspose2d(inputChannels: 4, outputChannels: 2, kernelSize: 4, stride: 2, padding: 1,
                                     name: "generator.deconv1", random: &random)
        #expect(deconv.parameters.map { $0.name } == ["generator.deconv1.weight", "generator.deconv1.bias"])
        #expect(deconv.weight.shape == [4, 2, 4, 4])
    }
}

@Suite struct EngineNormalizationTests {
    @Test func batchNormTrainingGradientsFor4DAnd2DInputs() {
        let statistics = RunningStatistics(channels: 3, momentum: 0.1, name: "bn")
        let x = randomVariable([4, 3, 2, 3], seed: 1, scale: 2), gamma = randomVariable([3], seed: 2), beta = randomVariable([3], seed: 3)
        expectGradientsMatch(gradientCheck([x, gamma, beta]) {
            batchNorm($0[0], scale: $0[1], shift: $0[2], statistics: statistics, training: true)
        })
        let flat = randomVariable([5, 3], seed: 4)
        expectGradientsMatch(gradientCheck([flat, gamma, beta]) {
            batchNorm($0[0], scale: $0[1], shift: $0[2], statistics: statistics, training: true)
        })
    }

    @Test func batchNormEvaluationGradients() {
        let statistics = RunningStatistics(channels: 3, momentum: 0.1, name: "bn")
        statistics.mean.value = Tensor(shape: [3], values: [0.5, -1, 2])
        statistics.variance.value = Tensor(shape: [3], values: [2, 0.5, 1.5])
        let x = randomVariable([2, 3, 2, 2], seed: 5), gamma = randomVariable([3], seed: 6), beta = randomVariable([3], seed: 7)
        expectGradientsMatch(gradientCheck([x, gamma, beta]) {
            batchNorm($0[0], scale: $0[1], shift: $0[2], statistics: statistics, training: false)
        })
    }

    @Test func batchNormNormalizesAndTracksRunningStatistics() {
        let layer = BatchNorm(featureCount: 2, name: "generator.bn1")
        #expect(layer.buffers.map { $0.name } == ["generator.bn1.running_mean", "generator.bn1.running_var"])
        #expect(layer.parameters.map { $0.name } == ["generator.bn1.weight", "generator.bn1.bias"])
        // Channel 0 holds 1, 2, 3, 4; channel 1 holds 10, 10, 10, 10.
        let x = Variable(Tensor(shape: [2, 2, 2], values: [1, 2, 10, 10, 3, 4, 10, 10]))
        let y = layer(x).value.scalars
        let variance: Float = 1.25
        let rstd: Float = 1 / (variance + 1e-5).squareRoot()
        let expected: [Float] = [-1.5, -0.5, 0, 0, 0.5, 1.5, 0, 0].map { $0 * rstd }
        for (got, want) in zip(y, expected) { #expect(abs(got - want) < 1e-5) }
        // Running mean 0.9·0 + 0.1·mean; running variance uses the unbiased estimate (5/3 for channel 0).
        let runningMean = layer.statistics.mean.value.scalars, runningVariance = layer.statistics.variance.value.scalars
        #expect(abs(runningMean[0] - 0.25) < 1e-6 && abs(runningMean[1] - 1.0) < 1e-6)
        let expectedVariance: Float = 0.9 + 0.1 * 5 / 3
        #expect(abs(runningVariance[0] - expectedVariance) < 1e-6 && abs(runningVariance[1] - 0.9) < 1e-6)
        layer.setTraining(false)
        let evaluated = layer(x).value.scalars
        let expectedFirst: Float = 0.75 / (runningVariance[0] + 1e-5).squareRoot()
        #expect(abs(evaluated[0] - expectedFirst) < 1e-5)
    }

    @Test func layerNormGradients() {
        let x = randomVariable([3, 2, 5], seed: 8), gamma = randomVariable([5], seed: 9), beta = randomVariable([5], seed: 10)
        expectGradientsMatch(gradientCheck([x, gamma, beta]) { layerNorm($0[0], scale: $0[1], shift: $0[2]) })
    }
}

@Suite struct EngineIndexingTests {
    @Test func maxPoolValuesAndGradients() {
        let x = Variable(Tensor(shape: [1, 1, 2, 4], values: [1, 5, 2, 0, 3, 4, 8, 7]))
        #expect(maxPool2d(x, kernelSize: 2).value.scalars == [5, 8])
        // Distinct values 0.1 apart, so a step of 0.01 never changes which element is the maximum.
        var random = SeededRandom(seed: 11)
        var values: [Float] = []
        for index in 0..<(2 * 3 * 6 * 4) { values.append(Float(index) * 0.1 - 7) }
        random.shuffle(&values)
        let input = Variable(Tensor(shape: [2, 3, 6, 4], values: values), requiresGradient: true)
        expectGradientsMatch(gradientCheck([input], elementsPerInput: 60) { maxPool2d($0[0], kernelSize: 2) })
        expectGradientsMatch(gradientCheck([input], elementsPerInput: 60) { maxPool2d($0[0], kernelSize: 3, stride: 1) })
    }

    /// The 2×2 stride-2 fast path against the definition, with ties (the first maximum in row
    /// order takes the gradient) and odd sizes (the last row and column are dropped).
    @Test func maxPoolTwoByTwoMatchesTheDefinition() {
        var random = SeededRandom(seed: 12)
        let (batch, channels, height, width) = (2, 3, 7, 5)
        // Few distinct values, so many windows hold equal maxima.
        let values = (0..<(batch * channels * height * width)).map { _ in Float(random.nextIndex(below: 4)) }
        let input = Variable(Tensor(shape: [batch, channels, height, width], values: values), requiresGradient: true)
        let output = maxPool2d(input, kernelSize: 2)
        #expect(output.shape == [batch, channels, 3, 2])
        output.backward(seed: Tensor(shape: output.shape, values: (0..<output.value.count).map { Float($0 + 1) }))
        var expectedOutput: [Float] = [], expectedGradient = [Float](repeating: 0, count: values.count)
        for plane in 0..<(batch * channels) { for oy in 0..<3 { for ox in 0..<2 {
            var best = -Float.infinity, bestIndex = 0
            for ky in 0..<2 { for kx in 0..<2 {
                let index = plane * height * width + (2 * oy + ky) * width + 2 * ox + kx
                if values[index] > best { best = values[index]; bestIndex = index }
            } }
            expectedOutput.append(best)
            expectedGradient[bestIndex] += Float(expectedOutput.count)
        } } }
        #expect(output.value.scalars == expectedOutput)
        #expect(input.gradient!.scalars == expectedGradient)
    }

    /// Planes split among two workers once there are enough of them: the same values, the same
    /// gradients, for the fast 2×2 path and the general one.
    @Test func maxPoolGivesTheSameResultsOnTwoThreads() {
        // 4 · 8 planes of 192 × 176: a worker takes 15 planes (2¹⁹ elements) at least, so two of them split these.
        #expect(BLAS.$taskThreadCount.withValue(2) {
            workerCount(count: 32, minimumPerWorker: max(1, pointwiseElementsPerWorker / (192 * 176)))
        } == 2)
        let input = randomVariable([4, 8, 192, 176], seed: 14)
        for (kernel, stride) in [(2, 2), (3, 2)] {
            func run(threads: Int) -> [[Float]] {
                BLAS.$taskThreadCount.withValue(threads) {
                    let copy = Variable(parameter: input.value, name: "input")
                    let output = maxPool2d(copy, kernelSize: kernel, stride: stride)
                    output.backward(seed: Tensor(shape: output.shape, repeating: 1))
                    return [output.value.scalars, copy.gradient!.scalars]
                }
            }
            #expect(run(threads: 1) == run(threads: 2), "kernel \(kernel), stride \(stride)")
        }
    }

    /// Layer-norm (rows split, γ and β sums split by column), GELU, tanh and sigmoid split among the
    /// engine's threads give the bits one thread gives, values and every gradient.
    @Test func layerNormAndActivationsGiveTheSameResultsOnTwoThreads() {
        // 1,100 rows of 480: 528,000 elements, enough for two workers of each split.
        #expect(BLAS.$taskThreadCount.withValue(2) {
            workerCount(count: 1_100, minimumPerWorker: max(1, computeBoundElementsPerWorker / 480))
        } == 2)
        let input = randomVariable([1_100, 480], seed: 15)
        let scale = randomVariable([480], seed: 16), shift = randomVariable([480], seed: 17)
        func run(threads: Int) -> [[Float]] {
            BLAS.$taskThreadCount.withValue(threads) {
                let copies = [input, scale, shift].map { Variable(parameter: $0.value, name: "copy") }
                let normalized = layerNorm(copies[0], scale: copies[1], shift: copies[2])
                let output = gelu(normalized) + tanh(normalized) * sigmoid(normalized)
                var random = SeededRandom(seed: 18)
                output.backward(seed: Tensor(normalShape: output.shape, random: &random))
                return [output.value.scalars] + copies.map { $0.gradient!.scalars }
            }
        }
        #expect(run(threads: 1) == run(threads: 2))
    }

    /// ReLU and LeakyReLU store into a fresh gradient and add into an existing one.
    @Test func pointwiseBackwardAddsWhenTheInputIsUsedTwice() {
        let x = randomVariable([3, 7], seed: 13, awayFromZero: 0.1)
        let once = relu(x) + leakyRelu(x, negativeSlope: 0.2)
        once.backward(seed: Tensor(shape: [3, 7], repeating: 1))
        for (value, gradient) in zip(x.value.scalars, x.gradient!.scalars) {
            #expect(gradient == (value > 0 ? 2 : 0.2))
        }
        expectGradientsMatch(gradientCheck([x]) { relu($0[0]) * leakyRelu($0[0], negativeSlope: 0.2) })
    }

    @Test func dropoutIsSeededScaledAndCheckable() {
        let x = randomVariable([4, 50], seed: 12)
        var first = SeededRandom(seed: 3), second = SeededRandom(seed: 3)
        let a = dropout(x, probability: 0.5, random: &first).value.scalars
        let b = dropout(x, probability: 0.5, random: &second).value.scalars
        #expect(a == b)
        let zeros = a.filter { $0 == 0 }.count
        #expect(zeros > 60 && zeros < 140)
        for (kept, original) in zip(a, x.value.scalars) where kept != 0 { #expect(kept == original * 2) }
        expectGradientsMatch(gradientCheck([x]) {
            var random = SeededRandom(seed: 4)
            return dropout($0[0], probability: 0.3, random: &random)
        })
        let layer = Dropout(probability: 0.5)
        layer.setTraining(false)
        #expect(layer(x, random: &first).value.scalars == x.value.scalars)
    }

    @Test func embeddingLooksUpAndScattersRepeatedIndices() {
        let table = randomVariable([6, 3], seed: 13)
        let indices = [1, 4, 1, 0, 5, 1]
        let rows = embedding(indices, indexShape: [2, 3], weight: table)
        #expect(rows.shape == [2, 3, 3])
        #expect(Array(rows.value.scalars[0..<3]) == Array(table.value.scalars[3..<6]))
        expectGradientsMatch(gradientCheck([table]) { embedding(indices, indexShape: [2, 3], weight: $0[0]) })
    }
}
