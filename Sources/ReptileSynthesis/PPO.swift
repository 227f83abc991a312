import ReptileCore
import ReptileEngine

// The generic half of PPO (Schulman et al. 2017), shared by every generator Reptile refines: the
// image generator's Gaussian policy (ImagePPO.swift) and the text generator's token policy (TextPPO.swift). A policy only
// has to say how to compute the log-probabilities of stored actions under its current weights;
// rollouts, per-class advantage normalisation, the clipped update and its statistics live here.

/// One iteration's rollouts: per sample its class (the intended label), the log-probability of the
/// action under the policy that took it (one value, or one per action dimension for factorised
/// ratios), the reward, and (after `normaliseAdvantagesPerClass`) the advantage. An action's own
/// data (noise, pixels, tokens) stays with the caller, by index.
public struct RolloutBuffer: Sendable {
    public private(set) var classes: [Int] = []
    /// `logProbabilitiesPerSample` values per sample, sample after sample.
    public private(set) var oldLogProbabilities: [Float] = []
    public private(set) var rewards: [Float] = []
    public private(set) var advantages: [Float] = []
    public let logProbabilitiesPerSample: Int

    public init(logProbabilitiesPerSample: Int = 1) {
        precondition(logProbabilitiesPerSample >= 1, "RolloutBuffer needs at least one log-probability per sample")
        self.logProbabilitiesPerSample = logProbabilitiesPerSample
    }

    public var count: Int { classes.count }

    public mutating func append<LogProbabilities: Collection>(class label: Int, oldLogProbabilities values: LogProbabilities, reward: Float)
    where LogProbabilities.Element == Float {
        precondition(values.count == logProbabilitiesPerSample, "RolloutBuffer: \(values.count) log-probabilities, expected \(logProbabilitiesPerSample)")
        classes.append(label)
        oldLogProbabilities.append(contentsOf: values)
        rewards.append(reward)
    }

    /// The stored log-probabilities of the given samples, in order.
    public func oldLogProbabilities(of indices: [Int]) -> [Float] {
        let width = logProbabilitiesPerSample
        var result = [Float]()
        result.reserveCapacity(indices.count * width)
        for index in indices { result += oldLogProbabilities[(index * width)..<((index + 1) * width)] }
        return result
    }

    /// Advantage = (reward − mean of its class) / (std of its class + 1e-8): one rollout batch
    /// without a value function, where classes that are easy or hard to please do not swamp the
    /// others (a class's baseline is its own mean reward).
    public mutating func normaliseAdvantagesPerClass(classCount: Int) {
        var sums = [Double](repeating: 0, count: classCount), counts = [Int](repeating: 0, count: classCount)
        for (label, reward) in zip(classes, rewards) {
            sums[label] += Double(reward)
            counts[label] += 1
        }
        let means = (0..<classCount).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : 0 }
        var squares = [Double](repeating: 0, count: classCount)
        for (label, reward) in zip(classes, rewards) {
            let centred = Double(reward) - means[label]
            squares[label] += centred * centred
        }
        let deviations = (0..<classCount).map { counts[$0] > 1 ? (squares[$0] / Double(counts[$0])).squareRoot() : 0 }
        advantages = zip(classes, rewards).map { label, reward in
            Float((Double(reward) - means[label]) / (deviations[label] + 1e-8))
        }
    }

    public var meanReward: Float { rewards.isEmpty ? 0 : rewards.reduce(0, +) / Float(rewards.count) }
}

/// The clipped update's settings.
public struct PPOUpdateSettings: Sendable {
    public var clipRange: Float = 0.2
    /// Passes over the rollouts per iteration.
    public var epochs: Int = 4
    public var minibatchSize: Int = 64
    public init(clipRange: Float = 0.2, epochs: Int = 4, minibatchSize: Int = 64) {
        self.clipRange = clipRange
        self.epochs = epochs
        self.minibatchSize = minibatchSize
    }
}

/// What an update did, averaged over its minibatches.
public struct PPOUpdateStatistics: Sendable {
    public var clipFraction: Float = 0
    public var approximateKL: Float = 0
    public var surrogateLoss: Float = 0
    public var minibatches = 0
}

/// Several epochs of shuffled minibatches over the buffer: for each, the policy's log-probabilities
/// of those rollouts' actions (`logProbabilities(indices)` → [m] or [m, …] matching the buffer's
/// values per sample, with the graph to its weights),
/// the clipped surrogate, backward and one optimizer step.
public func ppoUpdate(_ buffer: RolloutBuffer, settings: PPOUpdateSettings, optimizer: any Optimizer, random: inout SeededRandom,
                      logProbabilities: ([Int]) -> Variable) -> PPOUpdateStatistics {
    precondition(buffer.advantages.count == buffer.count, "ppoUpdate: normalise the advantages first")
    return ppoMinibatchUpdate(sampleCount: buffer.count, settings: settings, optimizer: optimizer, random: &random) { indices in
        let (loss, step) = clippedSurrogateLoss(logProbabilities: logProbabilities(indices),
                                                oldLogProbabilities: buffer.oldLogProbabilities(of: indices),
                                                advantages: indices.map { buffer.advantages[$0] },
                                                clipRange: settings.clipRange)
        return (loss, loss.value.scalarValue, step)
    }
}

/// The loop every PPO update shares: `settings.epochs` passes over `sampleCount` rollouts in
/// shuffled minibatches; for each, `minibatchLoss(indices)` builds the loss to minimise (the
/// clipped surrogate plus whatever terms the policy adds: value loss, entropy bonus) and reports
/// the surrogate's own value and statistics; then backward and one optimizer step.
public func ppoMinibatchUpdate(sampleCount: Int, settings: PPOUpdateSettings, optimizer: any Optimizer, random: inout SeededRandom,
                               minibatchLoss: ([Int]) -> (loss: Variable, surrogate: Float, statistics: SurrogateStatistics)) -> PPOUpdateStatistics {
    var statistics = PPOUpdateStatistics()
    var order = Array(0..<sampleCount)
    for _ in 0..<settings.epochs {
        random.shuffle(&order)
        for start in stride(from: 0, to: order.count, by: settings.minibatchSize) {
            let indices = Array(order[start..<min(order.count, start + settings.minibatchSize)])
            optimizer.zeroGradients()
            let (loss, surrogate, step) = minibatchLoss(indices)
            loss.backward()
            optimizer.step()
            statistics.clipFraction += step.clipFraction
            statistics.approximateKL += step.approximateKL
            statistics.surrogateLoss += surrogate
            statistics.minibatches += 1
        }
    }
    if statistics.minibatches > 0 {
        let count = Float(statistics.minibatches)
        statistics.clipFraction /= count
        statistics.approximateKL /= count
        statistics.surrogateLoss /= count
    }
    return statistics
}

/// Generalised advantage estimation (Schulman et al. 2016) along one trajectory that ends after
/// its last step: δ_t = r_t + γ·V(s_{t+1}) − V(s_t) with V = 0 after the end, A_t = Σ_k (γλ)^k δ_{t+k};
/// the value targets (returns) are A_t + V(s_t).
public func generalisedAdvantages(rewards: [Float], values: [Float], gamma: Float, lambda: Float) -> (advantages: [Float], returns: [Float]) {
    precondition(rewards.count == values.count, "generalisedAdvantages: \(rewards.count) rewards, \(values.count) values")
    var advantages = [Float](repeating: 0, count: rewards.count)
    var running: Float = 0
    for step in stride(from: rewards.count - 1, through: 0, by: -1) {
        let next = step + 1 < values.count ? values[step + 1] : 0
        let delta = rewards[step] + gamma * next - values[step]
        running = delta + gamma * lambda * running
        advantages[step] = running
    }
    return (advantages, zip(advantages, values).map { $0 + $1 })
}

/// (x − mean) / (std + 1e-8) over all values: the usual whitening of a batch's advantages.
public func whitened(_ values: [Float]) -> [Float] {
    guard values.count > 1 else { return values.map { _ in 0 } }
    let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
    let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)
    let deviation = variance.squareRoot()
    return values.map { Float((Double($0) - mean) / (deviation + 1e-8)) }
}

/// The metrics.jsonl fields every PPO iteration logs (the caller adds its own reward parts).
public func ppoMetricFields(buffer: RolloutBuffer, update: PPOUpdateStatistics, kl: Float) -> [String: JSONValue] {
    func number(_ value: Float) -> JSONValue { .number((Double(value) * 10_000).rounded() / 10_000) }
    return [
        "mean_reward": number(buffer.meanReward),
        "kl": number(kl),
        "clip_fraction": number(update.clipFraction),
        "approx_kl": number(update.approximateKL),
        "surrogate_loss": number(update.surrogateLoss),
        "rollouts": .integer(Int64(buffer.count)),
    ]
}
