import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

@Suite struct EngineSlicingTests {
    @Test func sliceValuesAndGradients() {
        let x = Variable(Tensor(shape: [2, 3, 2], values: (0..<12).map(Float.init)), requiresGradient: true)
        #expect(slice(x, alongAxis: 1, range: 1..<3).shape == [2, 2, 2])
        #expect(slice(x, alongAxis: 1, range: 1..<3).value.scalars == [2, 3, 4, 5, 8, 9, 10, 11])
        #expect(slice(x, alongAxis: 0, range: 1..<2).value.scalars == [6, 7, 8, 9, 10, 11])
        #expect(slice(x, alongAxis: 2, range: 0..<1).value.scalars == [0, 2, 4, 6, 8, 10])
        let y = randomVariable([3, 5, 4], seed: 21)
        for axis in 0..<3 {
            expectGradientsMatch(gradientCheck([y]) { slice($0[0], alongAxis: axis, range: 1..<3) })
        }
    }

    @Test func gatherPicksRowsAndScatterAddsRepeats() {
        let x = Variable(Tensor(shape: [3, 2], values: [0, 1, 2, 3, 4, 5]), requiresGradient: true)
        let picked = gather(x, rows: [2, 0, 2])
        #expect(picked.shape == [3, 2] && picked.value.scalars == [4, 5, 0, 1, 4, 5])
        picked.backward(seed: Tensor(shape: [3, 2], repeating: 1))
        #expect(x.gradient!.scalars == [1, 1, 0, 0, 2, 2])
        let y = randomVariable([5, 2, 3], seed: 22)
        expectGradientsMatch(gradientCheck([y]) { gather($0[0], rows: [4, 1, 1, 0, 4, 4]) })
    }

    @Test func stackAndSplitAreInverses() {
        let a = randomVariable([2, 3], seed: 23), b = randomVariable([2, 3], seed: 24)
        let stacked = stack([a, b], alongAxis: 1)
        #expect(stacked.shape == [2, 2, 3])
        #expect(Array(stacked.value.scalars[0..<6]) == Array(a.value.scalars[0..<3] + b.value.scalars[0..<3]))
        let parts = split(stacked, alongAxis: 1)
        #expect(parts.count == 2 && parts[0].value.scalars == a.value.scalars && parts[1].value.scalars == b.value.scalars)
        expectGradientsMatch(gradientCheck([a, b]) { stack($0, alongAxis: 0) })
        expectGradientsMatch(gradientCheck([a, b]) { inputs in
            let parts = split(stack(inputs, alongAxis: 2), alongAxis: 2)
            return parts[0] * parts[1] + parts[1]
        })
    }
}

@Suite struct EngineRecurrentTests {
    /// The same GRU written step by step with the engine's small ops, as an independent reference.
    private func referenceGRU(_ input: Variable, initialState: Variable, weightInput: Variable, weightHidden: Variable,
                              biasInput: Variable, biasHidden: Variable) -> Variable {
        let hiddenSize = weightHidden.shape[1]
        func gate(_ projection: Variable, _ index: Int) -> Variable {
            slice(projection, alongAxis: 1, range: (index * hiddenSize)..<((index + 1) * hiddenSize))
        }
        var state = initialState
        var states: [Variable] = []
        for step in split(input, alongAxis: 1) {
            let fromInput = linear(step, weight: weightInput, bias: biasInput)
            let fromHidden = linear(state, weight: weightHidden, bias: biasHidden)
            let reset = sigmoid(gate(fromInput, 0) + gate(fromHidden, 0))
            let update = sigmoid(gate(fromInput, 1) + gate(fromHidden, 1))
            let candidate = tanh(gate(fromInput, 2) + reset * gate(fromHidden, 2))
            let one = Variable(Tensor(shape: update.shape, repeating: 1))
            state = (one - update) * candidate + update * state
            states.append(state)
        }
        return stack(states, alongAxis: 1)
    }

    private func parameters(inputSize: Int, hiddenSize: Int, seed: UInt64) -> [Variable] {
        [randomVariable([3 * hiddenSize, inputSize], seed: seed, scale: 0.5),
         randomVariable([3 * hiddenSize, hiddenSize], seed: seed + 1, scale: 0.5),
         randomVariable([3 * hiddenSize], seed: seed + 2, scale: 0.5),
         randomVariable([3 * hiddenSize], seed: seed + 3, scale: 0.5)]
    }

    @Test func fusedGRUMatchesTheStepByStepReference() {
        let batch = 3, time = 5, inputSize = 4, hiddenSize = 6
        let input = randomVariable([batch, time, inputSize], seed: 31)
        let initial = randomVariable([batch, hiddenSize], seed: 32, scale: 0.5)
        let weights = parameters(inputSize: inputSize, hiddenSize: hiddenSize, seed: 33)
        let fused = gru(input, initialState: initial, weightInput: weights[0], weightHidden: weights[1],
                        biasInput: weights[2], biasHidden: weights[3])
        let reference = referenceGRU(input, initialState: initial, weightInput: weights[0], weightHidden: weights[1],
                                     biasInput: weights[2], biasHidden: weights[3])
        #expect(fused.states.shape == [batch, time, hiddenSize] && fused.last.shape == [batch, hiddenSize])
        #expect(zip(fused.states.value.scalars, reference.value.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        let lastStep = slice(reference, alongAxis: 1, range: (time - 1)..<time).value.scalars
        for (got, want) in zip(fused.last.value.scalars, lastStep) { #expect(abs(got - want) < 1e-5) }

        // Same gradients as the reference for every input, under one random seed.
        var random = SeededRandom(seed: 34)
        let seed = Tensor(normalShape: [batch, time, hiddenSize], random: &random)
        let all = [input, initial] + weights
        fused.states.backward(seed: seed)
        let fusedGradients = all.map { $0.gradient!.scalars }
        for variable in all { variable.zeroGradient() }
        reference.backward(seed: seed)
        for (number, (variable, fusedGradient)) in zip(all, fusedGradients).enumerated() {
            let worst = zip(fusedGradient, variable.gradient!.scalars).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-4, "gradient of input \(number) differs by up to \(worst)")
        }
    }

    @Test func gruGradientsThroughTimeForEveryInput() {
        let batch = 2, time = 4, inputSize = 3, hiddenSize = 5
        let input = randomVariable([batch, time, inputSize], seed: 41)
        let initial = randomVariable([batch, hiddenSize], seed: 42, scale: 0.5)
        let weights = parameters(inputSize: inputSize, hiddenSize: hiddenSize, seed: 43)
        // All states and, once more, the last one: both outputs carry gradient.
        let result = gradientCheck([input, initial] + weights, elementsPerInput: 30) { inputs in
            let output = gru(inputs[0], initialState: inputs[1], weightInput: inputs[2], weightHidden: inputs[3],
                             biasInput: inputs[4], biasHidden: inputs[5])
            return concat([reshape(output.states, [batch, time * hiddenSize]), output.last], alongAxis: 1)
        }
        expectGradientsMatch(result)
        // Input 24 and initial state 10 (all), weights 30 each (sampled), biases 15 each (all).
        #expect(result.checkedElements == 24 + 10 + 30 + 30 + 15 + 15)
    }

    @Test func fastExponentialAgreesWithExpf() {
        var worst: Float = 0
        for step in -2000...2000 {
            let value = Float(step) * 0.043  // −86 … 86
            worst = max(worst, abs(fastExponential(value) - expf(value)) / expf(value))
        }
        #expect(worst < 1e-6, "worst relative error \(worst)")
        #expect(fastExponential(-200) == 0 && fastExponential(-1e9) == 0 && fastExponential(200).isFinite)
        #expect(abs(fastSigmoid(0) - 0.5) < 1e-7 && fastSigmoid(-100) < 1e-30 && fastSigmoid(100) == 1)
    }

    @Test func gruLayerNamesItsParametersLikePyTorch() {
        var random = SeededRandom(seed: 45)
        let layer = GRU(inputSize: 3, hiddenSize: 4, name: "generator.gru", random: &random)
        #expect(layer.parameters.map { $0.name! } == ["generator.gru.weight_ih_l0", "generator.gru.weight_hh_l0",
                                                       "generator.gru.bias_ih_l0", "generator.gru.bias_hh_l0"])
        #expect(layer.parameters.map(\.shape) == [[12, 3], [12, 4], [12], [12]])
        let output = layer(Variable(Tensor(zeros: [2, 3, 3])))
        #expect(output.states.shape == [2, 3, 4])
    }
}
