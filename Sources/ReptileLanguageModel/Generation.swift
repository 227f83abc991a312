import Foundation
import ReptileCore
import ReptileEngine

/// How the next token is drawn from the logits: temperature 0 is greedy (the first largest logit);
/// otherwise softmax(logits / temperature) restricted to the `topK` likeliest tokens (0: all) and
/// then to the smallest set of likeliest tokens holding `topP` of the probability (the nucleus).
public struct SamplingSettings: Sendable, Equatable, Codable {
    public var temperature: Float
    public var topP: Float
    public var topK: Int

    public init(temperature: Float = 1, topP: Float = 1, topK: Int = 0) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
    }

    public static let greedy = SamplingSettings(temperature: 0)

    /// The next token for one row of logits.
    func sample(_ logits: UnsafeBufferPointer<Float>, random: inout SeededRandom) -> Int {
        var best = 0
        for index in logits.indices where logits[index] > logits[best] { best = index }
        if temperature <= 0 { return best }
        // Probabilities relative to the largest (unnormalised: the draw scales by their total).
        let top = logits[best]
        var weights = [Float](repeating: 0, count: logits.count)
        for index in logits.indices { weights[index] = expf((logits[index] - top) / temperature) }
        let total = weights.reduce(0, +)
        // The candidates: a prefix of the descending order holding at least topP of the mass (so it
        // holds the whole nucleus), found without sorting the vocabulary.
        let target = min(topP, 1) * total
        var threshold: Float = 1e-4
        var candidates: [Int] = []
        while true {
            candidates = weights.indices.filter { weights[$0] >= threshold }
            if threshold == 0 || candidates.reduce(Float(0), { $0 + weights[$1] }) >= target * 0.999_99 { break }
            threshold = threshold > 1e-30 ? threshold * 1e-3 : 0
        }
        candidates.sort { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
        if topK > 0 && candidates.count > topK { candidates.removeLast(candidates.count - topK) }
        if topP < 1 {
            let keptTotal = candidates.reduce(Float(0)) { $0 + weights[$1] }
            let nucleusTarget = topP * (topK > 0 ? keptTotal : total)
            var cumulative: Float = 0, end = 0
            while end < candidates.count {
                cumulative += weights[candidates[end]]
                end += 1
                if cumulative >= nucleusTarget { break }
            }
            candidates.removeLast(candidates.count - end)
        }
        let mass = candidates.reduce(Float(0)) { $0 + weights[$1] }
        var draw = random.nextUnitFloat() * mass
        for candidate in candidates {
            draw -= weights[candidate]
            if draw < 0 { return candidate }
        }
        return candidates.last ?? best
    }
}

/// What `generate` returns for each prompt: the new tokens (without the stop token), whether a
/// stop token ended it, and the untempered model's log-probability of each drawn token (the stop
/// token's included), which scores the text at no extra cost.
public struct Continuation: Sendable, Equatable {
    public var tokens: [Int]
    public var stopped: Bool
    public var logProbabilities: [Float] = []

    /// The mean log-probability per drawn token.
    public var meanLogProbability: Float {
        logProbabilities.isEmpty ? 0 : logProbabilities.reduce(0, +) / Float(logProbabilities.count)
    }
}

/// log softmax(logits)[token] of one row.
func logProbability(of token: Int, in logits: UnsafeBufferPointer<Float>) -> Float {
    var maximum = -Float.infinity
    for value in logits { maximum = max(maximum, value) }
    var total: Float = 0
    for value in logits { total += expf(value - maximum) }
    return logits[token] - maximum - logf(total)
}

extension LlamaModel {
    /// Continues every prompt by up to `maxNewTokens`, all in one batch with a key/value cache.
    /// Prompts of different lengths are padded on the left, masked from attention and given the
    /// positions they would have alone. Prompt i draws from its own stream derived from `seed`, so
    /// its continuation does not depend on the other prompts of the batch.
    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingSettings, seed: UInt64,
                         stopTokens: Set<Int> = []) -> [Continuation] {
        precondition(!prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty }, "generate needs non-empty prompts")
        let capacity = prompts.map(\.count).max()! + maxNewTokens
        precondition(capacity <= configuration.contextLength,
                     "generate: \(capacity) tokens exceed the model's context of \(configuration.contextLength)")
        return withoutGradients { sample(prompts: prompts, maxNewTokens: maxNewTokens, sampling: sampling, seed: seed, stopTokens: stopTokens) }
    }

    /// Runs `body` with every weight's gradient off, so inference records no graph.
    func withoutGradients<Result>(_ body: () -> Result) -> Result {
        let weights = baseWeights + adapters.flatMap(\.parameters)
        let trainable = weights.map(\.requiresGradient)
        for weight in weights { weight.requiresGradient = false }
        defer { for (weight, flag) in zip(weights, trainable) { weight.requiresGradient = flag } }
        return body()
    }

    private func sample(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingSettings, seed: UInt64,
                        stopTokens: Set<Int>) -> [Continuation] {
        let batch = prompts.count, promptLength = prompts.map(\.count).max()!
        let capacity = promptLength + maxNewTokens
        let root = SeededRandom(seed: seed)
        var randoms = (0..<batch).map { root.derived("prompt \($0)") }
        var keyMask = [Bool](repeating: false, count: batch * capacity)
        var tokens: [Int] = [], positions: [Int] = []
        var nextPosition = [Int](repeating: 0, count: batch)
        for (item, prompt) in prompts.enumerated() {
            let padding = promptLength - prompt.count
            tokens += [Int](repeating: 0, count: padding) + prompt
            positions += [Int](repeating: 0, count: padding) + Array(0..<prompt.count)
            for position in padding..<promptLength { keyMask[item * capacity + position] = true }
            nextPosition[item] = prompt.count
        }
        let caches = makeCaches(batch: batch, capacity: capacity)
        var hidden = advance(tokens: tokens, positions: positions, caches: caches, keyMask: keyMask)
        var results = [Continuation](repeating: Continuation(tokens: [], stopped: false), count: batch)
        let head = (outputHead ?? tokenEmbedding).value
        for step in 0..<maxNewTokens {
            let logits = matrixMultiply(hidden, head, transposeB: true)
            var next = [Int](repeating: 0, count: batch)
            logits.withUnsafeBufferPointer { rows in
                for item in 0..<batch where !results[item].stopped {
                    let row = UnsafeBufferPointer(rebasing: rows[(item * head.shape[0])..<((item + 1) * head.shape[0])])
                    let token = sampling.sample(row, random: &randoms[item])
                    results[item].logProbabilities.append(logProbability(of: token, in: row))
                    if stopTokens.contains(token) { results[item].stopped = true } else { results[item].tokens.append(token) }
                    next[item] = token
                }
            }
            if step == maxNewTokens - 1 || results.allSatisfy(\.stopped) { break }
            let slot = promptLength + step
            for item in 0..<batch where !results[item].stopped { keyMask[item * capacity + slot] = true }
            hidden = advance(tokens: next, positions: nextPosition, caches: caches, keyMask: keyMask)
            for item in 0..<batch { nextPosition[item] += 1 }
        }
        return results
    }
}
