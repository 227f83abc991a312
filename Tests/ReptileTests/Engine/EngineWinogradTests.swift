import ReptileCore
import Testing
@testable import ReptileEngine

/// 3×3 stride-1 convolutions take the Winograd F(2×2, 3×3) path; im2col (checked against the
/// definition in EngineConvolutionTests) is the reference it must agree with.
@Suite struct EngineWinogradTests {
    /// Output and every gradient of conv2d over fresh copies of the inputs, on the given path.
    private func outputAndGradients(_ inputs: [Variable], padding: Int, policy: WinogradConvolution.Policy,
                                    threads: Int = 1, columnBlockEntries: Int = 1 << 30) -> [[Float]] {
        BLAS.$taskThreadCount.withValue(threads) {
            WinogradConvolution.$policy.withValue(policy) {
                ConvolutionChunking.$minimumColumns.withValue(1) {
                    ConvolutionChunking.$columnBlockEntries.withValue(columnBlockEntries) {
                        let copies = inputs.map { Variable(parameter: $0.value, name: "copy") }
                        let output = conv2d(copies[0], weight: copies[1], bias: copies.count > 2 ? copies[2] : nil,
                                            padding: padding)
                        var random = SeededRandom(seed: 7)
                        output.backward(seed: Tensor(normalShape: output.shape, random: &random))
                        return [output.value.scalars] + copies.map { $0.gradient!.scalars }
                    }
                }
            }
        }
    }

    private func worstDifference(_ left: [[Float]], _ right: [[Float]]) -> Float {
        zip(left, right).map { pair -> Float in
            precondition(pair.0.count == pair.1.count, "sizes differ: \(pair.0.count) and \(pair.1.count)")
            return zip(pair.0, pair.1).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
        }.max() ?? 0
    }

    /// Odd and even sizes (a last tile half outside the output), paddings 0–2, planes smaller than a
    /// tile, and rows of more than eight tiles (the transforms run eight tile columns at a time).
    @Test(arguments: [([2, 3, 7, 6], 1), ([2, 3, 8, 8], 1), ([1, 2, 5, 9], 0), ([2, 3, 6, 5], 2), ([3, 2, 2, 3], 1),
                      ([1, 4, 3, 3], 0), ([2, 3, 5, 19], 1), ([1, 2, 4, 34], 0), ([1, 2, 3, 37], 2)])
    func valuesAndGradientsEqualIm2col(inputShape: [Int], padding: Int) {
        let x = randomVariable(inputShape, seed: 1), w = randomVariable([5, inputShape[1], 3, 3], seed: 2)
        let b = randomVariable([5], seed: 3)
        let winograd = outputAndGradients([x, w, b], padding: padding, policy: .always)
        let im2col = outputAndGradients([x, w, b], padding: padding, policy: .never)
        #expect(worstDifference(winograd, im2col) < 1e-5)
        // Without a bias too.
        #expect(worstDifference(outputAndGradients([x, w], padding: padding, policy: .always),
                                outputAndGradients([x, w], padding: padding, policy: .never)) < 1e-5)
    }

    @Test(arguments: [0, 1, 2])
    func gradientsMatchFiniteDifferences(padding: Int) {
        let x = randomVariable([2, 3, 6, 5], seed: 4), w = randomVariable([4, 3, 3, 3], seed: 5), b = randomVariable([4], seed: 6)
        WinogradConvolution.$policy.withValue(.always) {
            expectGradientsMatch(gradientCheck([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], padding: padding) })
        }
    }

    /// Two workers and chunks of one or two images give what one worker and one chunk give, and two
    /// workers give the same bits every time (each worker's weight-gradient sum is added in worker order).
    @Test func workersAndChunksChangeNothing() {
        let x = randomVariable([5, 8, 9, 7], seed: 8), w = randomVariable([6, 8, 3, 3], seed: 9), b = randomVariable([6], seed: 10)
        let whole = outputAndGradients([x, w, b], padding: 1, policy: .always)
        let tilesPerImage = 5 * 4, entriesPerImage = 16 * 8 * tilesPerImage
        for (threads, entries) in [(2, 1 << 30), (1, entriesPerImage), (2, 2 * entriesPerImage)] {
            let split = outputAndGradients([x, w, b], padding: 1, policy: .always, threads: threads, columnBlockEntries: entries)
            // The weight gradient's sums over tiles are regrouped by chunk and worker: rounding only.
            #expect(worstDifference(whole, split) < 5e-5, "\(threads) threads, chunks of \(entries / entriesPerImage)")
        }
        let twoWorkers = outputAndGradients([x, w, b], padding: 1, policy: .always, threads: 2)
        let twoWorkersAgain = outputAndGradients([x, w, b], padding: 1, policy: .always, threads: 2)
        #expect(twoWorkers == twoWorkersAgain)
    }

    @Test func takenForThreeByThreeStrideOneKernelsOnEnoughChannels() {
        func geometry(channels: Int, kernel: Int, stride: Int) -> ConvolutionGeometry {
            ConvolutionGeometry(channels: channels, height: 8, width: 8, kernelHeight: kernel, kernelWidth: kernel,
                                strideHeight: stride, strideWidth: stride, paddingHeight: 1, paddingWidth: 1)
        }
        #expect(WinogradConvolution.applies(to: geometry(channels: 32, kernel: 3, stride: 1)))
        #expect(!WinogradConvolution.applies(to: geometry(channels: 1, kernel: 3, stride: 1)))
        #expect(!WinogradConvolution.applies(to: geometry(channels: 32, kernel: 3, stride: 2)))
        #expect(!WinogradConvolution.applies(to: geometry(channels: 32, kernel: 4, stride: 1)))
        #expect(WinogradConvolution.$policy.withValue(.never) {
            WinogradConvolution.applies(to: geometry(channels: 32, kernel: 3, stride: 1))
        } == false)
    }
}
