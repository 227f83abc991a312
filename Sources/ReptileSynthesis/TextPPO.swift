import Foundation
import ReptileCore
import ReptileEngine

/// The hyperparameters of a text PPO iteration (W3's by default).
public struct TextPPOHyperparameters: Codable, Equatable, Sendable {
    public var rollouts = 256
    public var epochs = 4
    public var minibatchSize = 32
    public var learningRate: Float = 2e-5
    public var clipRange: Float = 0.2
    public var gamma: Float = 1
    public var lambda: Float = 0.95
    public var valueWeight: Float = 0.5
    public var entropyWeight: Float = 0.01
    /// β of the per-token KL penalty −β·(log π(a) − log π_ref(a)) to the frozen MLE generator.
    public var klWeight: Float = 0.05
    public init() {}
}

/// One batch of sampled sequences and what the policy, its value head and the reference said
/// about each token when they were sampled.
public struct TextRollouts: Sendable {
    public var classes: [Int]
    /// The sampled tokens, the end marker included when one was drawn.
    public var sequences: [[Int]]
    public var oldLogProbabilities: [[Float]]
    public var values: [[Float]]
    /// Under the frozen reference generator (zeros without one).
    public var referenceLogProbabilities: [[Float]]
    public var count: Int { sequences.count }
}

/// What an update reports.
public struct TextPPOStatistics: Sendable {
    public var meanFinalReward: Float = 0
    /// Mean over sequences of Σ_t (log π_old − log π_ref): the sampled KL to the reference.
    public var kl: Float = 0
    public var meanLength: Float = 0
    public var valueLoss: Float = 0
    public var entropy: Float = 0
    public var update = PPOUpdateStatistics()
}

/// PPO on the token policy of a `TextGenerator` (SeqGAN's policy gradient, stabilised as in
/// TextGAIL): the policy and a value head Linear(hidden → 1) on the GRU state share the trunk;
/// each token is an action with its own ratio and advantage. Reward per token: −β·(log π_old −
/// log π_ref) (the KL penalty to the frozen reference), plus the caller's final reward at the last
/// token; GAE (γ, λ) with the value head; advantages whitened over the batch's tokens; loss =
/// clipped surrogate + c_v·MSE(V, returns) − c_e·entropy, in minibatches of sequences
/// (`ppoMinibatchUpdate`, shared with the image PPO). Forbidden tokens (padding, start, unknown)
/// are masked out of the policy's softmax, in sampling and in the update alike.
public final class TextPolicyOptimizer {
    public let policy: TextGenerator
    public let valueHead: Linear
    public let reference: TextGenerator?
    public let optimizer: Adam
    public var hyperparameters: TextPPOHyperparameters
    public let endToken: Int?
    let forbidden: [Int]
    private let mask: Variable

    public init(policy: TextGenerator, valueHead: Linear, reference: TextGenerator?, optimizer: Adam,
                hyperparameters: TextPPOHyperparameters, forbidden: [Int], endToken: Int?) {
        self.policy = policy
        self.valueHead = valueHead
        self.reference = reference
        self.optimizer = optimizer
        self.hyperparameters = hyperparameters
        self.forbidden = forbidden
        self.endToken = endToken
        var values = [Float](repeating: 0, count: policy.vocabularySize)
        for index in forbidden { values[index] = -1e4 }
        mask = Variable(Tensor(shape: [policy.vocabularySize], values: values))
    }

    /// The policy's masked logits, state rows and teacher-forced batch for whole sampled sequences.
    private func evaluate(_ network: TextGenerator, sequences: [[Int]], classes: [Int])
        -> (logits: Variable, states: Variable, labels: [Int]) {
        let batch = TokenBatches.teacherForcing(sequences)
        let (logits, states) = network.targetLogits(batch, classes: classes)
        return (logits + mask, states, batch.labels)
    }

    /// Samples one sequence per class (up to `length` tokens; rows stop at the end marker) and
    /// records per token the policy's log-probability and value and the reference's log-probability.
    public func collect(classes: [Int], length: Int, random: inout SeededRandom) -> TextRollouts {
        let sequences = policy.generate(classes: classes, length: length, sampling: TokenSampling(forbidden: forbidden),
                                        endToken: endToken, random: &random)
        let lengths = sequences.map(\.count)
        func split(_ flat: [Float]) -> [[Float]] {
            var rows: [[Float]] = [], offset = 0
            for count in lengths {
                rows.append(Array(flat[offset..<(offset + count)]))
                offset += count
            }
            return rows
        }
        let (old, values) = withoutGradients(policy) {
            withoutGradients(valueHead) {
                let evaluated = evaluate(policy, sequences: sequences, classes: classes)
                return (tokenPolicyTerms(logits: evaluated.logits, actions: evaluated.labels).logProbabilities.value.scalars,
                        valueHead(evaluated.states).value.scalars)
            }
        }
        var referenceValues = [Float](repeating: 0, count: old.count)
        if let reference {
            referenceValues = withoutGradients(reference) {
                let evaluated = evaluate(reference, sequences: sequences, classes: classes)
                return tokenPolicyTerms(logits: evaluated.logits, actions: evaluated.labels).logProbabilities.value.scalars
            }
        }
        return TextRollouts(classes: classes, sequences: sequences, oldLogProbabilities: split(old), values: split(values),
                            referenceLogProbabilities: split(referenceValues))
    }

    /// One PPO update on the rollouts given each sequence's final reward.
    public func update(_ rollouts: TextRollouts, finalRewards: [Float], random: inout SeededRandom) -> TextPPOStatistics {
        precondition(finalRewards.count == rollouts.count, "TextPolicyOptimizer.update: \(finalRewards.count) rewards for \(rollouts.count) rollouts")
        let settings = hyperparameters
        var advantages: [[Float]] = [], returns: [[Float]] = []
        var statistics = TextPPOStatistics()
        var klTotal: Double = 0
        for index in 0..<rollouts.count {
            let old = rollouts.oldLogProbabilities[index], reference = rollouts.referenceLogProbabilities[index]
            var rewards = zip(old, reference).map { -settings.klWeight * ($0 - $1) }
            klTotal += Double(zip(old, reference).reduce(Float(0)) { $0 + $1.0 - $1.1 })
            if !rewards.isEmpty { rewards[rewards.count - 1] += finalRewards[index] }
            let estimate = generalisedAdvantages(rewards: rewards, values: rollouts.values[index], gamma: settings.gamma, lambda: settings.lambda)
            advantages.append(estimate.advantages)
            returns.append(estimate.returns)
        }
        // Whitened over every token of the batch, then cut back into sequences.
        let flat = whitened(advantages.flatMap { $0 })
        var offset = 0
        for index in advantages.indices {
            let count = advantages[index].count
            advantages[index] = Array(flat[offset..<(offset + count)])
            offset += count
        }
        var valueLossTotal: Double = 0, entropyTotal: Double = 0
        let update = ppoMinibatchUpdate(sampleCount: rollouts.count,
                                        settings: PPOUpdateSettings(clipRange: settings.clipRange, epochs: settings.epochs,
                                                                    minibatchSize: settings.minibatchSize),
                                        optimizer: optimizer, random: &random) { indices in
            let sequences = indices.map { rollouts.sequences[$0] }
            let evaluated = evaluate(policy, sequences: sequences, classes: indices.map { rollouts.classes[$0] })
            let (logProbabilities, entropies) = tokenPolicyTerms(logits: evaluated.logits, actions: evaluated.labels)
            let (surrogate, step) = clippedSurrogateLoss(logProbabilities: logProbabilities,
                                                         oldLogProbabilities: indices.flatMap { rollouts.oldLogProbabilities[$0] },
                                                         advantages: indices.flatMap { advantages[$0] }, clipRange: settings.clipRange)
            let targets = indices.flatMap { returns[$0] }
            let valueLoss = meanSquaredError(valueHead(evaluated.states), targets: Tensor(shape: [targets.count, 1], values: targets))
            let entropy = mean(entropies)
            valueLossTotal += Double(valueLoss.value.scalarValue)
            entropyTotal += Double(entropy.value.scalarValue)
            let loss = surrogate + scale(valueLoss, by: settings.valueWeight) + scale(entropy, by: -settings.entropyWeight)
            return (loss, surrogate.value.scalarValue, step)
        }
        let count = Float(max(rollouts.count, 1)), minibatches = Double(max(update.minibatches, 1))
        statistics.meanFinalReward = finalRewards.reduce(0, +) / count
        statistics.kl = Float(klTotal) / count
        statistics.meanLength = Float(rollouts.sequences.reduce(0) { $0 + $1.count }) / count
        statistics.valueLoss = Float(valueLossTotal / minibatches)
        statistics.entropy = Float(entropyTotal / minibatches)
        statistics.update = update
        return statistics
    }
}
