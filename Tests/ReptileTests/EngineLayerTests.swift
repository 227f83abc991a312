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
    }

    @Test(arguments: [(1, 0), (2, 1), (2, 0), (3, 1)])
    func convTranspose2dGradients(stride: Int, padding: Int) {
        let x = randomVariable([2, 3, 4, 3], seed: 10), w = randomVariable([3, 2, 4, 4], seed: 11), b = randomVariable([2], seed: 12)
        expectGradientsMatch(gradientCheck([x, w, b]) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding)
        })
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
