import Foundation
import ReptileCore

// The pieces of a categorical (token) policy that PPO needs beyond the clipped surrogate: the
// log-probability of each chosen token, each row's entropy, both with their own backward, and a
// sampler with temperature, nucleus (top-p) truncation and forbidden tokens.

/// log softmax(logits)[row, actions[row]] per row of logits [N, V] → [N].
/// Backward: ∂/∂x_j = dy · (1[j = a] − softmax_j).
public func logProbabilities(ofActions actions: [Int], logits: Variable) -> Variable {
    precondition(logits.shape.count == 2 && logits.shape[0] == actions.count,
                 "logProbabilities: \(actions.count) actions for logits \(logits.shape)")
    let rows = actions.count, width = logits.shape[1]
    var logSoftmax = Tensor(uninitializedShape: logits.shape)
    logSoftmaxRows(logits.value.readPointer, into: logSoftmax.mutablePointer, rows: rows, width: width)
    let l = logSoftmax.readPointer
    var output = Tensor(uninitializedShape: [rows])
    let y = output.mutablePointer
    for row in 0..<rows {
        precondition(actions[row] >= 0 && actions[row] < width, "logProbabilities: action \(actions[row]) outside 0..<\(width)")
        y[row] = l[row * width + actions[row]]
    }
    return Variable(output, parents: [logits]) { result in
        let dy = result.gradient!.readPointer, l = logSoftmax.readPointer, dx = logits.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width, seed = dy[row]
            if seed == 0 { continue }
            for index in 0..<width { dx[offset + index] -= seed * expf(l[offset + index]) }
            dx[offset + actions[row]] += seed
        }
    }
}

/// The entropy −Σ p log p of softmax(row) for each row of logits [N, V] → [N].
/// Backward: ∂H/∂x_j = −p_j (log p_j + H).
public func rowEntropies(logits: Variable) -> Variable {
    precondition(logits.shape.count == 2, "rowEntropies needs logits [N, V], got \(logits.shape)")
    let rows = logits.shape[0], width = logits.shape[1]
    var logSoftmax = Tensor(uninitializedShape: logits.shape)
    logSoftmaxRows(logits.value.readPointer, into: logSoftmax.mutablePointer, rows: rows, width: width)
    let l = logSoftmax.readPointer
    var output = Tensor(uninitializedShape: [rows])
    let y = output.mutablePointer
    for row in 0..<rows {
        var total: Double = 0
        for index in 0..<width {
            let logP = l[row * width + index]
            total -= Double(expf(logP) * logP)
        }
        y[row] = Float(total)
    }
    return Variable(output, parents: [logits]) { result in
        let dy = result.gradient!.readPointer, l = logSoftmax.readPointer, h = result.value.readPointer
        let dx = logits.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width, seed = dy[row], entropy = h[row]
            if seed == 0 { continue }
            for index in 0..<width {
                let logP = l[offset + index]
                dx[offset + index] -= seed * expf(logP) * (logP + entropy)
            }
        }
    }
}

/// How a token is drawn from a row of scores.
public struct TokenSampling: Sendable {
    /// Softmax temperature (> 0).
    public var temperature: Float
    /// Nucleus sampling: only the most probable tokens whose probabilities sum to at least topP (in (0, 1]).
    public var topP: Float
    /// Tokens never drawn (padding, start, unknown): their probability is zero.
    public var forbidden: [Int]

    public init(temperature: Float = 1, topP: Float = 1, forbidden: [Int] = []) {
        precondition(temperature > 0 && topP > 0 && topP <= 1, "TokenSampling: temperature \(temperature), top-p \(topP)")
        self.temperature = temperature
        self.topP = topP
        self.forbidden = forbidden
    }

    /// A token drawn from softmax(scores / temperature) restricted as above. `probabilities` is
    /// scratch space of `count` floats.
    public func draw(_ scores: UnsafePointer<Float>, count: Int, scratch probabilities: inout [Float], random: inout SeededRandom) -> Int {
        if probabilities.count != count { probabilities = [Float](repeating: 0, count: count) }
        var maximum = -Float.infinity
        var allowed = [Bool](repeating: true, count: count)
        for index in forbidden where index < count { allowed[index] = false }
        for index in 0..<count where allowed[index] { maximum = max(maximum, scores[index]) }
        var total: Double = 0
        for index in 0..<count {
            let value = allowed[index] ? expf((scores[index] - maximum) / temperature) : 0
            probabilities[index] = value
            total += Double(value)
        }
        var candidates = Array(0..<count)
        var mass = total
        if topP < 1 {
            // The smallest set of most probable tokens holding topP of the mass (ties by index).
            candidates.sort { probabilities[$0] != probabilities[$1] ? probabilities[$0] > probabilities[$1] : $0 < $1 }
            var kept: Double = 0, cut = 0
            for (rank, index) in candidates.enumerated() {
                kept += Double(probabilities[index])
                cut = rank + 1
                if kept >= Double(topP) * total { break }
            }
            candidates.removeSubrange(cut...)
            mass = kept
        }
        var remaining = random.nextUnitDouble() * mass
        var last = candidates[0]
        for index in candidates where probabilities[index] > 0 {
            remaining -= Double(probabilities[index])
            last = index
            if remaining < 0 { return index }
        }
        // Rounding can leave a sliver past the last candidate.
        return last
    }
}
