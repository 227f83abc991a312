import Foundation
import ReptileCore
import ReptileEmbedding
import ReptileEngine
import ReptileFormats

public struct FinetuneOptions {
    /// A checkpoint to continue from; nil (or `scratch`) trains a fresh `architecture`.
    public var classifier: String?
    public var scratch = false
    public var architecture: String?
    /// One or two `FOLDER[:SPLIT]` sources; with two, `mix` is the second one's share of each batch.
    public var train: [String]
    public var mix: Double?
    public var evaluation: String
    public var output: String
    public var repeats = 1
    public var training: ClassifierTrainingOptions

    public init(train: [String], evaluation: String, output: String, training: ClassifierTrainingOptions) {
        self.train = train
        self.evaluation = evaluation
        self.output = output
        self.training = training
    }
}

/// One seed's result.
public struct FinetuneRun: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var accuracy: Double
    public var macroF1: Double
    public var training: TrainingOutcome
}

/// The starting point of a fine-tuning run.
public struct StartingClassifier: Codable, Equatable, Sendable {
    /// The checkpoint continued from, or nil when trained from scratch.
    public var checkpoint: String?
    public var sha256: String?
    public var scratch: Bool
}

/// Mean ± std over the repeats.
public struct RepeatSummary: Codable, Equatable, Sendable {
    public var repeats: Int
    public var seeds: [UInt64]
    public var accuracy: MeanAndDeviation
    public var macroF1: MeanAndDeviation
    /// e.g. "98.61 ± 0.12 %"
    public var accuracyText: String
}

/// `report.json` of `reptile finetune`.
public struct FinetuneReport: Codable, Equatable, Sendable {
    public var command: String
    public var toolVersion: String
    public var start: StartingClassifier
    public var classifier: ClassifierSummary
    public var data: FinetuneData
    public var settings: TrainingSettings
    public var threads: Int
    /// On the real evaluation split before training (nil from scratch).
    public var before: ClassificationMetrics?
    /// After training with the first seed (the checkpoint written).
    public var after: ClassificationMetrics
    public var runs: [FinetuneRun]
    public var summary: RepeatSummary
    public var timing: RunTiming

    public struct FinetuneData: Codable, Equatable, Sendable {
        public var train: [UsedData]
        /// Share of every training batch drawn from the second source (nil with one source).
        public var mix: Double?
        public var validation: UsedData?
        public var evaluation: UsedData
    }
}

/// `reptile finetune`: continues a pretrained classifier (or trains a fresh one) on any shards,
/// evaluating on a real split before and after; `repeats` seeds give mean ± std.
public func finetuneClassifier(_ options: FinetuneOptions) throws -> FinetuneReport {
    let started = Date()
    guard (1...2).contains(options.train.count) else {
        throw ReptileError("give one or two --train sources, got \(options.train.count)", fix: "e.g. --train datasets/NAME --train outputs/RUN/synthetic")
    }
    if let mix = options.mix {
        guard options.train.count == 2 else {
            throw ReptileError("--mix needs two --train sources (the share drawn from the second)", fix: "add a second --train or drop --mix")
        }
        guard mix >= 0 && mix <= 1 else { throw ReptileError("--mix must be between 0 and 1, got \(mix)", fix: "give e.g. --mix 0.5") }
    }
    guard options.repeats >= 1 else { throw ReptileError("--repeats must be at least 1, got \(options.repeats)", fix: "give --repeats 1 or more") }
    let fromScratch = options.scratch || options.classifier == nil
    let trainSources = try options.train.map { try ShardSource($0, defaultSplit: "train") }
    let validationFraction = TrainingDefaults.validationFraction(requested: options.training.validationFraction, trainingRecords: trainSources[0].count)
    guard validationFraction >= 0 && validationFraction < 1 else {
        throw ReptileError("--val-fraction must be in [0, 1), got \(validationFraction)", fix: "give e.g. --val-fraction 0.1")
    }
    let evaluation = try ShardSource(options.evaluation, defaultSplit: "test")

    if let encoder = options.training.encoder {
        guard options.classifier == nil || options.scratch else {
            throw ReptileError("--encoder starts a fresh classifier, but --classifier continues one",
                               fix: "add --scratch for the encoder with a fresh head, or drop --encoder")
        }
        if let architecture = options.architecture, architecture != MiniLMClassifier.architecture {
            throw ReptileError("--encoder makes a \(MiniLMClassifier.architecture) classifier, not \(architecture)", fix: "drop --architecture")
        }
        guard trainSources[0].kind == .text else {
            throw ReptileError(path: trainSources[0].firstShardPath, "holds \(trainSources[0].kind.rawValue)s, but --encoder \(encoder) is a text encoder",
                               fix: "drop --encoder for image data, or give text shards")
        }
    }
    // A fresh minilm classifier over the encoder (its classes from the checkpoint when one is given).
    func freshMiniLM(seed: UInt64, classNames: [String], maximumLength: Int) throws -> MiniLMClassifier {
        try MiniLMClassifier(encoderFolder: options.training.encoder!, classNames: classNames, maximumLength: maximumLength,
                             seed: derivedSeed(seed, "weights"))
    }

    // The classifier's config: from the checkpoint, or built for the first training source.
    let startingConfig: ClassifierConfig
    if options.training.encoder != nil {
        let checkpointConfig = try options.classifier.map { try ClassifierConfig.read(checkpoint: $0) }
        let maximumLength = checkpointConfig.flatMap { Int($0.settings[TextClassifierCheckpoint.SettingKey.maximumLength] ?? "") }
            ?? options.training.text.maximumLength
        startingConfig = try freshMiniLM(seed: options.training.seed, classNames: checkpointConfig?.classNames ?? trainSources[0].classNames,
                                         maximumLength: maximumLength).config
    } else if let checkpoint = options.classifier {
        startingConfig = try ClassifierConfig.read(checkpoint: checkpoint)
        if let architecture = options.architecture, architecture != startingConfig.architecture, !options.scratch {
            throw ReptileError(path: checkpoint, "is a \(startingConfig.architecture) classifier, not \(architecture)",
                               fix: "drop --architecture, or add --scratch to train a fresh one")
        }
    } else {
        let first = trainSources[0]
        startingConfig = try freshConfig(kind: first.kind, architecture: options.architecture ?? ClassifierArchitectures.defaultArchitecture(for: first.kind),
                                         classNames: first.classNames, imageShape: first.folder.info.imageShape,
                                         trainingTexts: first, keep: nil, text: options.training.text)
    }
    // Every source must fit the classifier: kind, image size and class set (named by file).
    let trainMaps = try trainSources.map { try $0.labelMap(for: startingConfig, checkpoint: options.classifier) }
    let evaluationMap = try evaluation.labelMap(for: startingConfig, checkpoint: options.classifier)
    guard !(options.training.augment && startingConfig.kind != "image") else {
        throw ReptileError("--augment shifts images, but the data is text", fix: "drop --augment")
    }
    let kind = DatasetKind(rawValue: startingConfig.kind)!
    let onEncoder = startingConfig.architecture == MiniLMClassifier.architecture
    if onEncoder, options.scratch, options.training.encoder == nil, let checkpoint = options.classifier {
        throw ReptileError(path: checkpoint, "is a minilm classifier: starting it over needs the pretrained encoder",
                           fix: "give --encoder PATH (a Hugging Face folder such as all-MiniLM-L6-v2), or drop --scratch to continue it")
    }
    guard onEncoder || !options.training.freezeEncoder && options.training.headLearningRate == nil else {
        throw ReptileError("--freeze-encoder and --head-learning-rate apply to a pretrained encoder", fix: "give --encoder PATH, or drop them")
    }
    let settings = onEncoder
        ? TrainingDefaults.encoderSettings(freshHead: fromScratch, epochs: options.training.epochs, batchSize: options.training.batchSize,
                                           learningRate: options.training.learningRate, headLearningRate: options.training.headLearningRate,
                                           patience: options.training.patience, seed: options.training.seed, freezeEncoder: options.training.freezeEncoder,
                                           encoderFolder: options.training.encoder)
        : TrainingDefaults.settings(for: kind, finetuning: !fromScratch, epochs: options.training.epochs, batchSize: options.training.batchSize,
                                   learningRate: options.training.learningRate, patience: options.training.patience, seed: options.training.seed,
                                   augment: options.training.augment)
    try settings.validate()
    BLAS.setThreadCount(options.training.threads)
    let resumeFolder = try ResumeFolder(output: options.output, resume: options.training.resume, force: options.training.force)
    let staging = try StagingFolder(destination: options.output, force: options.training.force)
    let startSHA256 = try options.classifier.map { try SHA256.hex(ofFileAt: $0) }
    let fingerprint = try ResumeFingerprint(
        stage: "finetune", data: try (trainSources + [evaluation]).map { try $0.folder.contentSHA256() }, settings: settings,
        validationFraction: validationFraction, text: kind == .text ? options.training.text : nil,
        start: startSHA256, scratch: fromScratch, mix: options.mix,
        repeats: options.repeats).json()

    func startingModel(seed: UInt64) throws -> any TrainableClassifier {
        if let checkpoint = options.classifier, !options.scratch {
            return try ClassifierArchitectures.load(from: checkpoint)
        }
        if options.training.encoder != nil {
            return try freshMiniLM(seed: seed, classNames: startingConfig.classNames,
                                   maximumLength: Int(startingConfig.settings[TextClassifierCheckpoint.SettingKey.maximumLength]!)!)
        }
        // From scratch with a checkpoint given: its architecture and vocabulary, fresh weights.
        return try ClassifierArchitectures.make(startingConfig, seed: derivedSeed(seed, "weights"))
    }

    var before: ClassificationMetrics? = nil
    let evaluationStart = Date()
    if !fromScratch {
        let model = try startingModel(seed: options.training.seed)
        let predictions = try predict(model, source: evaluation, labelMap: evaluationMap)
        before = ClassificationMetrics(labels: predictions.labels, predictions: predictions.predicted, classNames: startingConfig.classNames)
    }
    var evaluationSeconds = Date().timeIntervalSince(evaluationStart)

    var runs: [FinetuneRun] = []
    var reportedSettings = settings
    var after: ClassificationMetrics? = nil
    var trainingSeconds: Double = 0, trainedRecords = 0
    var kept: (any TrainableClassifier)? = nil
    var validationData: UsedData? = nil
    for repeatIndex in 0..<options.repeats {
        let seed = options.training.seed &+ UInt64(repeatIndex)
        var runSettings = settings
        runSettings.seed = seed
        // Early stopping on a seeded slice of the first source, never on the evaluation split.
        let holdout = validationFraction > 0 ? HoldoutSlice(count: trainSources[0].count, fraction: validationFraction, seed: seed) : nil
        let specs = trainSources.enumerated().map { index, source in
            BatchSourceSpec(source: source, labelMap: trainMaps[index], keep: index == 0 ? holdout.map { slice in { !slice.isHeldOut($0) } } : nil)
        }
        let batches = try MixedBatches(specs, shareOfSecond: options.train.count == 2 ? options.mix : nil,
                                       batchSize: runSettings.batchSize, seed: seed)
        runSettings = runSettings.withMinimumSteps(stepsPerEpoch: batches.stepsPerEpoch)
        if repeatIndex == 0 { reportedSettings = runSettings }
        let validation = holdout.map { slice in
            ValidationData(source: trainSources[0], labelMap: trainMaps[0], keep: { slice.isHeldOut($0) })
        }
        if repeatIndex == 0, let holdout {
            validationData = try trainSources[0].usedData(records: holdout.heldOut.count,
                                                          note: "\(validationFraction) of the first --train source, held out with seed \(seed)")
        }
        // A repeat an interrupted run finished is read back, not trained again.
        let finishedPath = resumeFolder.file("repeat-\(repeatIndex).json")
        if let finished = try? StableJSON.decode(FinishedRepeat.self, from: Data(contentsOf: URL(fileURLWithPath: finishedPath))) {
            runs.append(finished.run)
            trainedRecords += finished.trainedRecords
            if repeatIndex == 0 {
                after = finished.metrics
                kept = try ClassifierArchitectures.load(from: resumeFolder.file("repeat-0.h5"))
                try FileManager.default.copyItem(atPath: resumeFolder.file("repeat-0-metrics.jsonl"), toPath: staging.path(ClassifierRunFiles.metrics))
            }
            continue
        }
        let model = try startingModel(seed: seed)
        let trainingStart = Date()
        let outcome = try trainClassifier(model, batches: batches, validation: validation, settings: runSettings,
                                          metricsPath: repeatIndex == 0 ? staging.path(ClassifierRunFiles.metrics) : nil,
                                          progressLabel: "finetune", showProgress: options.training.showProgress,
                                          checkpoint: EpochCheckpoint(path: resumeFolder.file("state-\(repeatIndex).h5"), fingerprint: fingerprint))
        trainingSeconds += Date().timeIntervalSince(trainingStart)
        trainedRecords += batches.recordsPerEpoch * outcome.epochsRun
        let evaluationStart = Date()
        let predictions = try predict(model, source: evaluation, labelMap: evaluationMap)
        evaluationSeconds += Date().timeIntervalSince(evaluationStart)
        let metrics = ClassificationMetrics(labels: predictions.labels, predictions: predictions.predicted, classNames: startingConfig.classNames)
        let run = FinetuneRun(seed: seed, accuracy: metrics.accuracy, macroF1: metrics.macroF1, training: outcome)
        runs.append(run)
        if repeatIndex == 0 {
            after = metrics
            kept = model
            try model.save(to: resumeFolder.file("repeat-0.h5"))
            try? FileManager.default.removeItem(atPath: resumeFolder.file("repeat-0-metrics.jsonl"))
            try FileManager.default.copyItem(atPath: staging.path(ClassifierRunFiles.metrics), toPath: resumeFolder.file("repeat-0-metrics.jsonl"))
        }
        try writeJSON(FinishedRepeat(run: run, metrics: metrics, trainedRecords: batches.recordsPerEpoch * outcome.epochsRun), to: finishedPath)
        try? FileManager.default.removeItem(atPath: resumeFolder.file("state-\(repeatIndex).h5"))
    }
    try kept!.save(to: staging.path(ClassifierRunFiles.checkpoint))

    let accuracy = MeanAndDeviation(runs.map(\.accuracy))
    let data = FinetuneReport.FinetuneData(
        train: try zip(trainSources, options.train.indices).map { source, index in
            try source.usedData(records: index == 0 && validationData != nil ? source.count - validationData!.records : nil,
                                note: index == 0 && validationData == nil
                                    ? noValidationNote(requested: options.training.validationFraction, trainingRecords: source.count) : nil)
        },
        mix: options.train.count == 2 ? (options.mix ?? Double(trainSources[1].count) / Double(trainSources[0].count + trainSources[1].count)) : nil,
        validation: validationData, evaluation: try evaluation.usedData())
    let report = FinetuneReport(
        command: options.training.command, toolVersion: ReptileVersion.current,
        start: StartingClassifier(checkpoint: options.classifier, sha256: startSHA256,
                                  scratch: fromScratch),
        classifier: summary(of: kept!, file: ClassifierRunFiles.checkpoint), data: data, settings: reportedSettings, threads: options.training.threads,
        before: before, after: after!, runs: runs,
        summary: RepeatSummary(repeats: options.repeats, seeds: runs.map(\.seed), accuracy: accuracy,
                               macroF1: MeanAndDeviation(runs.map(\.macroF1)),
                               accuracyText: String(format: "%.2f ± %.2f %%", accuracy.mean * 100, accuracy.std * 100)),
        timing: RunTiming(created: creationTimestamp(), trainingSeconds: trainingSeconds, evaluationSeconds: evaluationSeconds,
                          totalSeconds: Date().timeIntervalSince(started),
                          recordsPerSecond: trainingSeconds > 0 ? Double(trainedRecords) / trainingSeconds : 0))
    try writeJSON(report, to: staging.path(ClassifierRunFiles.report))
    try staging.commit()
    resumeFolder.remove()
    return report
}

/// A repeat of `finetune --repeats` that finished, kept in the resume folder until the run has.
struct FinishedRepeat: Codable {
    var run: FinetuneRun
    var metrics: ClassificationMetrics
    var trainedRecords: Int
}
