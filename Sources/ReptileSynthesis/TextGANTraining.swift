import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileClassify

/// What `reptile train text` was asked to do. Options left nil take the run's saved value when
/// resuming, and the defaults below for a new run.
public struct TextGANTrainingOptions: Sendable {
    public var dataset: String?
    public var out: String
    public var vocabularySize: Int?
    public var maximumLength: Int?
    public var epochs: Int?
    public var patience: Int?
    public var batchSize: Int?
    public var learningRate: Float?
    public var discriminatorEpochs: Int?
    public var validationFraction: Double?
    public var seed: UInt64?
    public var threads: Int?
    public var force = false
    public var resume = false
    public var ppo: TextPPOOptions?
    public var showProgress = true

    public static let defaultVocabularySize = 5000
    public static let defaultMaximumLength = 32
    public static let defaultEpochs = 30
    public static let defaultPatience = 3
    public static let defaultBatchSize = 64
    public static let defaultLearningRate: Float = 1e-3
    public static let defaultDiscriminatorEpochs = 3
    public static let defaultDiscriminatorLearningRate: Float = 1e-4
    public static let defaultValidationFraction = 0.1

    public init(dataset: String?, out: String) {
        self.dataset = dataset
        self.out = out
    }
}

/// `train text --ppo-iterations N …` (nil: the run's saved value, or the default).
public struct TextPPOOptions: Sendable {
    public var iterations: Int
    public var classifier: String?
    public var rewardClassifierWeight: Float?
    public var klWeight: Float?
    public var epochs: Int?
    public var rollouts: Int?
    public var minibatchSize: Int?
    public var learningRate: Float?
    public var entropyWeight: Float?
    public var refreshDiscriminator: Bool?

    public static let defaultRewardClassifierWeight: Float = 1

    public init(iterations: Int) { self.iterations = iterations }

    func settings(for config: TextGANRunConfig, previous: TextPPOSettings?) throws -> TextPPOSettings {
        var hyperparameters = previous?.hyperparameters ?? TextPPOHyperparameters()
        if let klWeight { hyperparameters.klWeight = klWeight }
        if let epochs { hyperparameters.epochs = epochs }
        if let rollouts { hyperparameters.rollouts = rollouts }
        if let minibatchSize { hyperparameters.minibatchSize = minibatchSize }
        if let learningRate { hyperparameters.learningRate = learningRate }
        if let entropyWeight { hyperparameters.entropyWeight = entropyWeight }
        guard iterations >= 0, hyperparameters.klWeight >= 0, hyperparameters.epochs >= 1, hyperparameters.rollouts >= 2,
              hyperparameters.minibatchSize >= 1, hyperparameters.learningRate > 0, hyperparameters.entropyWeight >= 0,
              (rewardClassifierWeight ?? 0) >= 0 else {
            throw ReptileError("PPO settings out of range (--kl-weight ≥ 0, --ppo-epochs ≥ 1, --ppo-rollouts ≥ 2, --ppo-minibatch ≥ 1, --ppo-learning-rate > 0, --entropy-weight ≥ 0, --reward-classifier-weight ≥ 0)",
                               fix: "use e.g. --kl-weight 0.05 --ppo-epochs 4 --ppo-rollouts 256")
        }
        let classifierPath = classifier ?? previous?.classifier
        if let classifierPath { _ = try loadTextRewardClassifier(classifierPath, config: config) }
        return TextPPOSettings(iterations: iterations, hyperparameters: hyperparameters,
                               rewardClassifierWeight: rewardClassifierWeight ?? previous?.rewardClassifierWeight ?? Self.defaultRewardClassifierWeight,
                               refreshDiscriminator: refreshDiscriminator ?? previous?.refreshDiscriminator ?? true,
                               classifier: classifierPath, classifierSha256: try classifierPath.map { try SHA256.hex(ofFileAt: $0) })
    }
}

/// Loads a text classifier (made by `reptile pretrain`) and checks it names the run's classes in order.
public func loadTextRewardClassifier(_ path: String, config: TextGANRunConfig) throws -> any TrainableClassifier {
    try loadTextClassifier(path, dataset: config.dataset, classNames: config.classNames)
}

/// A text classifier checkpoint of the run's classes (same names, same order), frozen.
func loadTextClassifier(_ path: String, dataset: String, classNames: [String]) throws -> any TrainableClassifier {
    guard FileManager.default.fileExists(atPath: path) else {
        throw ReptileError(path: path, "no such classifier checkpoint", fix: "pretrain one with `reptile pretrain --dataset \(dataset)` or check the path")
    }
    let classifier = try ClassifierArchitectures.load(from: path)
    guard classifier.config.kind == "text" else {
        throw ReptileError(path: path, "is an \(classifier.config.kind) classifier, not a text classifier", fix: "give a classifier pretrained on \(dataset)")
    }
    guard classifier.config.classNames == classNames else {
        throw ReptileError(path: path, "was trained on the classes \(classifier.config.classNames.prefix(12).joined(separator: ",")), not the run's \(classNames.prefix(12).joined(separator: ","))",
                           fix: "give a classifier pretrained on \(dataset) (same classes, same order)")
    }
    classifier.setParametersRequireGradient(false)
    return classifier
}

/// log p_C(label | text) per text, in batches, without a graph.
func classifierLogProbabilities(_ classifier: any TrainableClassifier, texts: [String], labels: [Int], batchSize: Int = 256) -> [Float] {
    var result: [Float] = []
    var unused = SeededRandom(seed: 0)
    for start in stride(from: 0, to: texts.count, by: batchSize) {
        let end = min(texts.count, start + batchSize)
        var batch = ClassifierBatch()
        batch.texts = Array(texts[start..<end])
        batch.labels = Array(labels[start..<end])
        let rows = logSoftmaxRows(classifier.logits(for: batch, random: &unused).value)
        result += zip(rows, batch.labels).map { $0[$1] }
    }
    return result
}

/// What a finished `train text` reports.
public struct TextGANTrainingResult: Sendable {
    public var run: String
    public var epochs: Int
    public var bestEpoch: Int
    public var discriminatorEpochs: Int
    public var ppoIterations: Int
    public var truncatedShare: Double
    public var vocabularySize: Int
    public var report: [String: JSONValue]
}

/// A text dataset's splits in memory (text datasets are small: TREC is 0.4 MB), the validation
/// texts set apart.
struct TextTrainingData {
    let folder: DatasetFolder
    var trainTexts: [String] = [], trainLabels: [Int] = []
    var validationTexts: [String] = [], validationLabels: [Int] = []
    var testTexts: [String] = [], testLabels: [Int] = []
    let validationSource: String

    init(path: String, validationFraction: Double, seed: UInt64) throws {
        folder = try DatasetFolder(path: path)
        let infoPath = URL(fileURLWithPath: path).appendingPathComponent(DatasetInfo.fileName).path
        guard folder.info.kind == .text else {
            throw ReptileError(path: path, "is an \(folder.info.kind.rawValue) dataset; `train text` needs texts",
                               fix: "ingest texts with `reptile ingest text SRC --name NAME`")
        }
        guard let train = folder.info.splits["train"], train.count > 0 else {
            throw ReptileError(path: infoPath, "has no train split", fix: "ingest the dataset with a training split")
        }
        (trainTexts, trainLabels) = try Self.read(folder, split: "train")
        if folder.info.splits["test"] != nil { (testTexts, testLabels) = try Self.read(folder, split: "test") }
        if folder.info.splits["val"] != nil {
            (validationTexts, validationLabels) = try Self.read(folder, split: "val")
            validationSource = "val"
        } else {
            // A seeded slice of train, never trained on.
            var random = SeededRandom(seed: seed).derived("validation-slice")
            var order = Array(trainTexts.indices)
            random.shuffle(&order)
            let count = trainTexts.count >= 10 && validationFraction > 0
                ? max(1, Int((Double(trainTexts.count) * validationFraction).rounded())) : 0
            let held = Set(order.prefix(count))
            let allTexts = trainTexts, allLabels = trainLabels
            let heldOrder = order.prefix(count).sorted()
            validationTexts = heldOrder.map { allTexts[$0] }
            validationLabels = heldOrder.map { allLabels[$0] }
            let kept = allTexts.indices.filter { !held.contains($0) }
            trainTexts = kept.map { allTexts[$0] }
            trainLabels = kept.map { allLabels[$0] }
            validationSource = "train-slice"
        }
    }

    static func read(_ folder: DatasetFolder, split: String) throws -> ([String], [Int]) {
        var texts: [String] = [], labels: [Int] = []
        for shard in folder.info.splits[split]?.shards ?? [] {
            let reader = try ShardReader(path: folder.shardPath(shard))
            texts += try reader.texts(0..<reader.count)
            labels += try reader.labels().map { Int($0) }
        }
        return (texts, labels)
    }
}

/// `reptile train text`: MLE epochs with early stopping on validation perplexity, discriminator
/// epochs, then PPO iterations if asked; a checkpoint, a metrics line and a samples file after
/// each. A new run is built in a hidden staging folder until its first checkpoint exists; later
/// checkpoints replace the old one atomically, and `resume` continues from it bit for bit.
public func trainTextGAN(_ options: TextGANTrainingOptions, report: (String) -> Void = { _ in }) throws -> TextGANTrainingResult {
    try validate(options)
    let runPath = options.out
    var state: TextGANState
    var config: TextGANRunConfig
    var staging: StagingFolder? = nil
    let data: TextTrainingData

    if options.resume {
        let checkpointPath = URL(fileURLWithPath: runPath).appendingPathComponent(RunNames.checkpoint).path
        guard FileManager.default.fileExists(atPath: checkpointPath) else {
            throw ReptileError(path: checkpointPath, "missing: there is no checkpoint to resume from",
                               fix: "start the run without --resume (add --force to replace the folder)")
        }
        state = try TextGANState.load(from: checkpointPath)
        config = state.config
        data = try TextTrainingData(path: options.dataset ?? config.dataset, validationFraction: config.validationFraction, seed: config.seed)
        try checkResumedDataset(data.folder, recordedFileSHA256: config.datasetInfoSha256,
                                recordedContentSHA256: config.datasetContentSha256)
        var changed: [String] = []
        if let value = options.seed, value != config.seed { changed.append("--seed") }
        if let value = options.batchSize, value != config.batchSize { changed.append("--batch-size") }
        if let value = options.learningRate, value != config.learningRate { changed.append("--learning-rate") }
        if let value = options.vocabularySize, value != config.architecture.vocabularySize { changed.append("--vocab-size") }
        if let value = options.maximumLength, value != config.architecture.maximumLength { changed.append("--max-length") }
        if let value = options.patience, value != config.patience { changed.append("--patience") }
        if let value = options.validationFraction, value != config.validationFraction { changed.append("--val-fraction") }
        guard changed.isEmpty else {
            throw ReptileError(path: checkpointPath, "the run was made with other \(changed.joined(separator: ", ")) settings",
                               fix: "resume without them (the run's own settings apply), or start a new run with --force")
        }
        if let epochs = options.epochs, epochs != config.epochs {
            guard !state.mleFinished else {
                throw ReptileError(path: checkpointPath, "has finished its MLE phase (best epoch \(state.bestEpoch)); --epochs cannot change it",
                                   fix: "resume without --epochs, or train a new run with --force")
            }
            guard epochs >= state.completedEpochs else {
                throw ReptileError(path: checkpointPath, "already holds \(state.completedEpochs) epochs, more than --epochs \(epochs)",
                                   fix: "give --epochs \(state.completedEpochs) or more")
            }
            config.epochs = epochs
        }
        if let epochs = options.discriminatorEpochs, epochs != config.discriminatorEpochs {
            guard state.ppoGenerator == nil, epochs >= state.completedDiscriminatorEpochs else {
                throw ReptileError(path: checkpointPath, "has \(state.completedDiscriminatorEpochs) discriminator epochs\(state.ppoGenerator == nil ? "" : " and PPO iterations")",
                                   fix: "resume without --discriminator-epochs, or train a new run with --force")
            }
            config.discriminatorEpochs = epochs
        }
        config.threads = options.threads ?? config.threads
    } else {
        guard let datasetPath = options.dataset else {
            throw ReptileError("no --dataset given", fix: "give --dataset datasets/NAME (or --resume to continue \(runPath))")
        }
        if FileManager.default.fileExists(atPath: runPath) && !options.force {
            throw ReptileError(path: runPath, "already exists", fix: "pass --resume to continue that run or --force to replace it")
        }
        let seed = options.seed ?? 0
        let fraction = options.validationFraction ?? TextGANTrainingOptions.defaultValidationFraction
        data = try TextTrainingData(path: datasetPath, validationFraction: fraction, seed: seed)
        guard !data.trainTexts.isEmpty else {
            throw ReptileError(path: datasetPath, "has too few training texts", fix: "ingest more texts")
        }
        let maximumLength = options.maximumLength ?? TextGANTrainingOptions.defaultMaximumLength
        let vocabulary = try TextGenerationVocabulary.build(from: data.trainTexts,
                                                            maximumSize: options.vocabularySize ?? TextGANTrainingOptions.defaultVocabularySize)
        var truncated = 0, unknown = 0, tokens = 0
        for text in data.trainTexts {
            let encoded = vocabulary.encode(text, maximumLength: maximumLength)
            if encoded.truncated { truncated += 1 }
            unknown += encoded.indices.filter { $0 == TextGenerationVocabulary.unknownIndex }.count
            tokens += encoded.indices.count
        }
        let classNames = data.folder.info.classNames
        config = TextGANRunConfig(
            dataset: datasetPath, datasetInfoSha256: data.folder.infoSHA256, classNames: classNames, vocabulary: vocabulary.entries,
            architecture: TextGANArchitecture(vocabularySize: vocabulary.count, classCount: classNames.count, maximumLength: maximumLength),
            truncatedShare: rounded(Double(truncated) / Double(data.trainTexts.count)),
            unknownShare: rounded(Double(unknown) / Double(max(tokens, 1))),
            validation: data.validationSource, validationFraction: fraction,
            epochs: options.epochs ?? TextGANTrainingOptions.defaultEpochs, patience: options.patience ?? TextGANTrainingOptions.defaultPatience,
            batchSize: options.batchSize ?? TextGANTrainingOptions.defaultBatchSize,
            learningRate: options.learningRate ?? TextGANTrainingOptions.defaultLearningRate,
            discriminatorEpochs: options.discriminatorEpochs ?? TextGANTrainingOptions.defaultDiscriminatorEpochs,
            discriminatorLearningRate: TextGANTrainingOptions.defaultDiscriminatorLearningRate,
            seed: seed, threads: options.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        config.datasetContentSha256 = try data.folder.contentSHA256()
        state = try TextGANState(config: config)
        staging = try StagingFolder(destination: runPath, force: options.force)
        report(String(format: "vocabulary %d tokens (%.1f %% of training tokens unknown); %.1f %% of %d training texts cut at %d tokens; validation: %@ (%d texts)",
                      vocabulary.count, 100 * config.unknownShare, 100 * config.truncatedShare, data.trainTexts.count, maximumLength,
                      data.validationSource, data.validationTexts.count))
    }
    var ppoSettings: TextPPOSettings? = nil
    if let ppo = options.ppo, ppo.iterations > 0 {
        ppoSettings = try ppo.settings(for: config, previous: config.ppo)
        config.ppo = ppoSettings
    } else if options.resume, let previous = config.ppo, state.completedPPOIterations < previous.iterations {
        ppoSettings = previous
    }
    BLAS.setThreadCount(config.threads)

    var folder = staging?.staging.path ?? URL(fileURLWithPath: runPath).standardizedFileURL.path
    func path(_ name: String) -> String { URL(fileURLWithPath: folder).appendingPathComponent(name).path }
    let metrics = { MetricsLog(path: path(RunNames.metrics)) }
    if options.resume { try metrics().truncate(toTextEpochs: state.completedEpochs, discriminatorEpochs: state.completedDiscriminatorEpochs,
                                               ppoIterations: state.completedPPOIterations) }
    try writeAtomically(try StableJSON.encode(config) + Data([0x0A]), to: path(RunNames.config))
    func saveCheckpoint() throws {
        try state.save(to: path(RunNames.checkpoint), config: config)
        if let pending = staging {
            try pending.commit()
            staging = nil
            folder = pending.destination.path
        }
    }

    let vocabulary = state.vocabulary, architecture = config.architecture
    let maximumLength = architecture.maximumLength
    let trainTargets = data.trainTexts.map { vocabulary.targetSequence($0, maximumLength: maximumLength).indices }
    let validationTargets = data.validationTexts.map { vocabulary.targetSequence($0, maximumLength: maximumLength).indices }
    var lastMetrics: [String: JSONValue] = [:]
    let sampling = TokenSampling(forbidden: vocabulary.forbiddenWhenSampling)

    // Phase 1: maximum likelihood with teacher forcing, early-stopping on validation perplexity.
    let batchSize = min(config.batchSize, trainTargets.count)
    let stepsPerEpoch = (trainTargets.count + batchSize - 1) / batchSize
    let progress = ProgressBar("training text generator", total: state.mleFinished ? 0 : max(0, config.epochs - state.completedEpochs) * stepsPerEpoch,
                               unit: "steps", enabled: options.showProgress && ProgressBar.terminalAttached)
    while !state.mleFinished && state.completedEpochs < config.epochs {
        let epoch = state.completedEpochs + 1
        let started = Date()
        var order = Array(trainTargets.indices)
        state.dataRandom.shuffle(&order)
        var lossTotal: Double = 0, tokenTotal = 0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let indices = Array(order[start..<min(order.count, start + batchSize)])
            let (loss, tokens) = maximumLikelihoodStep(state.generator, optimizer: state.generatorOptimizer,
                                                       targets: indices.map { trainTargets[$0] }, classes: indices.map { data.trainLabels[$0] })
            state.step += 1
            lossTotal += Double(loss) * Double(tokens)
            tokenTotal += tokens
            progress.advance()
        }
        let seconds = Date().timeIntervalSince(started)
        let trainNLL = lossTotal / Double(max(tokenTotal, 1))
        let validation = validationTargets.isEmpty ? (nll: trainNLL, tokens: 0)
            : state.generator.negativeLogLikelihood(targets: validationTargets, classes: data.validationLabels, batchSize: 256)
        state.completedEpochs = epoch
        if validation.nll < state.bestValidationNLL - 1e-4 {
            state.bestValidationNLL = validation.nll
            state.bestEpoch = epoch
            state.staleEpochs = 0
            copyWeights(from: state.generator, to: state.mleGenerator)
        } else {
            state.staleEpochs += 1
        }
        if state.staleEpochs >= config.patience || epoch >= config.epochs { state.mleFinished = true }
        lastMetrics = [
            "phase": "mle", "epoch": .integer(Int64(epoch)), "step": .integer(Int64(state.step)),
            "nll": .number(rounded(trainNLL)), "perplexity": .number(rounded(exp(trainNLL), digits: 2)),
            "val_nll": .number(rounded(validation.nll)), "val_perplexity": .number(rounded(exp(validation.nll), digits: 2)),
            "best_epoch": .integer(Int64(state.bestEpoch)),
            "tokens_per_s": .number(rounded(Double(tokenTotal) / max(seconds, 1e-9), digits: 1)),
            "seconds": .number(rounded(seconds, digits: 2)),
        ]
        try metrics().append(lastMetrics)
        try writeSamples(state.generator, vocabulary: vocabulary, config: config, name: "mle \(epoch)",
                         to: path("samples-\(fourDigits(epoch)).txt"))
        try saveCheckpoint()
        report(String(format: "epoch %d/%d  nll %.3f  perplexity %.1f  val perplexity %.1f%@  %.0f tokens/s  %.1f s",
                      epoch, config.epochs, trainNLL, exp(trainNLL), exp(validation.nll), state.bestEpoch == epoch ? " (best)" : "",
                      Double(tokenTotal) / max(seconds, 1e-9), seconds)
               + (state.mleFinished && epoch < config.epochs ? "  early stop: no better validation perplexity for \(config.patience) epochs" : ""))
    }
    progress.finish()
    state.mleGenerator.setParametersRequireGradient(false)

    // Phase 2: the class-aware discriminator on real texts against the MLE generator's, class by class.
    while state.completedDiscriminatorEpochs < config.discriminatorEpochs {
        let epoch = state.completedDiscriminatorEpochs + 1
        let started = Date()
        var order = Array(trainTargets.indices)
        state.discriminatorRandom.shuffle(&order)
        var totals = DiscriminatorTotals()
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let indices = Array(order[start..<min(order.count, start + batchSize)])
            let classes = indices.map { data.trainLabels[$0] }
            let fakes = state.mleGenerator.generate(classes: classes, length: architecture.sequenceLength, sampling: sampling,
                                                    endToken: TextGenerationVocabulary.endIndex, random: &state.discriminatorRandom)
            totals.add(discriminatorStep(state, real: indices.map { trainTargets[$0] }, fake: fakes, classes: classes))
        }
        state.completedDiscriminatorEpochs = epoch
        let seconds = Date().timeIntervalSince(started)
        lastMetrics = ["phase": "discriminator", "epoch": .integer(Int64(epoch)), "d_loss": .number(rounded(totals.mean(totals.loss))),
                       "d_accuracy": .number(rounded(totals.mean(totals.accuracy))), "d_real": .number(rounded(totals.mean(totals.real))),
                       "d_fake": .number(rounded(totals.mean(totals.fake))), "seconds": .number(rounded(seconds, digits: 2))]
        try metrics().append(lastMetrics)
        try saveCheckpoint()
        report(String(format: "discriminator epoch %d/%d  loss %.3f  accuracy %.3f  D(real) %.2f  D(fake) %.2f  %.1f s", epoch, config.discriminatorEpochs,
                      totals.mean(totals.loss), totals.mean(totals.accuracy), totals.mean(totals.real), totals.mean(totals.fake), seconds))
    }

    // Phase 3: PPO.
    if let settings = ppoSettings, state.completedPPOIterations < settings.iterations {
        let refinement = try TextPPORefinement(state: state, settings: settings, trainTargets: trainTargets, trainLabels: data.trainLabels)
        while state.completedPPOIterations < settings.iterations {
            let iteration = state.completedPPOIterations + 1
            let started = Date()
            var fields = refinement.iterate()
            state.completedPPOIterations = iteration
            fields["phase"] = "ppo"
            fields["iteration"] = .integer(Int64(iteration))
            fields["seconds"] = .number(rounded(Date().timeIntervalSince(started), digits: 2))
            lastMetrics = fields
            try metrics().append(fields)
            try writeSamples(state.ppoGenerator!, vocabulary: vocabulary, config: config, name: "ppo \(iteration)",
                             to: path("samples-ppo-\(fourDigits(iteration)).txt"))
            try saveCheckpoint()
            report("ppo iteration \(iteration)/\(settings.iterations)  " + ["mean_reward", "mean_d_logit", "mean_classifier_log_prob", "kl", "clip_fraction", "approx_kl", "d_accuracy"]
                .compactMap { key in fields[key].map { "\(key) \($0.number)" } }.joined(separator: "  "))
        }
    }
    if staging != nil { try saveCheckpoint() }

    // The final report: held-out perplexity of the MLE and the PPO generator.
    var summary: [String: JSONValue] = [
        "run": .string(folder), "dataset": .string(config.dataset), "vocabulary_size": .integer(Int64(vocabulary.count)),
        "max_length": .integer(Int64(maximumLength)), "truncated_share": .number(config.truncatedShare),
        "unknown_share": .number(config.unknownShare), "epochs": .integer(Int64(state.completedEpochs)),
        "best_epoch": .integer(Int64(state.bestEpoch)), "val_perplexity": .number(rounded(exp(state.bestValidationNLL), digits: 3)),
        "discriminator_epochs": .integer(Int64(state.completedDiscriminatorEpochs)),
        "ppo_iterations": .integer(Int64(state.completedPPOIterations)),
    ]
    if !data.testTexts.isEmpty {
        let testTargets = data.testTexts.map { vocabulary.targetSequence($0, maximumLength: maximumLength).indices }
        let mle = state.mleGenerator.negativeLogLikelihood(targets: testTargets, classes: data.testLabels, batchSize: 256)
        summary["test_perplexity_mle"] = .number(rounded(exp(mle.nll), digits: 3))
        summary["test_tokens"] = .integer(Int64(mle.tokens))
        var line = String(format: "test perplexity: MLE %.2f", exp(mle.nll))
        if let policy = state.ppoGenerator {
            let ppo = policy.negativeLogLikelihood(targets: testTargets, classes: data.testLabels, batchSize: 256)
            summary["test_perplexity_ppo"] = .number(rounded(exp(ppo.nll), digits: 3))
            line += String(format: ", PPO %.2f", exp(ppo.nll))
        }
        report(line + " (\(mle.tokens) test tokens, end markers included, out-of-vocabulary tokens scored as [UNK])")
    }
    var reportData = try StableJSON.encode(JSONValue.object(summary), pretty: true)
    reportData.append(0x0A)
    try writeAtomically(reportData, to: path(RunNames.report))
    return TextGANTrainingResult(run: folder, epochs: state.completedEpochs, bestEpoch: state.bestEpoch,
                                 discriminatorEpochs: state.completedDiscriminatorEpochs, ppoIterations: state.completedPPOIterations,
                                 truncatedShare: config.truncatedShare, vocabularySize: vocabulary.count, report: summary)
}

/// One teacher-forced MLE step on target sequences (tokens then the end marker): cross-entropy of
/// every real position (padding left out), gradient norm clipped at 5, one Adam update. Returns
/// the mean loss in nats per token and the number of tokens.
func maximumLikelihoodStep(_ generator: TextGenerator, optimizer: Adam, targets: [[Int]], classes: [Int]) -> (loss: Float, tokens: Int) {
    let batch = TokenBatches.teacherForcing(targets)
    guard !batch.labels.isEmpty else { return (0, 0) }
    optimizer.zeroGradients()
    let loss = crossEntropy(logits: generator.targetLogits(batch, classes: classes).logits, labels: batch.labels)
    loss.backward()
    // The GRU's gradients can spike on long texts early on; 5 is loose enough to leave normal steps alone.
    _ = clipGradientNorm(generator.parameters, maximumNorm: 5)
    optimizer.step()
    return (loss.value.scalarValue, batch.labels.count)
}

struct DiscriminatorTotals {
    var steps = 0
    var loss: Double = 0, accuracy: Double = 0, real: Double = 0, fake: Double = 0
    mutating func add(_ step: (loss: Float, accuracy: Float, real: Float, fake: Float)) {
        steps += 1
        loss += Double(step.loss)
        accuracy += Double(step.accuracy)
        real += Double(step.real)
        fake += Double(step.fake)
    }
    func mean(_ value: Double) -> Double { steps > 0 ? value / Double(steps) : 0 }
}

/// One discriminator update: real target sequences against generated ones of the same classes.
/// Returns the loss, the accuracy (real logit > 0, fake < 0) and the mean sigmoid scores.
func discriminatorStep(_ state: TextGANState, real: [[Int]], fake: [[Int]], classes: [Int]) -> (loss: Float, accuracy: Float, real: Float, fake: Float) {
    let length = state.config.architecture.discriminatorLength, count = classes.count
    state.discriminatorOptimizer.zeroGradients()
    let realLogits = state.discriminator(tokens: TokenBatches.padded(real, length: length), classes: classes)
    let fakeLogits = state.discriminator(tokens: TokenBatches.padded(fake, length: length), classes: classes)
    let loss = binaryCrossEntropyWithLogits(logits: realLogits, targets: Tensor(shape: [count, 1], repeating: 1))
        + binaryCrossEntropyWithLogits(logits: fakeLogits, targets: Tensor(zeros: [count, 1]))
    loss.backward()
    state.discriminatorOptimizer.step()
    let realScores = realLogits.value.scalars, fakeScores = fakeLogits.value.scalars
    let correct = realScores.filter { $0 > 0 }.count + fakeScores.filter { $0 < 0 }.count
    func meanSigmoid(_ values: [Float]) -> Float { values.reduce(0) { $0 + 1 / (1 + exp(-$1)) } / Float(max(values.count, 1)) }
    return (loss.value.scalarValue, Float(correct) / Float(2 * count), meanSigmoid(realScores), meanSigmoid(fakeScores))
}

/// The PPO phase of a text run: the policy starts as a copy of the MLE generator, which stays
/// frozen as the KL reference. Final reward of a sequence of class y: D's logit for (text, y) +
/// w · log p_C(y | text) with the reward classifier (when given). D is frozen within an
/// iteration and, by default, refreshed after it on the rollouts against real texts of the same classes.
final class TextPPORefinement {
    let state: TextGANState
    let settings: TextPPOSettings
    let classifier: (any TrainableClassifier)?
    let optimizer: TextPolicyOptimizer
    let trainTargets: [[Int]]
    let trainIndicesByClass: [[Int]]

    init(state: TextGANState, settings: TextPPOSettings, trainTargets: [[Int]], trainLabels: [Int]) throws {
        self.state = state
        self.settings = settings
        self.trainTargets = trainTargets
        var byClass = [[Int]](repeating: [], count: state.config.architecture.classCount)
        for (index, label) in trainLabels.enumerated() { byClass[label].append(index) }
        trainIndicesByClass = byClass
        classifier = try settings.classifier.map { try loadTextRewardClassifier($0, config: state.config) }
        state.startPPO(learningRate: settings.hyperparameters.learningRate)
        state.mleGenerator.setParametersRequireGradient(false)
        optimizer = TextPolicyOptimizer(policy: state.ppoGenerator!, valueHead: state.valueHead!, reference: state.mleGenerator,
                                        optimizer: state.ppoOptimizer!, hyperparameters: settings.hyperparameters,
                                        forbidden: state.vocabulary.forbiddenWhenSampling, endToken: TextGenerationVocabulary.endIndex)
    }

    /// D logit and classifier log-probability per sequence, and their weighted sum.
    func rewards(sequences: [[Int]], classes: [Int]) -> (total: [Float], discriminator: [Float], classifier: [Float]) {
        let discriminator = state.discriminator.scores(tokens: TokenBatches.padded(sequences, length: state.config.architecture.discriminatorLength),
                                                       classes: classes)
        guard let classifier else { return (discriminator, discriminator, []) }
        let logProbabilities = classifierLogProbabilities(classifier, texts: sequences.map { state.vocabulary.decode($0) }, labels: classes)
        return (zip(discriminator, logProbabilities).map { $0 + settings.rewardClassifierWeight * $1 }, discriminator, logProbabilities)
    }

    func iterate() -> [String: JSONValue] {
        let classCount = state.config.architecture.classCount, rollouts = settings.hyperparameters.rollouts
        let firstClass = state.ppoRandom.nextIndex(below: classCount)
        let classes = (0..<rollouts).map { (firstClass + $0) % classCount }
        let collected = optimizer.collect(classes: classes, length: state.config.architecture.sequenceLength, random: &state.ppoRandom)
        let (total, discriminator, classifierTerms) = rewards(sequences: collected.sequences, classes: classes)
        let statistics = optimizer.update(collected, finalRewards: total, random: &state.ppoRandom)
        var fields: [String: JSONValue] = [
            "mean_reward": .number(rounded(Double(statistics.meanFinalReward))), "kl": .number(rounded(Double(statistics.kl))),
            "clip_fraction": .number(rounded(Double(statistics.update.clipFraction))),
            "approx_kl": .number(rounded(Double(statistics.update.approximateKL))),
            "surrogate_loss": .number(rounded(Double(statistics.update.surrogateLoss))),
            "value_loss": .number(rounded(Double(statistics.valueLoss))), "entropy": .number(rounded(Double(statistics.entropy))),
            "mean_length": .number(rounded(Double(statistics.meanLength), digits: 2)), "rollouts": .integer(Int64(rollouts)),
            "mean_d_logit": .number(rounded(Double(discriminator.reduce(0, +)) / Double(rollouts))),
        ]
        if !classifierTerms.isEmpty {
            fields["mean_classifier_log_prob"] = .number(rounded(Double(classifierTerms.reduce(0, +)) / Double(rollouts)))
        }
        if settings.refreshDiscriminator {
            // The rollouts as fakes against real texts of the same classes, in the run's batch size.
            var totals = DiscriminatorTotals()
            let batchSize = max(2, state.config.batchSize)
            for start in stride(from: 0, to: collected.count, by: batchSize) {
                let rows = Array(start..<min(collected.count, start + batchSize))
                let rowClasses = rows.map { classes[$0] }
                let real = rowClasses.map { label -> [Int] in
                    let pool = trainIndicesByClass[label]
                    return pool.isEmpty ? [] : trainTargets[pool[state.ppoRandom.nextIndex(below: pool.count)]]
                }
                totals.add(discriminatorStep(state, real: real, fake: rows.map { collected.sequences[$0] }, classes: rowClasses))
            }
            fields["d_accuracy"] = .number(rounded(totals.mean(totals.accuracy)))
            fields["d_loss"] = .number(rounded(totals.mean(totals.loss)))
        }
        return fields
    }
}

/// samples-….txt: three generations per class (fixed seed, temperature 1), `class<TAB>text` a line.
func writeSamples(_ generator: TextGenerator, vocabulary: TextGenerationVocabulary, config: TextGANRunConfig, name: String, to path: String) throws {
    var random = SeededRandom(seed: config.seed).derived("samples")
    let classes = (0..<config.architecture.classCount).flatMap { [$0, $0, $0] }
    let sequences = generator.generate(classes: classes, length: config.architecture.sequenceLength,
                                       sampling: TokenSampling(forbidden: vocabulary.forbiddenWhenSampling),
                                       endToken: TextGenerationVocabulary.endIndex, random: &random)
    var text = "# \(name): 3 samples per class, temperature 1\n"
    for (label, sequence) in zip(classes, sequences) { text += config.classNames[label] + "\t" + vocabulary.decode(sequence) + "\n" }
    try writeAtomically(Data(text.utf8), to: path)
}

extension MetricsLog {
    /// On resume of a text run: drops lines of epochs and iterations the checkpoint does not hold.
    func truncate(toTextEpochs epochs: Int, discriminatorEpochs: Int, ppoIterations: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        var kept = Data()
        for line in data.split(separator: 0x0A) where !line.isEmpty {
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(line)) else { continue }
            if case .integer(let epoch) = value["epoch"] ?? .null, value["phase"] == "mle", epoch > epochs { continue }
            if case .integer(let epoch) = value["epoch"] ?? .null, value["phase"] == "discriminator", epoch > discriminatorEpochs { continue }
            if case .integer(let iteration) = value["iteration"] ?? .null, value["phase"] == "ppo", iteration > ppoIterations { continue }
            kept.append(contentsOf: line)
            kept.append(0x0A)
        }
        try writeAtomically(kept, to: path)
    }
}

private func validate(_ options: TextGANTrainingOptions) throws {
    if options.force && options.resume {
        throw ReptileError("--force and --resume contradict each other", fix: "give --resume to continue the run, --force to replace it")
    }
    if let value = options.epochs, value < 0 { throw ReptileError("--epochs must not be negative", fix: "use e.g. 30") }
    if let value = options.patience, value < 1 { throw ReptileError("--patience must be at least 1", fix: "use e.g. 3") }
    if let value = options.batchSize, value < 1 { throw ReptileError("--batch-size must be at least 1", fix: "use e.g. 64") }
    if let value = options.learningRate, !(value > 0) { throw ReptileError("--learning-rate must be positive", fix: "use e.g. 0.001") }
    if let value = options.vocabularySize, value < 5 { throw ReptileError("--vocab-size must be at least 5", fix: "use e.g. 5000") }
    if let value = options.maximumLength, value < 1 { throw ReptileError("--max-length must be at least 1", fix: "use e.g. 32") }
    if let value = options.discriminatorEpochs, value < 0 { throw ReptileError("--discriminator-epochs must not be negative", fix: "use e.g. 3") }
    if let value = options.validationFraction, !(value > 0 && value < 1) { throw ReptileError("--val-fraction must be in (0, 1)", fix: "use e.g. 0.1") }
    if let value = options.threads, value < 1 { throw ReptileError("--threads must be at least 1", fix: "use e.g. 2") }
}
