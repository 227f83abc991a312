import Foundation
import ReptileCore

// A GRU over a whole sequence as ONE op with its own backward through time, rather than a chain of
// small ops per step: one GEMM for the input projections of every step, one GEMM per step for the
// hidden projection, and the gate arithmetic in a few short vectorised loops per step.
//
// Equations and fused weight layout as PyTorch (gate order r, z, n):
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)
//   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h

/// The hidden states of a recurrent layer.
public struct RecurrentOutput {
    /// Every step's hidden state, [batch, time, hidden].
    public let states: Variable
    /// The state after the last step, [batch, hidden] (a slice of `states`).
    public let last: Variable
}

/// Runs a GRU over `input` [batch, time, inputSize] from `initialState` [batch, hidden].
/// weightInput [3H, inputSize], weightHidden [3H, H], biasInput and biasHidden [3H], rows in gate
/// order r, z, n.
public func gru(_ input: Variable, initialState: Variable, weightInput: Variable, weightHidden: Variable,
                biasInput: Variable, biasHidden: Variable) -> RecurrentOutput {
    precondition(input.shape.count == 3 && input.shape[1] > 0,
                 "gru needs input [batch, time, features] with time > 0, got \(input.shape)")
    let batch = input.shape[0], time = input.shape[1], inputSize = input.shape[2]
    precondition(weightHidden.shape.count == 2 && weightHidden.shape[0] == 3 * weightHidden.shape[1],
                 "gru needs weightHidden [3H, H], got \(weightHidden.shape)")
    let hiddenSize = weightHidden.shape[1], gateSize = 3 * hiddenSize
    precondition(weightInput.shape == [gateSize, inputSize],
                 "gru: weightInput \(weightInput.shape) should be [\(gateSize), \(inputSize)] for input \(input.shape)")
    precondition(biasInput.shape == [gateSize] && biasHidden.shape == [gateSize],
                 "gru: biases \(biasInput.shape) and \(biasHidden.shape) should be [\(gateSize)]")
    precondition(initialState.shape == [batch, hiddenSize],
                 "gru: initial state \(initialState.shape) should be [\(batch), \(hiddenSize)]")
    let rows = batch * time, stepSize = batch * hiddenSize

    // Input projections of all steps in one GEMM, rows in the input's (batch, time) order.
    var inputProjection = Tensor(uninitializedShape: [rows, gateSize])
    let fromInputs = inputProjection.mutablePointer, inputBias = biasInput.value.readPointer
    for row in 0..<rows { (fromInputs + row * gateSize).update(from: inputBias, count: gateSize) }
    matrixMultiply(input.value.readPointer, weightInput.value.readPointer, transposeB: true, into: fromInputs,
                   rows: rows, columns: gateSize, inner: inputSize, beta: 1)

    // Time-major caches, so that each step's block is one contiguous matrix for the GEMMs:
    // timeMajorStates [T + 1, B, H] with h₀ first; gates [T, B, 3H] holding r, z, n after activation;
    // hiddenCandidates [T, B, H] = W_hn h + b_hn, which the backward of n needs.
    var timeMajorStates = Tensor(uninitializedShape: [time + 1, batch, hiddenSize])
    var gates = Tensor(uninitializedShape: [time, batch, gateSize])
    var hiddenCandidates = Tensor(uninitializedShape: [time, batch, hiddenSize])
    var hiddenProjection = Tensor(uninitializedShape: [batch, gateSize])
    let h = timeMajorStates.mutablePointer, g = gates.mutablePointer, candidates = hiddenCandidates.mutablePointer
    let fromHidden = hiddenProjection.mutablePointer
    let hiddenBias = biasHidden.value.readPointer, hiddenWeight = weightHidden.value.readPointer
    h.update(from: initialState.value.readPointer, count: stepSize)
    for step in 0..<time {
        let previous = h + step * stepSize, next = previous + stepSize
        for row in 0..<batch { (fromHidden + row * gateSize).update(from: hiddenBias, count: gateSize) }
        // [B, 3H] = h [B, H] · W_hhᵀ + b_hh
        matrixMultiply(previous, hiddenWeight, transposeB: true, into: fromHidden,
                       rows: batch, columns: gateSize, inner: hiddenSize, beta: 1)
        for row in 0..<batch {
            let x = fromInputs + (row * time + step) * gateSize, hidden = fromHidden + row * gateSize
            let gate = g + (step * batch + row) * gateSize, candidate = candidates + (step * batch + row) * hiddenSize
            let hiddenBefore = previous + row * hiddenSize, hiddenAfter = next + row * hiddenSize
            // Short loops with one or two inputs each, the activations in place: each vectorises,
            // where one loop over all six arrays did not (too many possible overlaps to check).
            for unit in 0..<(2 * hiddenSize) { gate[unit] = x[unit] + hidden[unit] }
            for unit in 0..<(2 * hiddenSize) { gate[unit] = fastSigmoid(gate[unit]) }
            candidate.update(from: hidden + 2 * hiddenSize, count: hiddenSize)
            let reset = UnsafePointer(gate), update = UnsafePointer(gate + hiddenSize), newGate = gate + 2 * hiddenSize
            let newGateInput = x + 2 * hiddenSize
            for unit in 0..<hiddenSize { newGate[unit] = newGateInput[unit] + reset[unit] * candidate[unit] }
            // tanh(a) = 2σ(2a) − 1: libm's tanhf is slow and does not vectorise (docs/platform.md §4).
            for unit in 0..<hiddenSize { newGate[unit] = 2 * fastSigmoid(2 * newGate[unit]) - 1 }
            for unit in 0..<hiddenSize {
                hiddenAfter[unit] = (1 - update[unit]) * newGate[unit] + update[unit] * hiddenBefore[unit]
            }
        }
    }

    // The output is batch-major [B, T, H].
    var output = Tensor(uninitializedShape: [batch, time, hiddenSize])
    let y = output.mutablePointer
    for row in 0..<batch {
        for step in 0..<time {
            (y + (row * time + step) * hiddenSize).update(from: h + (step + 1) * stepSize + row * hiddenSize,
                                                           count: hiddenSize)
        }
    }

    let parents = [input, initialState, weightInput, weightHidden, biasInput, biasHidden]
    let states = Variable(output, parents: parents) { result in
        let dy = result.gradient!.readPointer
        let h = timeMajorStates.readPointer, g = gates.readPointer, candidates = hiddenCandidates.readPointer
        let hiddenWeight = weightHidden.value.readPointer
        // Gradients of the gate pre-activations: on the input side in the input's row order, on
        // the hidden side time-major like the states they multiply.
        var inputProjectionGradient = Tensor(uninitializedShape: [rows, gateSize])
        var hiddenProjectionGradient = Tensor(uninitializedShape: [time, batch, gateSize])
        // dL/dh of the state entering the current step, carried backwards through time.
        var stateGradient = Tensor(zeros: [batch, hiddenSize])
        let dFromInputs = inputProjectionGradient.mutablePointer, dFromHiddens = hiddenProjectionGradient.mutablePointer
        let carried = stateGradient.mutablePointer
        for step in (0..<time).reversed() {
            let previous = h + step * stepSize
            for row in 0..<batch {
                let gate = g + (step * batch + row) * gateSize, candidate = candidates + (step * batch + row) * hiddenSize
                let hiddenBefore = previous + row * hiddenSize, outputGradient = dy + (row * time + step) * hiddenSize
                let dCarried = carried + row * hiddenSize
                let dInput = dFromInputs + (row * time + step) * gateSize
                let dHidden = dFromHiddens + (step * batch + row) * gateSize
                for unit in 0..<hiddenSize {
                    let gradient = outputGradient[unit] + dCarried[unit]
                    let reset = gate[unit], update = gate[hiddenSize + unit], newGate = gate[2 * hiddenSize + unit]
                    let newGradient = gradient * (1 - update) * (1 - newGate * newGate)
                    let updateGradient = gradient * (hiddenBefore[unit] - newGate) * update * (1 - update)
                    let resetGradient = newGradient * candidate[unit] * reset * (1 - reset)
                    dInput[unit] = resetGradient
                    dInput[hiddenSize + unit] = updateGradient
                    dInput[2 * hiddenSize + unit] = newGradient
                    dHidden[unit] = resetGradient
                    dHidden[hiddenSize + unit] = updateGradient
                    dHidden[2 * hiddenSize + unit] = newGradient * reset
                    // The direct path h' = … + z ⊙ h; the GEMM below adds the path through the gates.
                    dCarried[unit] = gradient * update
                }
            }
            // dh [B, H] += dGates [B, 3H] · W_hh [3H, H]
            matrixMultiply(dFromHiddens + step * batch * gateSize, hiddenWeight, into: carried,
                           rows: batch, columns: hiddenSize, inner: gateSize, beta: 1)
        }
        if initialState.requiresGradient {
            let destination = initialState.gradientForAccumulation()
            for index in 0..<stepSize { destination[index] += carried[index] }
        }
        if weightHidden.requiresGradient {
            // dW_hh [3H, H] += dGatesᵀ [3H, T·B] · states h₀…h_{T−1} [T·B, H]: all steps in one GEMM.
            matrixMultiply(dFromHiddens, transposeA: true, h, into: weightHidden.gradientForAccumulation(),
                           rows: gateSize, columns: hiddenSize, inner: time * batch, beta: 1)
        }
        if biasHidden.requiresGradient {
            addColumnSums(dFromHiddens, rows: time * batch, columns: gateSize, into: biasHidden.gradientForAccumulation())
        }
        if input.requiresGradient {
            // dx [B·T, I] += dGates [B·T, 3H] · W_ih [3H, I]
            matrixMultiply(dFromInputs, weightInput.value.readPointer, into: input.gradientForAccumulation(),
                           rows: rows, columns: inputSize, inner: gateSize, beta: 1)
        }
        if weightInput.requiresGradient {
            // dW_ih [3H, I] += dGatesᵀ · x
            matrixMultiply(dFromInputs, transposeA: true, input.value.readPointer,
                           into: weightInput.gradientForAccumulation(),
                           rows: gateSize, columns: inputSize, inner: rows, beta: 1)
        }
        if biasInput.requiresGradient {
            addColumnSums(dFromInputs, rows: rows, columns: gateSize, into: biasInput.gradientForAccumulation())
        }
    }
    let last = reshape(slice(states, alongAxis: 1, range: (time - 1)..<time), [batch, hiddenSize])
    return RecurrentOutput(states: states, last: last)
}

/// destination[j] += Σᵢ matrix[i, j]: a bias gradient from the gradients of its rows.
func addColumnSums(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, into destination: UnsafeMutablePointer<Float>) {
    for row in 0..<rows {
        let source = matrix + row * columns
        for column in 0..<columns { destination[column] += source[column] }
    }
}

/// One GRU layer (PyTorch's nn.GRU with batch_first, one layer, one direction): parameters named
/// `weight_ih_l0` [3H, I], `weight_hh_l0` [3H, H], `bias_ih_l0`, `bias_hh_l0` [3H] as PyTorch's,
/// all drawn uniformly from ±1/√H.
public final class GRU: Layer {
    public let inputSize: Int, hiddenSize: Int
    public let weightInput: Variable
    public let weightHidden: Variable
    public let biasInput: Variable
    public let biasHidden: Variable

    public init(inputSize: Int, hiddenSize: Int, name: String, random: inout SeededRandom) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        let bound = 1 / Float(hiddenSize).squareRoot()
        weightInput = uniformParameter([3 * hiddenSize, inputSize], bound: bound, name: qualifiedName(name, "weight_ih_l0"), random: &random)
        weightHidden = uniformParameter([3 * hiddenSize, hiddenSize], bound: bound, name: qualifiedName(name, "weight_hh_l0"), random: &random)
        biasInput = uniformParameter([3 * hiddenSize], bound: bound, name: qualifiedName(name, "bias_ih_l0"), random: &random)
        biasHidden = uniformParameter([3 * hiddenSize], bound: bound, name: qualifiedName(name, "bias_hh_l0"), random: &random)
    }

    public var parameters: [Variable] { [weightInput, weightHidden, biasInput, biasHidden] }

    /// input [batch, time, inputSize]; the initial state [batch, hidden] defaults to zeros.
    public func callAsFunction(_ input: Variable, initialState: Variable? = nil) -> RecurrentOutput {
        let state = initialState ?? Variable(Tensor(zeros: [input.shape[0], hiddenSize]))
        return gru(input, initialState: state, weightInput: weightInput, weightHidden: weightHidden,
                   biasInput: biasInput, biasHidden: biasHidden)
    }
}
