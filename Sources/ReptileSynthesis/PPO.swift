import ReptileCore
import ReptileEngine

// The generic half of PPO (Schulman et al. 2017), shared by every generator Reptile refines: the
// image generator's Gaussian policy here, the text generator's token policy later. A policy only
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
    var statistics = PPOUpdateStatistics()
    var order = Array(0..<buffer.count)
    for _ in 0..<settings.epochs {
        random.shuffle(&order)
        for start in stride(from: 0, to: order.count, by: settings.minibatchSize) {
            let indices = Array(order[start..<min(order.count, start + settings.minibatchSize)])
            optimizer.zeroGradients()
            let (loss, step) = clippedSurrogateLoss(logProbabilities: logProbabilities(indices),
                                                    oldLogProbabilities: buffer.oldLogProbabilities(of: indices),
                                                    advantages: indices.map { buffer.advantages[$0] },
                                                    clipRange: settings.clipRange)
            loss.backward()
            optimizer.step()
            statistics.clipFraction += step.clipFraction
            statistics.approximateKL += step.approximateKL
            statistics.surrogateLoss += loss.value.scalarValue
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
