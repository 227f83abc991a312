import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

@Suite struct EngineAttentionTests {
    /// Two sequences of four: the first has one padded position, the second two.
    private let mask = [true, true, true, false, true, true, false, false]

    /// softmax(q·kᵀ/√d) v per head with plain loops, padded keys left out of the softmax.
    private func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int, mask: [Bool]) -> [Float] {
        let batch = q.shape[0], sequence = q.shape[1], width = q.shape[2], headSize = width / heads
        var output = [Float](repeating: 0, count: q.count)
        for item in 0..<batch {
            for head in 0..<heads {
                for row in 0..<sequence {
                    var weights = [Double](repeating: 0, count: sequence)
                    for column in 0..<sequence where mask[item * sequence + column] {
                        var dot: Double = 0
                        for index in 0..<headSize {
                            let offset = head * headSize + index
                            dot += Double(q[flatIndex: (item * sequence + row) * width + offset])
                                * Double(k[flatIndex: (item * sequence + column) * width + offset])
                        }
                        weights[column] = exp(dot / Double(headSize).squareRoot())
                    }
                    let total = weights.reduce(0, +)
                    for index in 0..<headSize {
                        let offset = head * headSize + index
                        var value: Double = 0
                        for column in 0..<sequence {
                            value += weights[column] / total * Double(v[flatIndex: (item * sequence + column) * width + offset])
                        }
                        output[(item * sequence + row) * width + offset] = Float(value)
                    }
                }
            }
        }
        return output
    }

    @Test func attentionMatchesTheDefinitionWithAMask() {
        let q = randomVariable([2, 4, 6], seed: 51), k = randomVariable([2, 4, 6], seed: 52), v = randomVariable([2, 4, 6], seed: 53)
        let output = multiHeadAttention(query: q, key: k, value: v, heads: 2, mask: mask)
        let expected = naiveAttention(q.value, k.value, v.value, heads: 2, mask: mask)
        #expect(output.shape == [2, 4, 6])
        for (got, want) in zip(output.value.scalars, expected) { #expect(abs(got - want) < 1e-5) }
        let unmasked = multiHeadAttention(query: q, key: k, value: v, heads: 3)
        let expectedUnmasked = naiveAttention(q.value, k.value, v.value, heads: 3, mask: Array(repeating: true, count: 8))
        for (got, want) in zip(unmasked.value.scalars, expectedUnmasked) { #expect(abs(got - want) < 1e-5) }
    }

    @Test func attentionGradientsWithAndWithoutMask() {
        let q = randomVariable([2, 4, 6], seed: 54), k = randomVariable([2, 4, 6], seed: 55), v = randomVariable([2, 4, 6], seed: 56)
        expectGradientsMatch(gradientCheck([q, k, v], elementsPerInput: 48) {
            multiHeadAttention(query: $0[0], key: $0[1], value: $0[2], heads: 2, mask: mask)
        })
        expectGradientsMatch(gradientCheck([q, k, v], elementsPerInput: 48) {
            multiHeadAttention(query: $0[0], key: $0[1], value: $0[2], heads: 3)
        })
    }

    /// Sixteen (sequence, head) blocks of 32 × 16: enough work that two threads split the blocks.
    @Test func blocksSplitOverWorkersGiveTheSameValuesAndGradients() {
        let shape = [4, 32, 64], heads = 4
        let longMask = (0..<(4 * 32)).map { $0 % 32 < 32 - 5 * ($0 / 32) }  // 0, 5, 10, 15 padded
        #expect(BLAS.$taskThreadCount.withValue(2) {
            workerCount(count: 16, minimumPerWorker: minimumAttentionWorkPerWorker / (2 * 32 * 32 * 16))
        } == 2)
        var results: [(output: [Float], gradients: [[Float]])] = []
        for threads in [2, 1] {
            let q = randomVariable(shape, seed: 57), k = randomVariable(shape, seed: 58), v = randomVariable(shape, seed: 59)
            let seed = randomVariable(shape, seed: 60).value
            let output = BLAS.$taskThreadCount.withValue(threads) {
                let output = multiHeadAttention(query: q, key: k, value: v, heads: heads, mask: longMask)
                output.backward(seed: seed)
                return output
            }
            results.append((output.value.scalars, [q, k, v].map { $0.gradient!.scalars }))
            if threads == 2 {
                let expected = naiveAttention(q.value, k.value, v.value, heads: heads, mask: longMask)
                let worst = zip(output.value.scalars, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 1e-5)
            }
        }
        #expect(results[0].output == results[1].output)
        #expect(results[0].gradients == results[1].gradients)
    }

    @Test func selfAttentionLayerGradientsIncludingParameters() {
        var random = SeededRandom(seed: 57)
        let layer = MultiHeadSelfAttention(hiddenSize: 6, headCount: 2, name: "encoder.layer0.attention", random: &random)
        #expect(layer.parameters.map { $0.name! } == [
            "encoder.layer0.attention.query.weight", "encoder.layer0.attention.query.bias",
            "encoder.layer0.attention.key.weight", "encoder.layer0.attention.key.bias",
            "encoder.layer0.attention.value.weight", "encoder.layer0.attention.value.bias",
            "encoder.layer0.attention.output.weight", "encoder.layer0.attention.output.bias",
        ])
        let input = randomVariable([2, 4, 6], seed: 58)
        for parameter in layer.parameters { parameter.zeroGradient() }
        // The layer reads its own parameters: the check perturbs them in place.
        expectGradientsMatch(gradientCheck([input] + layer.parameters, elementsPerInput: 12) { inputs in
            layer(inputs[0], mask: mask)
        })
    }

    @Test func paddedPositionsDoNotChangeRealOutputs() {
        var random = SeededRandom(seed: 59)
        let layer = MultiHeadSelfAttention(hiddenSize: 6, headCount: 3, name: "attention", random: &random)
        let input = randomVariable([2, 4, 6], seed: 60)
        let before = layer(input, mask: mask).value
        var changed = input.value
        for (position, real) in mask.enumerated() where !real {
            for index in 0..<6 { changed[flatIndex: position * 6 + index] += 10 }
        }
        let after = layer(Variable(changed), mask: mask).value
        // Padded keys get exactly zero probability, not merely a tiny one: even huge values there
        // leave every output unchanged.
        var huge = input.value
        for (position, real) in mask.enumerated() where !real {
            for index in 0..<6 { huge[flatIndex: position * 6 + index] = 1e36 }
        }
        let probabilitiesLeak = multiHeadAttention(query: input, key: input, value: Variable(huge), heads: 3, mask: mask).value.scalars
        #expect(probabilitiesLeak == multiHeadAttention(query: input, key: input, value: input, heads: 3, mask: mask).value.scalars)
        for (position, real) in mask.enumerated() {
            for index in 0..<6 {
                let a = before[flatIndex: position * 6 + index], b = after[flatIndex: position * 6 + index]
                if real { #expect(a == b) } else { #expect(a != b) }
            }
        }
        // Without the mask the same change reaches every position.
        #expect(layer(input).value[flatIndex: 0] != layer(Variable(changed)).value[flatIndex: 0])
    }
}

@Suite struct EngineSpectralNormTests {
    @Test func spectralNormalizeGradientsWithFixedVectors() {
        var random = SeededRandom(seed: 61)
        let weight = randomVariable([4, 3, 2], seed: 62)
        let u = Tensor(normalShape: [4], random: &random), v = Tensor(normalShape: [6], random: &random)
        expectGradientsMatch(gradientCheck([weight], elementsPerInput: 24) {
            spectralNormalize($0[0], u: u, v: v)
        })
    }

    @Test func powerIterationFindsTheLargestSingularValue() {
        // Singular values 3, 1, 0.5 (a rotated diagonal would do as well: the method does not care).
        let weight = Variable(parameter: Tensor(shape: [3, 3], values: [0, 3, 0, 0.5, 0, 0, 0, 0, 1]), name: "d.weight")
        var random = SeededRandom(seed: 63)
        let norm = SpectralNorm(weightShape: [3, 3], name: "d", random: &random)
        #expect(norm.buffers.map { $0.name! } == ["d.weight_u", "d.weight_v"])
        var normalized = norm(weight)
        for _ in 0..<30 { normalized = norm(weight) }
        #expect(abs(normalized.value[flatIndex: 1] - 1) < 1e-4)
        #expect(abs(normalized.value[flatIndex: 8] - 1 / 3) < 1e-4)
        // Evaluation uses u and v as they are.
        norm.setTraining(false)
        let u = norm.u.value.scalars
        _ = norm(weight)
        #expect(norm.u.value.scalars == u)
        // Gradients reach the weight through W / σ.
        norm(weight).backward(seed: Tensor(shape: [3, 3], repeating: 1))
        #expect(weight.gradient!.scalars.contains { $0 != 0 })
    }
}
