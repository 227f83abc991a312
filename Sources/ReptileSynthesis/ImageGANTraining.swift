import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// `--diff-augment auto|on|off`: auto switches it on below 500 training images per class.
public enum DiffAugmentSetting: String, Sendable, CaseIterable {
    case auto, on, off
    /// The regime where DiffAugment's gains were shown (100-shot sets, CIFAR at 10 %: 500 a class).
    /// Above it, in a short run, D does not overfit, and the augmentation only hides the class: a
    /// cutout of half an MNIST digit's side took the class head's accuracy on real images from 0.96
    /// to 0.79 after 6–10 epochs on the 800-a-class sample, and G's samples lost a quarter of their
    /// within-class spread (mean pairwise distance 6.5 against 8.6 without, real images 9.0).
    static let automaticThresholdPerClass = 500
}

/// `--loss`: the adversarial loss of both networks.
public enum AdversarialLoss: String, Codable, Sendable, CaseIterable {
    /// W1's: D minimises BCE on real = 1, fake = 0; G the non-saturating −log D(G(z)).
    case bce
    /// Hinge (Lim & Ye 2017; Miyato et al. 2018): D minimises E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))],
    /// G minimises −E[D(G(z))]. D stops pushing on samples it already judges with a margin.
    case hinge

    /// D's loss on its real/fake logits [B, 1] of a real and a generated batch.
    func discriminatorLoss(realLogits: Variable, fakeLogits: Variable) -> Variable {
        switch self {
        case .bce:
            return binaryCrossEntropyWithLogits(logits: realLogits, targets: Tensor(shape: realLogits.shape, repeating: 1))
                + binaryCrossEntropyWithLogits(logits: fakeLogits, targets: Tensor(zeros: fakeLogits.shape))
        case .hinge:
            return mean(relu(Variable(Tensor(shape: realLogits.shape, repeating: 1)) - realLogits))
                + mean(relu(Variable(Tensor(shape: fakeLogits.shape, repeating: 1)) + fakeLogits))
        }
    }

    /// G's loss on D's logits [B, 1] of its generated batch.
    func generatorLoss(fakeLogits: Variable) -> Variable {
        switch self {
        case .bce: return binaryCrossEntropyWithLogits(logits: fakeLogits, targets: Tensor(shape: fakeLogits.shape, repeating: 1))
        case .hinge: return scale(mean(fakeLogits), by: -1)
        }
    }
}

/// What `reptile train image` was asked to do. Options left nil take the run's saved value when
/// resuming, and the defaults below for a new run.
public struct ImageGANTrainingOptions: Sendable {
    public var dataset: String?
    public var out: String
    public var discriminatorHead: DiscriminatorHead?
    public var spectralNorm: Bool?
    public var diffAugment: DiffAugmentSetting?
    public var emaDecay: Float?
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Float?
    /// D's own learning rate (two time-scale update rule); nil: `learningRate`.
    public var discriminatorLearningRate: Float?
    public var generatorConditioning: GeneratorConditioning?
    public var diffAugmentPolicy: DiffAugmentPolicy?
    public var adversarialLoss: AdversarialLoss?
    /// At least this many steps make an epoch (small datasets repeat their passes); nil: the default.
    public var minimumStepsPerEpoch: Int?
    /// λ of the mode-seeking term (MSGAN); nil: 0, off.
    public var modeSeekingWeight: Float?
    public var seed: UInt64?
    public var threads: Int?
    public var force = false
    public var resume = false
    public var ppo: ImagePPOOptions?
    public var showProgress = true

    public static let defaultEpochs = 20
    public static let defaultBatchSize = 64
    public static let defaultLearningRate: Float = 2e-4
    public static let defaultEMADecay: Float = 0.999
    public static let defaultGeneratorConditioning = GeneratorConditioning.input
    public static let defaultDiffAugmentPolicy = DiffAugmentPolicy.translationCutout
    public static let defaultAdversarialLoss = AdversarialLoss.bce
    /// A small dataset's epoch repeats its passes until it has at least this many steps.
    public static let defaultMinimumStepsPerEpoch = 100

    public init(dataset: String?, out: String) {
        self.dataset = dataset
        self.out = out
    }
}

/// What a finished `train image` reports.
public struct ImageGANTrainingResult: Sendable {
    public var run: String
    public var epochs: Int
    public var steps: Int
    public var ppoIterations: Int
    public var diffAugment: Bool
    public var lastMetrics: [String: JSONValue]
}

/// Means of one epoch's per-step numbers.
struct EpochTotals {
    var steps = 0
    var discriminatorLoss: Double = 0, generatorLoss: Double = 0
    var realScore: Double = 0, fakeScore: Double = 0, auxiliaryAccuracy: Double = 0

    mutating func add(_ step: AdversarialStepResult) {
        steps += 1
        discriminatorLoss += Double(step.discriminatorLoss)
        generatorLoss += Double(step.generatorLoss)
        realScore += Double(step.realScore)
        fakeScore += Double(step.fakeScore)
        auxiliaryAccuracy += Double(step.auxiliaryAccuracy)
    }

    func mean(_ value: Double) -> Double { steps > 0 ? value / Double(steps) : 0 }
}

/// One adversarial step's numbers: losses, mean D(real) and D(fake) as probabilities (sigmoid of
/// the logit), and the class head's accuracy on the real batch.
struct AdversarialStepResult {
    var discriminatorLoss: Float
    var generatorLoss: Float
    var realScore: Float
    var fakeScore: Float
    var auxiliaryAccuracy: Float
}

/// One adversarial step on a real batch (images [B, C, H, W] in [−1, 1]): the discriminator
/// update on the real and a generated batch, then the generator update on the same generated
/// batch, then the EMA. W1's step, plus DiffAugment and the projection head.
func adversarialStep(_ state: ImageGANState, realImages: Tensor, realLabels: [Int], diffAugment: Bool, emaDecay: Float) -> AdversarialStepResult {
    let batch = realImages.shape[0]
    let classCount = state.config.architecture.classCount
    let usesClassLoss = state.config.architecture.discriminatorHead != .projection
    let noise = Tensor(normalShape: [batch, state.config.architecture.noiseSize], random: &state.noiseRandom)
    let modeSeekingWeight = state.config.modeSeekingWeight ?? 0
    var fakeLabels = (0..<(modeSeekingWeight > 0 ? batch / 2 : batch)).map { _ in state.noiseRandom.nextIndex(below: classCount) }
    if modeSeekingWeight > 0 {
        // Pairs (i, i + B/2) share a class and differ in noise only: what the mode-seeking term compares.
        fakeLabels += fakeLabels
    }
    let fakeImages = state.generator(noise: noise, labels: fakeLabels)

    let policy = state.config.augmentPolicy, loss = state.config.loss
    func augmented(_ images: Variable) -> Variable {
        diffAugment ? DiffAugment.apply(images, policy: policy, random: &state.augmentRandom) : images
    }

    // Discriminator: the generated images enter as constants (PyTorch's fake.detach()).
    state.discriminatorOptimizer.zeroGradients()
    let real = state.discriminator(augmented(Variable(realImages)), labels: realLabels)
    let fake = state.discriminator(augmented(Variable(fakeImages.value)), labels: fakeLabels)
    var discriminatorLoss = loss.discriminatorLoss(realLogits: real.realLogits, fakeLogits: fake.realLogits)
    if usesClassLoss {
        // The class head learns from real images only. Trained on fakes too (the original AC-GAN),
        // D rewards whatever makes G's own samples easy to classify, and G collapses towards a few
        // prototypical images per class (Shu et al. 2017; Gong et al. 2019, "Twin Auxiliary
        // Classifiers GAN"): class-conditional grids, but too little diversity to train on.
        discriminatorLoss = discriminatorLoss + crossEntropy(logits: real.classLogits, labels: realLabels)
    }
    if let twin = fake.twinLogits {
        // TAC-GAN: the twin head learns which class G meant, from G's samples.
        discriminatorLoss = discriminatorLoss + crossEntropy(logits: twin, labels: fakeLabels)
    }
    discriminatorLoss.backward()
    state.discriminatorOptimizer.step()

    // Generator: fool the updated discriminator (non-saturating loss) and, with AC-GAN, make the
    // class recognisable. D's weight gradients would be discarded, so they are not computed.
    state.generatorOptimizer.zeroGradients()
    state.discriminator.setParametersRequireGradient(false)
    let judged = state.discriminator(augmented(fakeImages), labels: fakeLabels)
    var generatorLoss = loss.generatorLoss(fakeLogits: judged.realLogits)
    if usesClassLoss { generatorLoss = generatorLoss + crossEntropy(logits: judged.classLogits, labels: fakeLabels) }
    if let twin = judged.twinLogits {
        // −CE of the twin head: samples of a class as varied as the real class, not its easiest ones.
        generatorLoss = generatorLoss - crossEntropy(logits: twin, labels: fakeLabels)
    }
    if modeSeekingWeight > 0 {
        generatorLoss = generatorLoss + scale(modeSeekingLoss(outputs: fakeImages, noise: noise), by: modeSeekingWeight)
    }
    generatorLoss.backward()
    state.discriminator.setParametersRequireGradient(true)
    state.generatorOptimizer.step()

    GeneratorAverage.update(state.averageGenerator, towards: state.generator, decay: emaDecay, step: state.step)
    state.step += 1

    let realLogits = real.realLogits.value.scalars, fakeLogits = fake.realLogits.value.scalars
    func meanProbability(_ logits: [Float]) -> Float { logits.reduce(0) { $0 + 1 / (1 + exp(-$1)) } / Float(logits.count) }
    let predicted = argmaxRows(real.classLogits.value)
    let correct = zip(predicted, realLabels).filter { $0 == $1 }.count
    return AdversarialStepResult(discriminatorLoss: discriminatorLoss.value.scalarValue, generatorLoss: generatorLoss.value.scalarValue,
                                 realScore: meanProbability(realLogits), fakeScore: meanProbability(fakeLogits),
                                 auxiliaryAccuracy: Float(correct) / Float(batch))
}

func argmaxRows(_ logits: Tensor) -> [Int] {
    let rows = logits.shape[0], width = logits.shape[1]
    return logits.withUnsafeBufferPointer { values in
        (0..<rows).map { row in
            var best = 0
            for column in 1..<max(width, 1) where values[row * width + column] > values[row * width + best] { best = column }
            return best
        }
    }
}

/// The dataset a run trains on, checked against what the GAN accepts.
struct TrainingDataset {
    let folder: DatasetFolder
    let shape: ImageShape
    let trainCount: Int
    let classCounts: [Int]

    init(path: String) throws {
        folder = try DatasetFolder(path: path)
        let infoPath = URL(fileURLWithPath: path).appendingPathComponent(DatasetInfo.fileName).path
        guard folder.info.kind == .image, let shape = folder.info.imageShape else {
            throw ReptileError(path: path, "is a \(folder.info.kind.rawValue) dataset; `train image` needs images",
                               fix: "ingest images with `reptile ingest image SRC --name NAME`")
        }
        guard shape.height == shape.width, ImageGANArchitecture.supportedImageSizes.contains(shape.height),
              shape.channels == 1 || shape.channels == 3 else {
            throw ReptileError(path: infoPath, "images are \(shape), but the image GAN takes 28×28 or 32×32 images with 1 or 3 channels",
                               fix: "re-ingest with `reptile ingest image SRC --name NAME --resize 28x28` (or 32x32)")
        }
        guard let train = folder.info.splits["train"], train.count > 0 else {
            throw ReptileError(path: infoPath, "has no train split", fix: "ingest the dataset with a training split")
        }
        self.shape = shape
        trainCount = train.count
        classCounts = train.classCounts
    }
}

/// `reptile train image`: adversarial epochs (checkpoint, metrics line and sample grid after each),
/// then the PPO refinement if asked. A new run is built in a hidden staging folder until its first
/// checkpoint exists, so an interrupted first epoch leaves nothing; later epochs replace the
/// checkpoint atomically, and `resume` continues from it bit for bit.
public func trainImageGAN(_ options: ImageGANTrainingOptions, report: (String) -> Void = { _ in }) throws -> ImageGANTrainingResult {
    try validate(options)
    let runPath = options.out
    let checkpointName = RunNames.checkpoint
    var state: ImageGANState
    var config: ImageGANRunConfig
    var staging: StagingFolder? = nil
    let dataset: TrainingDataset

    if options.resume {
        let checkpointPath = URL(fileURLWithPath: runPath).appendingPathComponent(checkpointName).path
        guard FileManager.default.fileExists(atPath: checkpointPath) else {
            throw ReptileError(path: checkpointPath, "missing: there is no checkpoint to resume from",
                               fix: "start the run without --resume (add --force to replace the folder)")
        }
        state = try ImageGANState.load(from: checkpointPath)
        config = state.config
        dataset = try TrainingDataset(path: options.dataset ?? config.dataset)
        try checkResumedDataset(dataset.folder, recordedFileSHA256: config.datasetInfoSha256,
                                recordedContentSHA256: config.datasetContentSha256)
        try checkUnchangedOnResume(options, config: config, checkpoint: checkpointPath)
        if let minimumSteps = options.minimumStepsPerEpoch,
           passesPerEpoch(minimumSteps: minimumSteps, trainCount: dataset.trainCount, batchSize: config.batchSize) != config.trainingPassesPerEpoch {
            throw ReptileError(path: checkpointPath, "the run was made with another --min-epoch-steps (\(config.trainingPassesPerEpoch) passes an epoch)",
                               fix: "resume without --min-epoch-steps, or start a new run with --force")
        }
        if let epochs = options.epochs {
            guard epochs >= state.completedEpochs else {
                throw ReptileError(path: checkpointPath, "already holds \(state.completedEpochs) epochs, more than --epochs \(epochs)",
                                   fix: "give --epochs \(state.completedEpochs) or more")
            }
            if epochs > state.completedEpochs && state.ppoGenerator != nil {
                throw ReptileError(path: checkpointPath, "has PPO iterations already; more adversarial epochs would change its pre-PPO generator",
                                   fix: "resume without --epochs (PPO only), or train a new run with --force")
            }
            config.epochs = epochs
        }
        config.threads = options.threads ?? config.threads
    } else {
        guard let datasetPath = options.dataset else {
            throw ReptileError("no --dataset given", fix: "give --dataset datasets/NAME (or --resume to continue \(runPath))")
        }
        if FileManager.default.fileExists(atPath: runPath) && !options.force {
            throw ReptileError(path: runPath, "already exists", fix: "pass --resume to continue that run or --force to replace it")
        }
        dataset = try TrainingDataset(path: datasetPath)
        let perClass = dataset.trainCount / max(1, dataset.classCounts.count)
        let augment: Bool
        switch options.diffAugment ?? .auto {
        case .on: augment = true
        case .off: augment = false
        case .auto: augment = perClass < DiffAugmentSetting.automaticThresholdPerClass
        }
        let architecture = ImageGANArchitecture(imageSize: dataset.shape.height, channels: dataset.shape.channels,
                                                classCount: dataset.folder.info.classNames.count,
                                                discriminatorHead: options.discriminatorHead ?? .acgan,
                                                spectralNorm: options.spectralNorm ?? false,
                                                generatorConditioning: options.generatorConditioning ?? ImageGANTrainingOptions.defaultGeneratorConditioning)
        config = ImageGANRunConfig(dataset: datasetPath, datasetInfoSha256: dataset.folder.infoSHA256, classNames: dataset.folder.info.classNames,
                                   imageHeight: dataset.shape.height, imageWidth: dataset.shape.width, imageChannels: dataset.shape.channels,
                                   architecture: architecture, diffAugment: augment,
                                   emaDecay: options.emaDecay ?? ImageGANTrainingOptions.defaultEMADecay,
                                   epochs: options.epochs ?? ImageGANTrainingOptions.defaultEpochs,
                                   batchSize: min(options.batchSize ?? ImageGANTrainingOptions.defaultBatchSize, dataset.trainCount),
                                   learningRate: options.learningRate ?? ImageGANTrainingOptions.defaultLearningRate,
                                   seed: options.seed ?? 0,
                                   threads: options.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        config.datasetContentSha256 = try dataset.folder.contentSHA256()
        guard config.batchSize >= 2 else {
            throw ReptileError(path: datasetPath, "has \(dataset.trainCount) training image; the GAN needs at least 2", fix: "ingest more images")
        }
        config.modeSeekingWeight = options.modeSeekingWeight
        config.diffAugmentPolicy = options.diffAugmentPolicy ?? ImageGANTrainingOptions.defaultDiffAugmentPolicy
        config.adversarialLoss = options.adversarialLoss ?? ImageGANTrainingOptions.defaultAdversarialLoss
        config.discriminatorLearningRate = options.discriminatorLearningRate
        config.passesPerEpoch = passesPerEpoch(minimumSteps: options.minimumStepsPerEpoch ?? ImageGANTrainingOptions.defaultMinimumStepsPerEpoch,
                                               trainCount: dataset.trainCount, batchSize: config.batchSize)
        state = ImageGANState(config: config)
        staging = try StagingFolder(destination: runPath, force: options.force)
    }
    var ppoSettings: ImagePPOSettings? = nil
    if let ppo = options.ppo, ppo.iterations > 0 {
        ppoSettings = try ppo.settings(for: config, previous: config.ppo)
        config.ppo = ppoSettings
    } else if options.resume, let previous = config.ppo, state.completedPPOIterations < previous.iterations {
        // A run killed during PPO continues its iterations with the settings it was started with.
        ppoSettings = previous
        _ = try loadCompatibleClassifier(previous.classifier ?? "", config: config)
    }
    BLAS.setThreadCount(config.threads)

    // Where files go: the staging folder until the first checkpoint of a new run, then the run.
    var folder = staging?.staging.path ?? URL(fileURLWithPath: runPath).standardizedFileURL.path
    func path(_ name: String) -> String { URL(fileURLWithPath: folder).appendingPathComponent(name).path }
    let metrics = { MetricsLog(path: path(RunNames.metrics)) }
    if options.resume { try metrics().truncate(toEpochs: state.completedEpochs, ppoIterations: state.completedPPOIterations) }
    try writeAtomically(try StableJSON.encode(config) + Data([0x0A]), to: path(RunNames.config))
    func saveCheckpoint() throws {
        try state.save(to: path(checkpointName), config: config)
        if let pending = staging {
            try pending.commit()
            staging = nil
            folder = pending.destination.path
        }
    }

    let reader = try ShardBatchReader(folder: dataset.folder, split: "train", batchSize: config.batchSize, shuffle: true,
                                      seed: config.seed, scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset)
    let passesPerEpoch = config.trainingPassesPerEpoch
    for _ in 0..<(state.completedEpochs * passesPerEpoch) { reader.startEpoch() }
    let stepsPerEpoch = dataset.trainCount / config.batchSize * passesPerEpoch
    let remainingEpochs = max(0, config.epochs - state.completedEpochs)
    let progress = ProgressBar("training", total: remainingEpochs * stepsPerEpoch, unit: "steps",
                               enabled: options.showProgress && ProgressBar.terminalAttached)
    var lastMetrics: [String: JSONValue] = [:]
    var batch = ShardBatch()
    let shape = dataset.shape
    while state.completedEpochs < config.epochs {
        let epoch = state.completedEpochs + 1
        let started = Date()
        var totals = EpochTotals()
        for _ in 0..<passesPerEpoch {
            while try reader.next(into: &batch) {
                guard batch.count == config.batchSize else { continue }  // a short last batch would skew batch-norm
                let images = channelsFirst(batch.images, count: batch.count, height: shape.height, width: shape.width, channels: shape.channels)
                totals.add(adversarialStep(state, realImages: images, realLabels: batch.labels.map { Int($0) },
                                           diffAugment: config.diffAugment, emaDecay: config.emaDecay))
                progress.advance()
            }
            reader.startEpoch()
        }
        state.completedEpochs = epoch
        let seconds = Date().timeIntervalSince(started)
        lastMetrics = [
            "phase": "gan", "epoch": .integer(Int64(epoch)), "step": .integer(Int64(state.step)),
            "d_loss": .number(rounded(totals.mean(totals.discriminatorLoss))), "g_loss": .number(rounded(totals.mean(totals.generatorLoss))),
            "d_real": .number(rounded(totals.mean(totals.realScore))), "d_fake": .number(rounded(totals.mean(totals.fakeScore))),
            "aux_accuracy": .number(rounded(totals.mean(totals.auxiliaryAccuracy))),
            "images_per_s": .number(rounded(Double(totals.steps * config.batchSize) / max(seconds, 1e-9), digits: 1)),
            "seconds": .number(rounded(seconds, digits: 2)),
        ]
        try metrics().append(lastMetrics)
        var recalibration = SeededRandom(seed: config.seed).derived("ema-batch-norm/epoch \(epoch)")
        GeneratorAverage.recalibrateBatchNorm(state.averageGenerator, random: &recalibration)
        try SampleGrid.write(generator: state.averageGenerator, seed: config.seed,
                             to: path(RunNames.samples + "/epoch-\(fourDigits(epoch)).png"))
        try saveCheckpoint()
        report(String(format: "epoch %d/%d  D %.3f  G %.3f  D(real) %.2f  D(fake) %.2f  aux acc %.2f  %.0f images/s  %.1f s",
                      epoch, config.epochs, totals.mean(totals.discriminatorLoss), totals.mean(totals.generatorLoss),
                      totals.mean(totals.realScore), totals.mean(totals.fakeScore), totals.mean(totals.auxiliaryAccuracy),
                      Double(totals.steps * config.batchSize) / max(seconds, 1e-9), seconds))
    }
    progress.finish()

    if let settings = ppoSettings, state.completedPPOIterations < settings.iterations {
        let refinement = try ImagePPORefinement(state: state, settings: settings, dataset: dataset)
        while state.completedPPOIterations < settings.iterations {
            let iteration = state.completedPPOIterations + 1
            let started = Date()
            var fields = try refinement.iterate()
            state.completedPPOIterations = iteration
            fields["phase"] = "ppo"
            fields["iteration"] = .integer(Int64(iteration))
            fields["seconds"] = .number(rounded(Date().timeIntervalSince(started), digits: 2))
            lastMetrics = fields
            try metrics().append(fields)
            try saveCheckpoint()
            report("ppo iteration \(iteration)/\(settings.iterations)  " + ["mean_reward", "kl", "clip_fraction", "approx_kl"]
                .map { key in "\(key) \(fields[key].map { "\($0.number)" } ?? "-")" }.joined(separator: "  "))
        }
        if let policy = state.ppoGenerator {
            try SampleGrid.write(generator: policy, seed: config.seed, to: path(RunNames.samples + "/ppo-\(fourDigits(settings.iterations)).png"))
        }
    }
    // A run asked for no further work (e.g. --resume of a finished run) still ends with a checkpoint.
    if staging != nil { try saveCheckpoint() }
    return ImageGANTrainingResult(run: folder, epochs: state.completedEpochs, steps: state.step,
                                  ppoIterations: state.completedPPOIterations, diffAugment: config.diffAugment, lastMetrics: lastMetrics)
}

/// Whole passes over the training images (full batches only) that give at least `minimumSteps` steps.
func passesPerEpoch(minimumSteps: Int, trainCount: Int, batchSize: Int) -> Int {
    let stepsPerPass = max(1, trainCount / batchSize)
    return max(1, (minimumSteps + stepsPerPass - 1) / stepsPerPass)
}

/// Options that fix the networks or the data order cannot change when resuming.
private func checkUnchangedOnResume(_ options: ImageGANTrainingOptions, config: ImageGANRunConfig, checkpoint: String) throws {
    var changed: [String] = []
    if let head = options.discriminatorHead, head != config.architecture.discriminatorHead { changed.append("--discriminator") }
    if let spectral = options.spectralNorm, spectral, !config.architecture.spectralNorm { changed.append("--spectral-norm") }
    if let seed = options.seed, seed != config.seed { changed.append("--seed") }
    if let batch = options.batchSize, batch != config.batchSize { changed.append("--batch-size") }
    if let rate = options.learningRate, rate != config.learningRate { changed.append("--learning-rate") }
    if let rate = options.discriminatorLearningRate, rate != (config.discriminatorLearningRate ?? config.learningRate) {
        changed.append("--discriminator-learning-rate")
    }
    if let conditioning = options.generatorConditioning, conditioning != config.architecture.generatorConditioning {
        changed.append("--generator-conditioning")
    }
    if let policy = options.diffAugmentPolicy, policy != config.augmentPolicy { changed.append("--diff-augment-policy") }
    if let loss = options.adversarialLoss, loss != config.loss { changed.append("--loss") }
    if let weight = options.modeSeekingWeight, weight != (config.modeSeekingWeight ?? 0) { changed.append("--mode-seeking") }
    if let decay = options.emaDecay, decay != config.emaDecay { changed.append("--ema-decay") }
    if let augment = options.diffAugment, augment != .auto, (augment == .on) != config.diffAugment { changed.append("--diff-augment") }
    guard changed.isEmpty else {
        throw ReptileError(path: checkpoint, "the run was made with other \(changed.joined(separator: ", ")) settings",
                           fix: "resume without them (the run's own settings apply), or start a new run with --force")
    }
}

private func validate(_ options: ImageGANTrainingOptions) throws {
    if options.force && options.resume {
        throw ReptileError("--force and --resume contradict each other", fix: "give --resume to continue the run, --force to replace it")
    }
    if let epochs = options.epochs, epochs < 0 { throw ReptileError("--epochs must not be negative", fix: "use e.g. 20") }
    if let batch = options.batchSize, batch < 2 { throw ReptileError("--batch-size must be at least 2", fix: "use e.g. 64") }
    if let rate = options.learningRate, !(rate > 0) { throw ReptileError("--learning-rate must be positive", fix: "use e.g. 0.0002") }
    if let rate = options.discriminatorLearningRate, !(rate > 0) {
        throw ReptileError("--discriminator-learning-rate must be positive", fix: "use e.g. 0.0004")
    }
    if let decay = options.emaDecay, !(decay >= 0 && decay < 1) { throw ReptileError("--ema-decay must be in [0, 1)", fix: "use e.g. 0.999") }
    if let weight = options.modeSeekingWeight, !(weight >= 0) { throw ReptileError("--mode-seeking must not be negative", fix: "use e.g. 1, or 0 for off") }
    if let steps = options.minimumStepsPerEpoch, steps < 1 { throw ReptileError("--min-epoch-steps must be at least 1", fix: "use e.g. 100") }
    if let threads = options.threads, threads < 1 { throw ReptileError("--threads must be at least 1", fix: "use e.g. 2") }
}

/// Metrics with a fixed number of decimals, so metrics.jsonl stays readable.
func rounded(_ value: Double, digits: Int = 4) -> Double {
    let factor = pow(10, Double(digits))
    return (value * factor).rounded() / factor
}

extension JSONValue {
    /// The number in a metrics field, as text for a report line.
    var number: String {
        switch self {
        case .number(let value): return String(format: "%.4g", value)
        case .integer(let value): return String(value)
        default: return "-"
        }
    }
}
