import Foundation
import ReptileCore

// The pieces of a categorical (token) policy that PPO needs beyond the clipped surrogate: the
// log-probability of each chosen token and each row's entropy (one softmax, each with its own
// backward), and a sampler with temperature, nucleus (top-p) truncation and forbidden tokens.

/// Softmax probabilities and log-probabilities of each row of logits [N, V], through the
/// vectorising exponential (one pass of exponentials per row).
private func softmaxAndLogSoftmax(_ logits: Variable) -> (probabilities: Tensor, logProbabilities: Tensor) {
    let rows = logits.shape[0], width = logits.shape[1]
    var probabilities = Tensor(uninitializedShape: logits.shape), logProbabilities = Tensor(uninitializedShape: logits.shape)
    let x = logits.value.readPointer, p = probabilities.mutablePointer, l = logProbabilities.mutablePointer
    for row in 0..<rows {
        let source = x + row * width, shares = p + row * width, logs = l + row * width
        let maximum = maximumOfElements(source, count: width)
        for index in 0..<width { shares[index] = fastExponential(source[index] - maximum) }
        let total = sumOfElements(UnsafePointer(shares), count: width)
        let logTotal = logf(total), scale = 1 / total
        for index in 0..<width {
            shares[index] *= scale
            logs[index] = (source[index] - maximum) - logTotal
        }
    }
    return (probabilities, logProbabilities)
}

/// What PPO needs from a token policy's logits [N, V] in one pass: the log-probability of each
/// row's chosen token, log softmax(x)[a] → [N], and each row's entropy −Σ p log p → [N], sharing
/// one softmax. Backward: ∂ log p_a/∂x_j = 1[j = a] − p_j; ∂H/∂x_j = −p_j (log p_j + H).
public func tokenPolicyTerms(logits: Variable, actions: [Int]) -> (logProbabilities: Variable, entropies: Variable) {
    precondition(logits.shape.count == 2 && logits.shape[0] == actions.count,
                 "tokenPolicyTerms: \(actions.count) actions for logits \(logits.shape)")
    let rows = actions.count, width = logits.shape[1]
    let (probabilities, logSoftmax) = softmaxAndLogSoftmax(logits)
    let p = probabilities.readPointer, l = logSoftmax.readPointer
    var chosen = Tensor(uninitializedShape: [rows]), entropies = Tensor(uninitializedShape: [rows])
    let y = chosen.mutablePointer, h = entropies.mutablePointer
    for row in 0..<rows {
        precondition(actions[row] >= 0 && actions[row] < width, "tokenPolicyTerms: action \(actions[row]) outside 0..<\(width)")
        y[row] = l[row * width + actions[row]]
        // p·log p is 0 where p is (a masked token's probability is exactly 0).
        h[row] = -dotProduct(p + row * width, l + row * width, count: width)
    }
    let logProbabilities = Variable(chosen, parents: [logits]) { result in
        let dy = result.gradient!.readPointer, p = probabilities.readPointer, dx = logits.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width, seed = dy[row]
            if seed == 0 { continue }
            for index in 0..<width { dx[offset + index] -= seed * p[offset + index] }
            dx[offset + actions[row]] += seed
        }
    }
    let entropy = Variable(entropies, parents: [logits]) { result in
        let dy = result.gradient!.readPointer, p = probabilities.readPointer, l = logSoftmax.readPointer
        let h = result.value.readPointer, dx = logits.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width, seed = dy[row], rowEntropy = h[row]
            if seed == 0 { continue }
            for index in 0..<width { dx[offset + index] -= seed * p[offset + index] * (l[offset + index] + rowEntropy) }
        }
    }
    return (logProbabilities, entropy)
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
        // Forbidden scores become −∞ for the maximum and exactly 0 after the exponential.
        let forbiddenScore = -Float.infinity
        var maximum = -Float.infinity
        for index in 0..<count { maximum = max(maximum, scores[index]) }
        var forbiddenIsMaximum = false
        for index in forbidden where index < count && scores[index] == maximum { forbiddenIsMaximum = true }
        if forbiddenIsMaximum {
            maximum = forbiddenScore
            var isForbidden = [Bool](repeating: false, count: count)
            for index in forbidden where index < count { isForbidden[index] = true }
            for index in 0..<count where !isForbidden[index] { maximum = max(maximum, scores[index]) }
        }
        var total: Double = 0
        for index in 0..<count { probabilities[index] = expf((scores[index] - maximum) / temperature) }
        for index in forbidden where index < count { probabilities[index] = 0 }
        for index in 0..<count { total += Double(probabilities[index]) }
        if topP < 1 {
            // The smallest set of most probable tokens holding topP of the mass (ties by index).
            var candidates = Array(0..<count)
            candidates.sort { probabilities[$0] != probabilities[$1] ? probabilities[$0] > probabilities[$1] : $0 < $1 }
            var kept: Double = 0, cut = 0
            for (rank, index) in candidates.enumerated() {
                kept += Double(probabilities[index])
                cut = rank + 1
                if kept >= Double(topP) * total { break }
            }
            return drawIndex(among: candidates[..<cut], probabilities: probabilities, mass: kept, random: &random)
        }
        return drawIndex(among: 0..<count, probabilities: probabilities, mass: total, random: &random)
    }

    /// Inverts the cumulative sum of the candidates' probabilities at a uniform draw times `mass`.
    private func drawIndex<Candidates: Collection>(among candidates: Candidates, probabilities: [Float], mass: Double,
                                                   random: inout SeededRandom) -> Int where Candidates.Element == Int {
        var remaining = random.nextUnitDouble() * mass
        var last = candidates.first!
        for index in candidates where probabilities[index] > 0 {
            remaining -= Double(probabilities[index])
            last = index
            if remaining < 0 { return index }
        }
        // Rounding can leave a sliver past the last candidate.
        return last
    }
}
