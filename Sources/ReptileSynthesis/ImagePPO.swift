import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// `train image --ppo-iterations N …`: what the user asked for (nil: the run's saved value, or the default).
public struct ImagePPOOptions: Sendable {
    public var iterations: Int
    public var sigma: Float?
    public var rewardClassifierWeight: Float?
    public var klWeight: Float?
    public var epochs: Int?
    public var rollouts: Int?
    public var learningRate: Float?
    public var refreshDiscriminator: Bool?
    public var classifier: String?

    public static let defaultSigma: Float = 0.05
    public static let defaultRewardClassifierWeight: Float = 1
    /// KL to the pre-PPO policy is in nats summed over every pixel (hundreds after a visible
    /// change), so β is small: 0.01 outweighed the reward's gain ten to one on the toy test set.
    public static let defaultKLWeight: Float = 0.001
    public static let defaultEpochs = 4
    public static let defaultRollouts = 256
    public static let defaultLearningRate: Float = 5e-5

    public init(iterations: Int) { self.iterations = iterations }

    /// The settings to run with, the classifier checked against the run's classes and image shape.
    func settings(for config: ImageGANRunConfig, previous: ImagePPOSettings?) throws -> ImagePPOSettings {
        guard let classifier = classifier ?? previous?.classifier else {
            throw ReptileError("--ppo-iterations needs a reward classifier", fix: "give --classifier CKPT (made by `reptile pretrain` on the same dataset)")
        }
        let settings = ImagePPOSettings(
            iterations: iterations, sigma: sigma ?? previous?.sigma ?? Self.defaultSigma,
            rewardClassifierWeight: rewardClassifierWeight ?? previous?.rewardClassifierWeight ?? Self.defaultRewardClassifierWeight,
            klWeight: klWeight ?? previous?.klWeight ?? Self.defaultKLWeight, epochs: epochs ?? previous?.epochs ?? Self.defaultEpochs,
            rollouts: rollouts ?? previous?.rollouts ?? Self.defaultRollouts,
            learningRate: learningRate ?? previous?.learningRate ?? Self.defaultLearningRate, clipRange: 0.2,
            refreshDiscriminator: refreshDiscriminator ?? previous?.refreshDiscriminator ?? false,
            classifier: classifier, classifierSha256: try SHA256.hex(ofFileAt: classifier))
        guard settings.iterations >= 0, settings.sigma > 0, settings.klWeight >= 0, settings.rewardClassifierWeight >= 0,
              settings.epochs >= 1, settings.rollouts >= 2, settings.learningRate > 0 else {
            throw ReptileError("PPO settings out of range (iterations ≥ 0, --ppo-sigma > 0, --kl-weight ≥ 0, --reward-classifier-weight ≥ 0, --ppo-epochs ≥ 1, --ppo-rollouts ≥ 2, --ppo-learning-rate > 0)",
                               fix: "use e.g. --ppo-sigma 0.05 --kl-weight 0.01 --ppo-epochs 4")
        }
        _ = try loadCompatibleClassifier(classifier, config: config)
        return settings
    }
}

/// Loads an image classifier and checks that it reads this run's images and names its classes in
/// the same order; a mismatch is one line naming the classifier and what differs.
public func loadCompatibleClassifier(_ path: String, config: ImageGANRunConfig) throws -> ConvolutionalClassifier {
    guard FileManager.default.fileExists(atPath: path) else {
        throw ReptileError(path: path, "no such classifier checkpoint", fix: "pretrain one with `reptile pretrain` or check the path")
    }
    let (model, classifierConfig) = try ImageClassifierCheckpoint.load(from: path)
    guard classifierConfig.classNames == config.classNames else {
        throw ReptileError(path: path, "was trained on the classes \(classifierConfig.classNames.prefix(12).joined(separator: ",")), not the run's \(config.classNames.prefix(12).joined(separator: ","))",
                           fix: "give a classifier pretrained on \(config.dataset) (same classes, same order)")
    }
    let shape = ImageShape(height: classifierConfig.imageHeight ?? 0, width: classifierConfig.imageWidth ?? 0, channels: classifierConfig.imageChannels ?? 0)
    guard shape == config.imageShape else {
        throw ReptileError(path: path, "reads \(shape) images, but the run makes \(config.imageShape) images",
                           fix: "give a classifier pretrained on \(config.dataset) (same image shape)")
    }
    return model
}

/// The PPO phase of an image run. The policy is π(x | z, y) = N(G(z, y), σ²I) around the PPO
/// generator's output (evaluation-mode batch-norm, so a sample's density does not depend on its
/// batch); it starts as a copy of the EMA generator, which stays frozen as the reference.
/// Reward of an action x for class y: D's real/fake logit + w · log p_C(y | x) − β · (log π(x) − log π_ref(x)),
/// the last term being the sampled KL to the pre-PPO generator. D is frozen during an iteration.
/// The ratio is taken per pixel (factorised PPO): one joint ratio over 784–3,072 dimensions leaves
/// the clip range after any step that changes the images visibly (measured: 97 % of ratios clipped
/// at the default learning rate, 66 % even at 3e-7), so nothing would be learnt.
final class ImagePPORefinement {
    let state: ImageGANState
    let settings: ImagePPOSettings
    let classifier: ConvolutionalClassifier
    let dataset: TrainingDataset?
    private var refreshReader: ShardBatchReader?

    init(state: ImageGANState, settings: ImagePPOSettings, dataset: TrainingDataset?) throws {
        self.state = state
        self.settings = settings
        self.dataset = dataset
        classifier = try loadCompatibleClassifier(settings.classifier ?? "", config: state.config)
        classifier.setParametersRequireGradient(false)
        state.startPPO(learningRate: settings.learningRate)
        state.averageGenerator.setParametersRequireGradient(false)
    }

    var policy: ImageGenerator { state.ppoGenerator! }
    private var pixelCount: Int { state.config.architecture.pixelCount }
    private var imageShape: [Int] { [state.config.architecture.channels, state.config.architecture.imageSize, state.config.architecture.imageSize] }

    /// D's logit and the classifier's log-probability of the intended class, per image (D in evaluation mode).
    func rewardParts(images: Tensor, labels: [Int]) -> (discriminator: [Float], classifier: [Float]) {
        state.discriminator.setTraining(false)
        defer { state.discriminator.setTraining(true) }
        let judged = judgeWithoutGradients(state.discriminator, images: images, labels: labels)
        let logProbabilities = logSoftmaxRows(classifier(Variable(images)).value)
        return (judged.realLogits.scalars, zip(logProbabilities, labels).map { $0[$1] })
    }

    /// The mean of D logit + w · log p_C(y | x) − β · KL(π ‖ π_ref) over the policy's mean images for
    /// fixed noise and labels: the deterministic objective a PPO iteration should raise.
    func meanObjective(noise: Tensor, labels: [Int]) -> Float {
        let images = generateWithoutGradients(policy, noise: noise, labels: labels)
        let reference = generateWithoutGradients(state.averageGenerator, noise: noise, labels: labels)
        let parts = rewardParts(images: images, labels: labels)
        let kl = analyticKL(images, reference, rows: labels.count)
        var total: Float = 0
        for index in labels.indices {
            total += parts.discriminator[index] + settings.rewardClassifierWeight * parts.classifier[index] - settings.klWeight * kl[index]
        }
        return total / Float(labels.count)
    }

    /// KL(N(μ, σ²I) ‖ N(μ_ref, σ²I)) = ‖μ − μ_ref‖² / (2σ²) per row.
    private func analyticKL(_ mean: Tensor, _ reference: Tensor, rows: Int) -> [Float] {
        let width = mean.count / rows, a = mean.scalars, b = reference.scalars
        let factor = 1 / (2 * settings.sigma * settings.sigma)
        return (0..<rows).map { row in
            var squares: Float = 0
            for column in 0..<width {
                let difference = a[row * width + column] - b[row * width + column]
                squares += difference * difference
            }
            return squares * factor
        }
    }

    /// One iteration: rollouts from the current policy, rewards with D frozen, per-class advantages,
    /// the clipped update; then optionally a discriminator refresh. Returns the metrics fields.
    func iterate() throws -> [String: JSONValue] {
        let classCount = state.config.architecture.classCount, noiseSize = state.config.architecture.noiseSize
        let rollouts = settings.rollouts, chunk = max(2, state.config.batchSize), sigma = settings.sigma
        var noise = [Float](), actions = [Float](), labels = [Int]()
        noise.reserveCapacity(rollouts * noiseSize)
        actions.reserveCapacity(rollouts * pixelCount)
        var buffer = RolloutBuffer(logProbabilitiesPerSample: pixelCount)
        var discriminatorTotal: Double = 0, classifierTotal: Double = 0, klTotal: Double = 0
        // Classes round-robin from a random start, so every class gets its share of each batch.
        let firstClass = state.ppoRandom.nextIndex(below: classCount)
        for start in stride(from: 0, to: rollouts, by: chunk) {
            let count = min(chunk, rollouts - start)
            let chunkLabels = (0..<count).map { (firstClass + start + $0) % classCount }
            let chunkNoise = Tensor(normalShape: [count, noiseSize], random: &state.ppoRandom)
            let means = generateWithoutGradients(policy, noise: chunkNoise, labels: chunkLabels)
            let references = generateWithoutGradients(state.averageGenerator, noise: chunkNoise, labels: chunkLabels)
            let perturbation = Tensor(normalShape: means.shape, standardDeviation: sigma, random: &state.ppoRandom)
            var sampled = means
            sampled.withUnsafeMutableBufferPointer { x in
                perturbation.withUnsafeBufferPointer { e in for index in x.indices { x[index] += e[index] } }
            }
            let parts = rewardParts(images: sampled, labels: chunkLabels)
            let oldLogProbabilities = gaussianLogDensity(mean: Variable(means), samples: sampled, standardDeviation: sigma, perElement: true).value.scalars
            let referenceLogProbabilities = gaussianLogDensity(mean: Variable(references), samples: sampled, standardDeviation: sigma).value.scalars
            let kl = analyticKL(means, references, rows: count)
            for index in 0..<count {
                let own = oldLogProbabilities[(index * pixelCount)..<((index + 1) * pixelCount)]
                let sampledKL = own.reduce(0, +) - referenceLogProbabilities[index]
                let reward = parts.discriminator[index] + settings.rewardClassifierWeight * parts.classifier[index] - settings.klWeight * sampledKL
                buffer.append(class: chunkLabels[index], oldLogProbabilities: own, reward: reward)
                discriminatorTotal += Double(parts.discriminator[index])
                classifierTotal += Double(parts.classifier[index])
                klTotal += Double(kl[index])
            }
            noise += chunkNoise.scalars
            actions += sampled.scalars
            labels += chunkLabels
        }
        buffer.normaliseAdvantagesPerClass(classCount: classCount)

        let update = ppoUpdate(buffer, settings: PPOUpdateSettings(clipRange: settings.clipRange, epochs: settings.epochs, minibatchSize: chunk),
                               optimizer: state.ppoOptimizer!, random: &state.ppoRandom) { indices in
            var batchNoise = [Float](), batchActions = [Float]()
            for index in indices {
                batchNoise += noise[(index * noiseSize)..<((index + 1) * noiseSize)]
                batchActions += actions[(index * pixelCount)..<((index + 1) * pixelCount)]
            }
            let mean = policy(noise: Tensor(shape: [indices.count, noiseSize], values: batchNoise), labels: indices.map { labels[$0] })
            return gaussianLogDensity(mean: mean, samples: Tensor(shape: [indices.count] + imageShape, values: batchActions),
                                      standardDeviation: sigma, perElement: true)
        }
        if settings.refreshDiscriminator { try refreshDiscriminator() }

        var fields = ppoMetricFields(buffer: buffer, update: update, kl: Float(klTotal / Double(rollouts)))
        fields["mean_d_logit"] = .number(rounded(discriminatorTotal / Double(rollouts)))
        fields["mean_classifier_log_prob"] = .number(rounded(classifierTotal / Double(rollouts)))
        return fields
    }

    /// Between iterations: as many discriminator updates as the rollouts fill batches, on real
    /// batches against the policy's current images, so D keeps up with the refined generator.
    private func refreshDiscriminator() throws {
        guard let dataset else { return }
        let batchSize = state.config.batchSize, shape = dataset.shape
        if refreshReader == nil {
            refreshReader = try ShardBatchReader(folder: dataset.folder, split: "train", batchSize: batchSize, shuffle: true,
                                                 seed: state.config.seed ^ 0x5050_4F00, scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset)
        }
        var batch = ShardBatch()
        let head = state.config.architecture.discriminatorHead
        for _ in 0..<max(1, settings.rollouts / batchSize) {
            if try !refreshReader!.next(into: &batch) || batch.count < batchSize {
                refreshReader!.startEpoch()
                guard try refreshReader!.next(into: &batch), batch.count == batchSize else { return }
            }
            let realLabels = batch.labels.map { Int($0) }
            let real = channelsFirst(batch.images, count: batchSize, height: shape.height, width: shape.width, channels: shape.channels)
            let fakeLabels = (0..<batchSize).map { _ in state.ppoRandom.nextIndex(below: state.config.architecture.classCount) }
            let noise = Tensor(normalShape: [batchSize, state.config.architecture.noiseSize], random: &state.ppoRandom)
            let fake = generateWithoutGradients(policy, noise: noise, labels: fakeLabels)
            func augmented(_ images: Variable) -> Variable {
                state.config.diffAugment ? DiffAugment.apply(images, policy: state.config.augmentPolicy, random: &state.ppoRandom) : images
            }
            state.discriminatorOptimizer.zeroGradients()
            let judgedReal = state.discriminator(augmented(Variable(real)), labels: realLabels)
            let judgedFake = state.discriminator(augmented(Variable(fake)), labels: fakeLabels)
            var loss = state.config.loss.discriminatorLoss(realLogits: judgedReal.realLogits, fakeLogits: judgedFake.realLogits)
            if head == .acgan {
                loss = loss + crossEntropy(logits: judgedReal.classLogits, labels: realLabels) + crossEntropy(logits: judgedFake.classLogits, labels: fakeLabels)
            } else if head == .tacgan, let twin = judgedFake.twinLogits {
                loss = loss + crossEntropy(logits: judgedReal.classLogits, labels: realLabels) + crossEntropy(logits: twin, labels: fakeLabels)
            }
            loss.backward()
            state.discriminatorOptimizer.step()
        }
    }
}
