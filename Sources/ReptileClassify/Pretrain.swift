import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileText

/// Settings of a text classifier built from scratch (its vocabulary comes from the training texts).
public struct TextModelOptions: Codable, Equatable, Sendable {
    public var vocabularySize = 20_000
    public var maximumLength = 64
    /// Words seen fewer times than this in the training texts become [UNK].
    public var minimumWordCount = 1
    public init() {}
}

/// Per-kind defaults; a flag given on the command line wins.
public struct TrainingDefaults {
    public static func settings(for kind: DatasetKind, finetuning: Bool, epochs: Int?, batchSize: Int?, learningRate: Float?,
                                patience: Int?, seed: UInt64, augment: Bool) -> TrainingSettings {
        let defaultEpochs = finetuning ? 5 : (kind == .image ? 15 : 20)
        let defaultRate: Float = finetuning ? 3e-4 : 1e-3
        return TrainingSettings(epochs: epochs ?? defaultEpochs, batchSize: batchSize ?? 64, learningRate: learningRate ?? defaultRate,
                                patience: patience ?? 3, seed: seed, augmentShift: augment ? 2 : 0,
                                minimumSteps: epochs == nil && !finetuning ? minimumSteps : nil)
    }

    /// A fresh native classifier trains at least this many steps unless `--epochs` is given…
    public static let minimumSteps = 200
    /// …by running at most this many epochs.
    public static let maximumEpochsForMinimumSteps = 200

    /// The share of the training records held out for early stopping when the dataset has no val
    /// split: `--val-fraction` when given, else 0.1, unless that slice would hold fewer than
    /// `minimumValidationRecords` records. Then none is held out and training keeps its last
    /// weights: accuracy on so few records cannot tell epochs apart, and every record is needed
    /// (README, pretrain: MNIST with 10 images a class 29.60 ± 34.38 % with a slice of 10 images,
    /// 73.50 ± 2.28 % without; SMS with 100 texts a class 94.19 ± 3.53 % against 94.54 ± 2.17 %).
    public static func validationFraction(requested: Double?, trainingRecords: Int) -> Double {
        if let requested { return requested }
        return Double(trainingRecords) * defaultValidationFraction >= Double(minimumValidationRecords) ? defaultValidationFraction : 0
    }

    public static let defaultValidationFraction = 0.1
    public static let minimumValidationRecords = 200

    /// A classifier on a pretrained encoder (minilm), as BERT is fine-tuned: batch 32, AdamW at
    /// 2e-5 for the encoder with weight decay 0.01, 10 % linear warm-up then linear decay, 3 epochs
    /// (2 when continuing), more on small training sets (at least 200 steps, at most 20 epochs)
    /// unless `--epochs` is given. A fresh head learns at 1e-3 (continuing: at the encoder's rate).
    public static func encoderSettings(freshHead: Bool, epochs: Int?, batchSize: Int?, learningRate: Float?, headLearningRate: Float?,
                                       patience: Int?, seed: UInt64, freezeEncoder: Bool, encoderFolder: String?) -> TrainingSettings {
        let rate = learningRate ?? 2e-5
        var recipe = EncoderFineTuning(headLearningRate: headLearningRate ?? (freshHead ? 1e-3 : rate),
                                       freezeEncoder: freezeEncoder, encoderFolder: encoderFolder)
        recipe.minimumSteps = epochs == nil ? EncoderFineTuning.defaultMinimumSteps : nil
        return TrainingSettings(epochs: epochs ?? (freshHead ? 3 : 2), batchSize: batchSize ?? 32, learningRate: rate,
                                patience: patience ?? 2, seed: seed, encoder: recipe)
    }
}

/// The training settings `pretrain` and `finetune` share; nil picks the default for the data's
/// kind and the stage (see `TrainingSettings`).
public struct ClassifierTrainingOptions {
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Float?
    public var patience: Int?
    public var seed: UInt64 = 0
    public var threads: Int
    public var augment = false
    public var text = TextModelOptions()
    /// Texts: a Hugging Face encoder folder; the classifier is then minilm (encoder + mean pooling +
    /// head). For finetune, with `scratch` or without a classifier: a fresh head on this encoder.
    public var encoder: String?
    public var freezeEncoder = false
    public var headLearningRate: Float?
    /// Share of the training data held out (seeded) for early stopping when there is no `val`
    /// split (0: no early stopping; nil: `TrainingDefaults.validationFraction`).
    public var validationFraction: Double?
    public var force = false
    /// Continue the unfinished run of this output (`ResumeFolder`) after its last saved epoch.
    public var resume = false
    public var showProgress = true
    public var command = ""

    public init(threads: Int) {
        self.threads = threads
    }
}

public struct PretrainOptions {
    public var dataset: String
    public var output: String
    public var training: ClassifierTrainingOptions

    public init(dataset: String, output: String, training: ClassifierTrainingOptions) {
        self.dataset = dataset
        self.output = output
        self.training = training
    }
}

/// The classifier a run wrote.
public struct ClassifierSummary: Codable, Equatable, Sendable {
    public var file: String
    public var kind: String
    public var architecture: String
    public var classNames: [String]
    public var imageShape: ImageShape?
    public var vocabularySize: Int?
    public var parameters: Int
}

/// Wall-clock facts, kept apart so that two runs with the same seed compare equal without them.
public struct RunTiming: Codable, Equatable, Sendable {
    public var created: String
    public var trainingSeconds: Double
    public var evaluationSeconds: Double
    public var totalSeconds: Double
    /// Training records (images or texts) per second, over all epochs.
    public var recordsPerSecond: Double
}

/// `report.json` of `reptile pretrain`.
public struct PretrainReport: Codable, Equatable, Sendable {
    public var command: String
    public var toolVersion: String
    public var classifier: ClassifierSummary
    public var data: [String: UsedData]
    public var settings: TrainingSettings
    public var threads: Int
    public var text: TextModelOptions?
    public var training: TrainingOutcome
    /// On the test split (the held-out real data); nil when the dataset has none.
    public var test: ClassificationMetrics?
    public var timing: RunTiming
}

/// Names of the files a classifier run writes.
public enum ClassifierRunFiles {
    public static let checkpoint = "classifier.h5"
    public static let report = "report.json"
    public static let metrics = "metrics.jsonl"
}

/// `reptile pretrain`: the default classifier for the dataset's kind, trained on its train split,
/// early-stopped on `val` (or a seeded slice of train), written with a report on the test split.
public func pretrainClassifier(_ options: PretrainOptions) throws -> PretrainReport {
    let started = Date()
    let train = try ShardSource(options.dataset + ":train", defaultSplit: "train")
    let info = train.folder.info
    if let encoder = options.training.encoder, info.kind != .text {
        throw ReptileError(path: train.firstShardPath, "holds \(info.kind.rawValue)s, but --encoder \(encoder) is a text encoder",
                           fix: "drop --encoder for image data, or give a text dataset")
    }
    guard options.training.encoder != nil || !options.training.freezeEncoder && options.training.headLearningRate == nil else {
        throw ReptileError("--freeze-encoder and --head-learning-rate apply to a pretrained encoder", fix: "give --encoder PATH, or drop them")
    }
    var settings = options.training.encoder == nil
        ? TrainingDefaults.settings(for: info.kind, finetuning: false, epochs: options.training.epochs, batchSize: options.training.batchSize,
                                    learningRate: options.training.learningRate, patience: options.training.patience, seed: options.training.seed,
                                    augment: options.training.augment)
        : TrainingDefaults.encoderSettings(freshHead: true, epochs: options.training.epochs, batchSize: options.training.batchSize,
                                           learningRate: options.training.learningRate, headLearningRate: options.training.headLearningRate,
                                           patience: options.training.patience, seed: options.training.seed, freezeEncoder: options.training.freezeEncoder,
                                           encoderFolder: options.training.encoder)
    try settings.validate()
    guard !options.training.augment || info.kind == .image else {
        throw ReptileError(path: options.dataset, "--augment shifts images, but this is a text dataset", fix: "drop --augment")
    }
    let validationFraction = TrainingDefaults.validationFraction(requested: options.training.validationFraction, trainingRecords: train.count)
    guard validationFraction >= 0 && validationFraction < 1 else {
        throw ReptileError("--val-fraction must be in [0, 1), got \(validationFraction)", fix: "give e.g. --val-fraction 0.1")
    }
    BLAS.setThreadCount(options.training.threads)

    // Validation: the val split, or a seeded slice of train that training then never sees, or none.
    let hasValidationSplit = info.splits["val"].map { $0.count > 0 } ?? false
    let holdout = hasValidationSplit || validationFraction == 0 ? nil
        : HoldoutSlice(count: train.count, fraction: validationFraction, seed: options.training.seed)
    let trainKeep: ((Int) -> Bool)? = holdout.map { slice in { !slice.isHeldOut($0) } }
    let validationSource = hasValidationSplit ? try ShardSource(options.dataset + ":val", defaultSplit: "val") : train
    let validationKeep: ((Int) -> Bool)? = holdout.map { slice in { slice.isHeldOut($0) } }

    let model: any TrainableClassifier
    if let encoder = options.training.encoder {
        model = try MiniLMClassifier(encoderFolder: encoder, classNames: info.classNames, maximumLength: options.training.text.maximumLength,
                                     seed: derivedSeed(options.training.seed, "weights"))
    } else {
        let config = try freshConfig(kind: info.kind, architecture: ClassifierArchitectures.defaultArchitecture(for: info.kind),
                                     classNames: info.classNames, imageShape: info.imageShape, trainingTexts: train, keep: trainKeep,
                                     text: options.training.text)
        model = try ClassifierArchitectures.make(config, seed: derivedSeed(options.training.seed, "weights"))
    }
    let config = model.config
    let identity = Array(0..<info.classNames.count)
    let resumeFolder = try ResumeFolder(output: options.output, resume: options.training.resume, force: options.training.force)
    let staging = try StagingFolder(destination: options.output, force: options.training.force)

    let batches = try MixedBatches([BatchSourceSpec(source: train, labelMap: identity, keep: trainKeep)], shareOfSecond: nil,
                                   batchSize: settings.batchSize, seed: options.training.seed)
    settings = settings.withMinimumSteps(stepsPerEpoch: batches.stepsPerEpoch)
    let fingerprint = try ResumeFingerprint(stage: "pretrain", data: [try train.folder.contentSHA256()], settings: settings,
                                            validationFraction: validationFraction,
                                            text: info.kind == .text ? options.training.text : nil).json()
    let trainingStart = Date()
    let validates = hasValidationSplit || holdout != nil
    let outcome = try trainClassifier(model, batches: batches,
                                      validation: validates ? ValidationData(source: validationSource, labelMap: identity, keep: validationKeep) : nil,
                                      settings: settings, metricsPath: staging.path(ClassifierRunFiles.metrics),
                                      progressLabel: "pretrain", showProgress: options.training.showProgress,
                                      checkpoint: EpochCheckpoint(path: resumeFolder.file("state.h5"), fingerprint: fingerprint))
    let trainingSeconds = Date().timeIntervalSince(trainingStart)
    try model.save(to: staging.path(ClassifierRunFiles.checkpoint))

    let evaluationStart = Date()
    var test: ClassificationMetrics? = nil
    var data: [String: UsedData] = [:]
    let trainRecords = batches.recordsPerEpoch
    data["train"] = try train.usedData(records: trainRecords,
                                       note: holdout.map { "all but the \($0.heldOut.count) records held out for validation (seeded)" }
                                           ?? (validates ? nil : noValidationNote(requested: options.training.validationFraction, trainingRecords: train.count)))
    if validates {
        data["validation"] = try validationSource.usedData(records: holdout?.heldOut.count,
                                                           note: holdout.map { _ in "\(validationFraction) of train, held out with seed \(options.training.seed)" })
    }
    if info.splits["test"] != nil {
        let testSource = try ShardSource(options.dataset + ":test", defaultSplit: "test")
        let predictions = try predict(model, source: testSource, labelMap: identity)
        test = ClassificationMetrics(labels: predictions.labels, predictions: predictions.predicted, classNames: config.classNames)
        data["test"] = try testSource.usedData()
    }
    let evaluationSeconds = Date().timeIntervalSince(evaluationStart)

    let report = PretrainReport(
        command: options.training.command, toolVersion: ReptileVersion.current,
        classifier: summary(of: model, file: ClassifierRunFiles.checkpoint), data: data, settings: settings,
        threads: options.training.threads, text: info.kind == .text ? options.training.text : nil, training: outcome, test: test,
        timing: RunTiming(created: creationTimestamp(), trainingSeconds: trainingSeconds, evaluationSeconds: evaluationSeconds,
                          totalSeconds: Date().timeIntervalSince(started),
                          recordsPerSecond: trainingSeconds > 0 ? Double(trainRecords * outcome.epochsRun) / trainingSeconds : 0))
    try writeJSON(report, to: staging.path(ClassifierRunFiles.report))
    try staging.commit()
    resumeFolder.remove()
    return report
}

/// Why a run had no validation data, for its report.
func noValidationNote(requested: Double?, trainingRecords: Int) -> String {
    if requested != nil { return "all of them: --val-fraction 0, no early stopping (the last epoch's weights)" }
    let slice = HoldoutSlice.size(count: trainingRecords, fraction: TrainingDefaults.defaultValidationFraction)
    return "all of them: a tenth would be \(slice) records, under \(TrainingDefaults.minimumValidationRecords), too few to stop early on, "
        + "so none is held out (the last epoch's weights; give --val-fraction to hold one out)"
}

/// A config for a new classifier of `architecture` on this data: the image shape, or a word
/// vocabulary from the training texts (records `keep` accepts).
func freshConfig(kind: DatasetKind, architecture: String, classNames: [String], imageShape: ImageShape?,
                 trainingTexts source: ShardSource, keep: ((Int) -> Bool)?, text: TextModelOptions) throws -> ClassifierConfig {
    guard architecture != MiniLMClassifier.architecture else {
        throw ReptileError("a minilm classifier starts from a pretrained text encoder",
                           fix: "give --encoder PATH (a Hugging Face folder such as all-MiniLM-L6-v2)")
    }
    guard ClassifierArchitectures.known(for: kind).contains(architecture) else {
        throw ReptileError("no \(kind.rawValue) classifier architecture \(quoted(architecture))",
                           fix: "use --architecture \(ClassifierArchitectures.known(for: kind).joined(separator: " or "))")
    }
    switch kind {
    case .image:
        let shape = imageShape!
        guard shape.height >= 4, shape.width >= 4 else {
            throw ReptileError(path: source.folder.path, "images of \(shape) are too small for the CNN (two 2×2 poolings)",
                               fix: "ingest with --resize to at least 4x4")
        }
        return ClassifierConfig(kind: "image", architecture: architecture, classNames: classNames,
                                imageHeight: shape.height, imageWidth: shape.width, imageChannels: shape.channels)
    case .text:
        guard text.vocabularySize >= 3 else {
            throw ReptileError("--vocab-size must be at least 3, got \(text.vocabularySize)", fix: "give e.g. --vocab-size 20000")
        }
        guard text.maximumLength >= 1 else {
            throw ReptileError("--max-length must be at least 1, got \(text.maximumLength)", fix: "give e.g. --max-length 64")
        }
        var texts: [String] = []
        var position = 0
        for shard in try source.folder.shards(of: source.split) {
            for chunk in stride(from: 0, to: shard.count, by: 4096) {
                for value in try shard.texts(chunk..<min(shard.count, chunk + 4096)) {
                    if keep?(position) ?? true { texts.append(value) }
                    position += 1
                }
            }
        }
        var settings = TextCNNClassifier.Settings(
            vocabulary: WordVocabulary.build(from: texts, maximumSize: text.vocabularySize, minimumCount: text.minimumWordCount))
        settings.maximumLength = text.maximumLength
        return ClassifierConfig(kind: "text", architecture: architecture, classNames: classNames, settings: try settings.encoded())
    }
}

func summary(of model: any TrainableClassifier, file: String) -> ClassifierSummary {
    let config = model.config
    return ClassifierSummary(
        file: file, kind: config.kind, architecture: config.architecture, classNames: config.classNames,
        imageShape: config.kind == "image" ? ImageShape(height: config.imageHeight!, width: config.imageWidth!, channels: config.imageChannels!) : nil,
        vocabularySize: (model as? TextCNNClassifier)?.settings.vocabulary.count ?? (model as? MiniLMClassifier)?.tokenizer.vocabularySize,
        parameters: model.parameterCount)
}

func writeJSON<Value: Encodable>(_ value: Value, to path: String) throws {
    var data = try StableJSON.encode(value)
    data.append(0x0A)
    do {
        try data.write(to: URL(fileURLWithPath: path))
    } catch {
        throw ReptileError(path: path, "cannot write (\(error.localizedDescription))", fix: "check free disk space and permissions")
    }
}
