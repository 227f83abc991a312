import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

@Suite struct EngineGradientCheckSelfTests {
    /// x², with a backward that is off by `error` (relative): the check must catch it.
    private func square(_ input: Variable, backwardError: Float) -> Variable {
        var output = Tensor(uninitializedShape: input.shape)
        for index in 0..<output.count { output[flatIndex: index] = input.value[flatIndex: index] * input.value[flatIndex: index] }
        return Variable(output, parents: [input]) { result in
            let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
            for index in 0..<result.value.count { dx[index] += dy[index] * 2 * input.value[flatIndex: index] * (1 + backwardError) }
        }
    }

    @Test func aCorrectBackwardPassesAndAWrongOneFails() {
        let x = randomVariable([3, 4], seed: 1)
        expectGradientsMatch(gradientCheck([x]) { square($0[0], backwardError: 0) })
        let wrong = gradientCheck([x]) { square($0[0], backwardError: 0.05) }
        #expect(wrong.worstRelativeError > 0.04, "\(wrong)")
    }
}

@Suite struct EngineTensorTests {
    @Test func shapesValuesAndCopyOnWrite() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        var b = a.reshaped([3, 2])
        #expect(b.shape == [3, 2] && b.scalars == a.scalars)
        b[flatIndex: 0] = 10
        #expect(a[flatIndex: 0] == 1 && b[flatIndex: 0] == 10)
        #expect(Tensor(zeros: [4]).scalars == [0, 0, 0, 0])
        var random = SeededRandom(seed: 3), again = SeededRandom(seed: 3)
        #expect(Tensor(normalShape: [5], random: &random).scalars == Tensor(normalShape: [5], random: &again).scalars)
    }

    @Test func matrixMultiplyAgreesWithLoopsForEveryTranspose() {
        var random = SeededRandom(seed: 5)
        let a = Tensor(normalShape: [3, 4], random: &random), b = Tensor(normalShape: [4, 5], random: &random)
        func naive(_ x: Tensor, _ y: Tensor) -> [Float] {
            var result = [Float](repeating: 0, count: 15)
            for i in 0..<3 { for j in 0..<5 { for k in 0..<4 { result[i * 5 + j] += x[flatIndex: i * 4 + k] * y[flatIndex: k * 5 + j] } } }
            return result
        }
        func transposed(_ t: Tensor) -> Tensor {
            let rows = t.shape[0], columns = t.shape[1]
            var result = Tensor(zeros: [columns, rows])
            for i in 0..<rows { for j in 0..<columns { result[flatIndex: j * rows + i] = t[flatIndex: i * columns + j] } }
            return result
        }
        let expected = naive(a, b)
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            let product = matrixMultiply(transposeA ? transposed(a) : a, transposeA: transposeA,
                                         transposeB ? transposed(b) : b, transposeB: transposeB)
            #expect(product.shape == [3, 5])
            for (got, want) in zip(product.scalars, expected) { #expect(abs(got - want) < 1e-5) }
        }
    }

    /// Products large enough to be split into one block per engine thread (by rows when op(A)
    /// has more rows than op(B) has columns, else by columns), with every transpose, strides wider
    /// than the matrices and beta = 1 or 0, against a loop in Double; and the same on one thread.
    /// With beta = 0 the matrix starts as NaN, which must not leak through, and the padding between
    /// its rows stays as it was.
    @Test func splitMatrixProductsAgreeWithLoops() {
        var random = SeededRandom(seed: 11)
        for (rows, columns, inner) in [(300, 40, 400), (40, 300, 400)] {
            #expect(BLAS.$taskThreadCount.withValue(2) { gemmWorkerCount(rows: rows, columns: columns, inner: inner) } == 2)
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
                for beta: Float in [1, 0] {
                    let pad = 3
                    let storedA = transposeA ? (inner, rows) : (rows, inner), storedB = transposeB ? (columns, inner) : (inner, columns)
                    let strideA = storedA.1 + pad, strideB = storedB.1 + pad, strideC = columns + pad
                    let a = (0..<(storedA.0 * strideA)).map { _ in random.nextUnitFloat() - 0.5 }
                    let b = (0..<(storedB.0 * strideB)).map { _ in random.nextUnitFloat() - 0.5 }
                    let initialC = (0..<(rows * strideC)).map { index in
                        beta == 0 && index % strideC < columns ? Float.nan : random.nextUnitFloat() - 0.5
                    }
                    func elementA(_ i: Int, _ k: Int) -> Double { Double(transposeA ? a[k * strideA + i] : a[i * strideA + k]) }
                    func elementB(_ k: Int, _ j: Int) -> Double { Double(transposeB ? b[j * strideB + k] : b[k * strideB + j]) }
                    // Every seventh entry along the diagonals (each row and column of both blocks), and the padding.
                    var expected: [(index: Int, value: Double)] = []
                    for i in 0..<rows {
                        for j in 0..<strideC where j >= columns || (i + j) % 7 == 0 {
                            var value = j < columns && beta == 0 ? 0 : Double(initialC[i * strideC + j])
                            if j < columns {
                                var sum = 0.0
                                for k in 0..<inner { sum += elementA(i, k) * elementB(k, j) }
                                value += 0.5 * sum
                            }
                            expected.append((i * strideC + j, value))
                        }
                    }
                    for threads in [2, 1] {
                        var c = initialC
                        BLAS.$taskThreadCount.withValue(threads) {
                            a.withUnsafeBufferPointer { aBuffer in
                                b.withUnsafeBufferPointer { bBuffer in
                                    c.withUnsafeMutableBufferPointer { cBuffer in
                                        matrixMultiply(aBuffer.baseAddress!, transposeA: transposeA, bBuffer.baseAddress!, transposeB: transposeB,
                                                       into: cBuffer.baseAddress!, rows: rows, columns: columns, inner: inner, alpha: 0.5, beta: beta,
                                                       strideA: strideA, strideB: strideB, strideC: strideC)
                                    }
                                }
                            }
                        }
                        // A NaN left in C counts as the worst error (max() would pass over it).
                        let worst = expected.map { entry in
                            let error = abs(Double(c[entry.index]) - entry.value)
                            return error.isNaN ? .infinity : error
                        }.max() ?? 0
                        #expect(worst < 1e-3, "\(rows)×\(columns)×\(inner) transposes \(transposeA)/\(transposeB), beta \(beta), on \(threads) threads: off by \(worst)")
                    }
                }
            }
        }
    }

    @Test func storageIsReusedThroughThePool() {
        let pool = StoragePool()
        StoragePool.$current.withValue(pool) {
            for _ in 0..<3 { _ = Tensor(zeros: [1000]) }
            #expect(pool.freshAllocationCount == 1)
        }
    }

    /// Blocks of ever-new sizes (text batches) do not pile up: past the bound they are freed.
    @Test func thePoolKeepsNoMoreThanItsBound() {
        let pool = StoragePool(maximumPooledElements: 1500)
        StoragePool.$current.withValue(pool) {
            do {
                let first = Tensor(zeros: [1000]), second = Tensor(zeros: [1000])
                #expect(first.count + second.count == 2000)
            }
            #expect(pool.pooledElementCount == 1000)
            for size in 1...50 { _ = Tensor(zeros: [size * 7]) }
            #expect(pool.pooledElementCount <= 1500)
        }
    }
}

@Suite struct EngineElementwiseGradientTests {
    @Test func arithmeticWithBroadcast() {
        let a = randomVariable([3, 4], seed: 1), b = randomVariable([3, 4], seed: 2), bias = randomVariable([4], seed: 3)
        expectGradientsMatch(gradientCheck([a, b]) { $0[0] + $0[1] })
        expectGradientsMatch(gradientCheck([a, b]) { $0[0] - $0[1] })
        expectGradientsMatch(gradientCheck([a, b]) { $0[0] * $0[1] })
        expectGradientsMatch(gradientCheck([a, bias]) { $0[0] + $0[1] })
        expectGradientsMatch(gradientCheck([a, bias]) { $0[0] * $0[1] })
        expectGradientsMatch(gradientCheck([a]) { scale($0[0], by: -2.5) })
        // The same input used twice accumulates both contributions.
        expectGradientsMatch(gradientCheck([a]) { $0[0] * $0[0] + $0[0] })
    }

    @Test func activations() {
        let x = randomVariable([4, 5], seed: 4, scale: 1.5, awayFromZero: 0.05)
        expectGradientsMatch(gradientCheck([x]) { relu($0[0]) })
        expectGradientsMatch(gradientCheck([x]) { leakyRelu($0[0], negativeSlope: 0.2) })
        expectGradientsMatch(gradientCheck([x]) { tanh($0[0]) })
        expectGradientsMatch(gradientCheck([x]) { sigmoid($0[0]) })
        expectGradientsMatch(gradientCheck([x]) { gelu($0[0]) })
    }

    @Test func activationValues() {
        let x = Variable(Tensor(shape: [4], values: [-2, -0.5, 0.5, 3]))
        let expectedTanh = [-2, -0.5, 0.5, 3].map { Float(Foundation.tanh(Double($0))) }
        for (got, want) in zip(tanh(x).value.scalars, expectedTanh) { #expect(abs(got - want) < 1e-6) }
        #expect(relu(x).value.scalars == [0, 0, 0.5, 3])
        #expect(leakyRelu(x, negativeSlope: 0.2).value.scalars == [-0.4, -0.1, 0.5, 3])
        // GELU(1) = 0.8413447 (erf form).
        #expect(abs(gelu(Variable(Tensor(shape: [1], values: [1]))).value.scalarValue - 0.8413447) < 1e-6)
    }

    @Test func softmaxAndLogSoftmax() {
        let x = randomVariable([3, 5], seed: 6)
        expectGradientsMatch(gradientCheck([x]) { softmax($0[0]) })
        expectGradientsMatch(gradientCheck([x]) { logSoftmax($0[0]) })
        let rows = softmax(Variable(Tensor(shape: [2, 3], values: [1, 2, 3, 1000, 1000, 1000]))).value.scalars
        #expect(abs(rows[0] + rows[1] + rows[2] - 1) < 1e-6)
        #expect(rows[3...].allSatisfy { abs($0 - 1.0 / 3) < 1e-6 }, "\(rows)")
    }

    @Test func reductionsReshapeConcatAndSlice() {
        let x = randomVariable([2, 3, 4], seed: 7), y = randomVariable([2, 2, 4], seed: 8)
        expectGradientsMatch(gradientCheck([x]) { sum($0[0]) })
        expectGradientsMatch(gradientCheck([x]) { mean($0[0]) })
        for axis in 0..<3 {
            expectGradientsMatch(gradientCheck([x]) { sum($0[0], alongAxis: axis) })
            expectGradientsMatch(gradientCheck([x]) { mean($0[0], alongAxis: axis) })
        }
        expectGradientsMatch(gradientCheck([x]) { reshape($0[0], [6, -1]) * reshape($0[0], [6, 4]) })
        expectGradientsMatch(gradientCheck([x, y]) { concat([$0[0], $0[1]], alongAxis: 1) })
        expectGradientsMatch(gradientCheck([x]) { slice($0[0], alongAxis: 1, range: 1..<3) })
        expectGradientsMatch(gradientCheck([x]) { slice($0[0], alongAxis: 2, range: 0..<2) + slice($0[0], alongAxis: 2, range: 2..<4) })
        let rows = Variable(Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
        #expect(slice(rows, alongAxis: 1, range: 1..<3).value.scalars == [2, 3, 5, 6])
        #expect(slice(rows, alongAxis: 0, range: 1..<2).value.scalars == [4, 5, 6])
        let joined = concat([Variable(Tensor(shape: [2, 1], values: [1, 2])), Variable(Tensor(shape: [2, 2], values: [3, 4, 5, 6]))],
                            alongAxis: 1)
        #expect(joined.shape == [2, 3] && joined.value.scalars == [1, 3, 4, 2, 5, 6])
    }

    @Test func losses() {
        let logits = randomVariable([4, 5], seed: 9)
        let labels = [0, 3, 4, 1]
        expectGradientsMatch(gradientCheck([logits]) { crossEntropy(logits: $0[0], labels: labels) })
        expectGradientsMatch(gradientCheck([logits]) { crossEntropy(logits: $0[0], labels: labels, labelSmoothing: 0.1) })
        var random = SeededRandom(seed: 10)
        let targets = Tensor(uniformShape: [4, 5], in: 0...1, random: &random)
        expectGradientsMatch(gradientCheck([logits]) { binaryCrossEntropyWithLogits(logits: $0[0], targets: targets) })
        expectGradientsMatch(gradientCheck([logits]) { meanSquaredError($0[0], targets: targets) })

        // Uniform logits: cross-entropy is log C, smoothed or not.
        let uniform = Variable(Tensor(zeros: [2, 4]))
        #expect(abs(crossEntropy(logits: uniform, labels: [1, 2]).value.scalarValue - logf(4)) < 1e-6)
        #expect(abs(crossEntropy(logits: uniform, labels: [1, 2], labelSmoothing: 0.2).value.scalarValue - logf(4)) < 1e-6)
        // BCE of logit 0 is log 2 whatever the target.
        #expect(abs(binaryCrossEntropyWithLogits(logits: uniform, targets: Tensor(shape: [2, 4], repeating: 1))
            .value.scalarValue - logf(2)) < 1e-6)
    }

    /// MSGAN's regulariser: the value by hand on a tiny batch, and its gradient by finite differences
    /// (pairs whose elements differ by much more than the step, so |·| stays differentiable there).
    @Test func modeSeekingLoss() {
        // Pairs (row 0, row 2) and (row 1, row 3): mean|x₁ − x₂| = (1 + 3 + 2 + 2) / 4 = 2,
        // mean|z₁ − z₂| = (2 + 2) / 2 = 2, so the loss is 1 / (1 + ε).
        let outputs = Variable(Tensor(shape: [4, 2], values: [1, 0, 2, 2, 0, 3, 0, 4]))
        let noise = Tensor(shape: [4, 1], values: [0, 1, 2, -1])
        #expect(abs(ReptileEngine.modeSeekingLoss(outputs: outputs, noise: noise).value.scalarValue - 1 / (1 + 1e-5)) < 1e-6)

        var random = SeededRandom(seed: 12)
        let spread = Tensor(normalShape: [6, 3], random: &random)
        let images = randomVariable([6, 2, 3], seed: 13)
        // Keep every paired difference at least 0.2 away from zero.
        for index in 0..<18 {
            let first = images.value[flatIndex: index], second = images.value[flatIndex: index + 18]
            if abs(first - second) < 0.2 { images.value[flatIndex: index + 18] = first + (index % 2 == 0 ? 0.5 : -0.5) }
        }
        expectGradientsMatch(gradientCheck([images], stepSize: 1e-2) { ReptileEngine.modeSeekingLoss(outputs: $0[0], noise: spread) })
    }
}

/// The PPO pieces of PolicyGradient.swift and Indexing.swift's gatherElements against finite differences.
@Suite struct EnginePolicyAndGatherGradientTests {
    @Test func gaussianLogDensityPerRowAndPerElement() {
        // −((1 − 0)² + (2 − 0)²) / (2 · 0.5²) = −10 for the row; −2 and −8 per element.
        let zero = Variable(Tensor(shape: [1, 2], values: [0, 0]))
        let point = Tensor(shape: [1, 2], values: [1, 2])
        #expect(abs(gaussianLogDensity(mean: zero, samples: point, standardDeviation: 0.5).value[flatIndex: 0] + 10) < 1e-5)
        #expect(gaussianLogDensity(mean: zero, samples: point, standardDeviation: 0.5, perElement: true).value.scalars == [-2, -8])

        var random = SeededRandom(seed: 21)
        let samples = Tensor(normalShape: [2, 3], random: &random)
        for perElement in [false, true] {
            let mean = randomVariable([2, 3], seed: 22)
            expectGradientsMatch(gradientCheck([mean]) {
                gaussianLogDensity(mean: $0[0], samples: samples, standardDeviation: 0.7, perElement: perElement)
            })
        }
    }

    /// Log-ratios of ±0.05 lie inside [log 0.8, log 1.2] and ±0.5 outside, both well beyond the step
    /// from the clip boundary; with the advantages' signs, some clipped terms are the minimum (no
    /// gradient) and some are not (the gradient flows), so both branches are checked.
    @Test func clippedSurrogateLossPerSampleAndPerDimension() {
        let logRatios: [Float] = [0.05, -0.5, 0.5, -0.05, 0.5, -0.5]
        for (shape, advantages) in [([6], [Float](arrayLiteral: 1, -1, 0.5, -2, -1.5, 0.8)), ([2, 3], [1.5, -0.8])] {
            let logProbabilities = randomVariable(shape, seed: 23)
            let old = (0..<6).map { logProbabilities.value[flatIndex: $0] - logRatios[$0] }
            let evaluation = clippedSurrogateLoss(logProbabilities: logProbabilities, oldLogProbabilities: old,
                                                  advantages: advantages, clipRange: 0.2)
            #expect(abs(evaluation.statistics.clipFraction - 4.0 / 6) < 1e-6)
            expectGradientsMatch(gradientCheck([logProbabilities]) {
                clippedSurrogateLoss(logProbabilities: $0[0], oldLogProbabilities: old, advantages: advantages, clipRange: 0.2).loss
            })
        }
    }

    /// Zero fill (−1) and a source read twice (0, 5), so the backward's scatter-add adds.
    @Test func gatherElementsSelectsFillsAndScatterAdds() {
        let input = randomVariable([2, 3], seed: 24)
        let indices: [Int32] = [5, -1, 0, 0, 3, -1, 2, 5]
        let output = gatherElements(input, sourceIndices: indices, shape: [2, 4])
        #expect(output.shape == [2, 4])
        for (position, source) in indices.enumerated() {
            #expect(output.value[flatIndex: position] == (source < 0 ? 0 : input.value[flatIndex: Int(source)]))
        }
        expectGradientsMatch(gradientCheck([input]) { gatherElements($0[0], sourceIndices: indices, shape: [2, 4]) })
    }
}
