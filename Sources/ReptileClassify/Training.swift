import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// What the training loop needs to know besides the model and the data.
public struct TrainingSettings: Codable, Equatable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    /// Epochs without a better validation result before stopping (early stopping needs validation data).
    public var patience: Int
    public var seed: UInt64
    /// Random shifts of up to this many pixels (0: none).
    public var augmentShift: Int
    /// Linear warm-up over this share of the first epoch's steps, then cosine decay to 0 at the last epoch.
    public var warmupEpochs: Double
    /// Pretrained-encoder classifiers ("minilm") only: AdamW with these settings instead of Adam.
    public var encoder: EncoderFineTuning?
    /// A fresh native classifier with the default epoch count (no `--epochs`): train at least this
    /// many optimizer steps, epochs growing up to `TrainingDefaults.maximumEpochsForMinimumSteps`
    /// (a hundred images are two steps an epoch). The encoder recipe keeps its own.
    public var minimumSteps: Int?

    public init(epochs: Int, batchSize: Int, learningRate: Float, patience: Int, seed: UInt64, augmentShift: Int = 0,
                warmupEpochs: Double = 0.5, encoder: EncoderFineTuning? = nil, minimumSteps: Int? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.patience = patience
        self.seed = seed
        self.augmentShift = augmentShift
        self.warmupEpochs = warmupEpochs
        self.encoder = encoder
        self.minimumSteps = minimumSteps
    }

    /// These settings with `epochs` raised, when a minimum number of optimizer steps is asked for
    /// and the data gives few per epoch. BERT fine-tuning needs some hundreds of steps (on TREC with
    /// 100 texts a class, 3 epochs are 51 steps and gave 71.8 %, 10 gave 92.0 %); so do the native
    /// CNNs on a few hundred records (README, pretrain: MNIST with 10 images a class, 15 epochs are
    /// 30 steps, 73.50 ± 2.28 %; 200 steps 81.27 ± 1.84 %).
    public func withMinimumSteps(stepsPerEpoch: Int) -> TrainingSettings {
        // The encoder recipe keeps its own minimum and a lower epoch cap.
        let (minimum, maximumEpochs): (Int?, Int) = encoder.map { ($0.minimumSteps, EncoderFineTuning.maximumEpochsForMinimumSteps) }
            ?? (minimumSteps, TrainingDefaults.maximumEpochsForMinimumSteps)
        guard let minimum, stepsPerEpoch > 0 else { return self }
        var settings = self
        let needed = (minimum + stepsPerEpoch - 1) / stepsPerEpoch
        settings.epochs = max(epochs, min(needed, maximumEpochs))
        return settings
    }

    public func validate() throws {
        guard epochs >= 1 else { throw ReptileError("--epochs must be at least 1, got \(epochs)", fix: "give --epochs 1 or more") }
        guard batchSize >= 1 else { throw ReptileError("--batch-size must be at least 1, got \(batchSize)", fix: "give --batch-size 1 or more") }
        guard learningRate > 0, learningRate.isFinite else {
            throw ReptileError("--learning-rate must be positive, got \(learningRate)", fix: "give e.g. --learning-rate 0.001")
        }
        guard patience >= 1 else { throw ReptileError("--patience must be at least 1, got \(patience)", fix: "give --patience 1 or more") }
        if let encoder {
            guard encoder.headLearningRate > 0, encoder.headLearningRate.isFinite else {
                throw ReptileError("--head-learning-rate must be positive, got \(encoder.headLearningRate)", fix: "give e.g. --head-learning-rate 0.001")
            }
        }
    }
}

/// How a classifier on a pretrained encoder trains (BERT's fine-tuning recipe): AdamW with
/// decoupled weight decay, linear warm-up over a share of all steps then linear decay to 0,
/// gradients clipped to a global norm; the encoder at `learningRate`, the fresh head at its own rate.
public struct EncoderFineTuning: Codable, Equatable, Sendable {
    public var headLearningRate: Float
    public var weightDecay: Float = 0.01
    /// Share of all training steps spent warming up.
    public var warmupFraction: Double = 0.1
    public var maximumGradientNorm: Float = 1
    /// Only the head trains.
    public var freezeEncoder: Bool
    /// Where the pretrained encoder came from (nil when continuing a checkpoint).
    public var encoderFolder: String?
    /// With the default epoch count (no `--epochs`): train at least this many steps, epochs
    /// growing up to `maximumEpochsForMinimumSteps` (see `TrainingSettings.withMinimumSteps`).
    public var minimumSteps: Int?
    static let defaultMinimumSteps = 200
    static let maximumEpochsForMinimumSteps = 20

    public init(headLearningRate: Float, freezeEncoder: Bool, encoderFolder: String?) {
        self.headLearningRate = headLearningRate
        self.freezeEncoder = freezeEncoder
        self.encoderFolder = encoderFolder
    }
}

/// The optimizer and learning-rate schedule of one training run, as the training loop drives it.
public protocol ClassifierOptimization: AnyObject {
    /// The current (scheduled) learning rate, for metrics.jsonl.
    var learningRate: Float { get }
    func zeroGradients()
    /// Sets the rates for this step (0-based, counted over all epochs).
    func schedule(step: Int)
    /// Updates the weights from the gradients of `backward()`.
    func applyGradients()
    /// Every optimizer stepped, by the name its state is checkpointed under (for `--resume`).
    var optimizers: [String: any Optimizer] { get }
}

/// The default: Adam over every parameter, warm-up over `warmupEpochs` then cosine decay.
final class AdamWithCosineDecay: ClassifierOptimization {
    let optimizer: Adam
    let peak: Float
    let rates: LearningRateSchedule

    init(parameters: [Variable], settings: TrainingSettings, stepsPerEpoch: Int) {
        optimizer = Adam(parameters: parameters, learningRate: settings.learningRate)
        peak = settings.learningRate
        let warmup = max(1, Int(Double(stepsPerEpoch) * settings.warmupEpochs))
        rates = .warmupThenCosineDecay(warmupSteps: warmup, totalSteps: settings.epochs * stepsPerEpoch)
    }

    var learningRate: Float { optimizer.learningRate }
    func zeroGradients() { optimizer.zeroGradients() }
    func schedule(step: Int) { optimizer.learningRate = peak * rates.factor(atStep: step) }
    func applyGradients() { optimizer.step() }
    var optimizers: [String: any Optimizer] { [ModelCheckpoint.defaultOptimizerName: optimizer] }
}

/// One line of `metrics.jsonl`. Timing fields (`seconds`, `records_per_second`) are the only ones
/// that differ between two runs with the same seed and thread count.
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int
    public var steps: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var learningRate: Double
    public var improved: Bool
    public var seconds: Double
    /// Images or texts per second of training (forward, backward, update).
    public var recordsPerSecond: Double
}

/// Where training ended.
public struct TrainingOutcome: Codable, Equatable, Sendable {
    public var epochsRun: Int
    /// 1-based; the weights kept are this epoch's (the last one without validation data).
    public var bestEpoch: Int
    public var bestValidationAccuracy: Double?
    public var bestValidationLoss: Double?
    public var stoppedEarly: Bool
    public var steps: Int
    public var finalTrainLoss: Double
}

/// Predictions for a split (or part of it), in the order the records are stored.
public struct Predictions {
    public var labels: [Int] = []
    public var predicted: [Int] = []
    public var probabilities: [Float] = []
    public var loss: Double = 0
}

/// Runs a classifier over records without recording a graph; probabilities are softmax maxima.
public func predict(_ model: any TrainableClassifier, batches: (inout ClassifierBatch) throws -> Bool) throws -> Predictions {
    let required = model.parameters.map(\.requiresGradient)
    model.setParametersRequireGradient(false)
    model.setTraining(false)
    defer {
        for (parameter, wasRequired) in zip(model.parameters, required) { parameter.requiresGradient = wasRequired }
    }
    var result = Predictions()
    var batch = ClassifierBatch()
    var random = SeededRandom(seed: 0)
    var lossSum: Double = 0
    let classCount = model.config.classNames.count
    while try batches(&batch) {
        let logits = model.logits(for: batch, random: &random)
        lossSum += Double(crossEntropy(logits: logits, labels: batch.labels).value.scalarValue) * Double(batch.count)
        logits.value.withUnsafeBufferPointer { scores in
            for row in 0..<batch.count {
                let rowScores = scores[(row * classCount)..<((row + 1) * classCount)]
                let maximum = rowScores.max()!
                let best = rowScores.firstIndex(of: maximum)! - row * classCount
                let total = rowScores.reduce(Float(0)) { $0 + expf($1 - maximum) }
                result.predicted.append(best)
                result.probabilities.append(1 / total)
            }
        }
        result.labels += batch.labels
    }
    result.loss = result.labels.isEmpty ? 0 : lossSum / Double(result.labels.count)
    return result
}

/// Predictions for a split in stored order (its labels mapped to the classifier's classes).
public func predict(_ model: any TrainableClassifier, source: ShardSource, labelMap: [Int], keep: ((Int) -> Bool)? = nil,
                    batchSize: Int = 256) throws -> Predictions {
    let reader = try ShardBatchReader(folder: source.folder, split: source.split, batchSize: batchSize, shuffle: false, seed: 0,
                                      scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset, keep: keep)
    var raw = ShardBatch()
    return try predict(model) { batch in
        guard try reader.next(into: &raw) else { return false }
        batch.labels = raw.labels.map { labelMap[Int($0)] }
        batch.images = raw.images
        batch.texts = raw.texts
        return true
    }
}

/// Validation data for early stopping: a split or a held-out slice of one, read like a training source.
public typealias ValidationData = BatchSourceSpec

/// Mini-batch training with cross-entropy and the model's optimization (Adam with warm-up, then cosine
/// decay over `epochs`; AdamW with linear decay for a pretrained encoder),
/// early stopping on validation accuracy (ties: lower validation loss) and the best epoch's
/// weights restored at the end. Every epoch appends a line to `metricsPath`; with a `checkpoint`,
/// the whole state is saved there after the first and the last epoch and between them at most every
/// `EpochCheckpoint.minimumSeconds`. A run whose checkpoint file exists continues after its last
/// saved epoch and ends as an uninterrupted run would (same seed and thread count).
public func trainClassifier(_ model: any TrainableClassifier, batches: MixedBatches, validation: ValidationData?,
                            settings: TrainingSettings, metricsPath: String?, progressLabel: String,
                            showProgress: Bool, checkpoint: EpochCheckpoint? = nil) throws -> TrainingOutcome {
    let stepsPerEpoch = batches.stepsPerEpoch
    let optimization = model.makeOptimization(settings: settings, stepsPerEpoch: stepsPerEpoch)
    let base = SeededRandom(seed: settings.seed)
    var dropoutRandom = base.derived("dropout")
    var augmentRandom = base.derived("augment")
    let imageShape = model.config.kind == "image"
        ? ImageShape(height: model.config.imageHeight!, width: model.config.imageWidth!, channels: model.config.imageChannels!) : nil
    let unit = model.config.kind == "image" ? "images" : "texts"
    let metricsFile: FileHandle? = try metricsPath.map { path in
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ReptileError(path: path, "cannot create the metrics file", fix: "check the permissions of the output folder")
        }
        return handle
    }
    defer { try? metricsFile?.close() }

    var best: (epoch: Int, accuracy: Double, loss: Double, weights: [[Float]])? = nil
    var epochsWithoutImprovement = 0
    var step = 0
    var outcome = TrainingOutcome(epochsRun: 0, bestEpoch: 0, bestValidationAccuracy: nil, bestValidationLoss: nil,
                                  stoppedEarly: false, steps: 0, finalTrainLoss: 0)
    var batch = ClassifierBatch()
    var metricsLines: [String] = []
    func writeMetrics(_ line: String) {
        metricsLines.append(line)
        metricsFile?.write(Data((line + "\n").utf8))
    }
    var firstEpoch = 1
    var lastSave: Date? = nil
    if let checkpoint, let saved = try checkpoint.restore(model: model, optimization: optimization) {
        // The data order is replayed (reading is cheap next to training); everything else is restored.
        for epoch in 1...saved.epoch {
            if epoch > 1 { batches.startEpoch() }
            while try batches.next(into: &batch) {}
        }
        step = saved.step
        dropoutRandom = saved.randoms.dropout
        augmentRandom = saved.randoms.augment
        best = (saved.loop.bestEpoch, saved.loop.bestAccuracy, saved.loop.bestLoss, saved.bestWeights)
        epochsWithoutImprovement = saved.loop.epochsWithoutImprovement
        outcome = saved.loop.outcome
        for line in saved.loop.metricsLines { writeMetrics(line) }
        firstEpoch = outcome.stoppedEarly ? settings.epochs + 1 : saved.epoch + 1
    }
    for epoch in stride(from: firstEpoch, through: settings.epochs, by: 1) {
        if epoch > 1 { batches.startEpoch() }
        model.setTraining(true)
        let progress = ProgressBar("\(progressLabel) epoch \(epoch)/\(settings.epochs)", total: batches.recordsPerEpoch, unit: unit,
                                   enabled: showProgress && ProgressBar.terminalAttached)
        let start = Date()
        var lossSum: Double = 0, correct = 0, seen = 0, steps = 0
        while try batches.next(into: &batch) {
            if settings.augmentShift > 0, let imageShape {
                randomlyShift(&batch.images, count: batch.count, shape: imageShape, maximumShift: settings.augmentShift, random: &augmentRandom)
            }
            optimization.schedule(step: step)
            optimization.zeroGradients()
            let logits = model.logits(for: batch, random: &dropoutRandom)
            let loss = crossEntropy(logits: logits, labels: batch.labels)
            loss.backward()
            optimization.applyGradients()
            let batchLoss = Double(loss.value.scalarValue)
            guard batchLoss.isFinite else {
                throw ReptileError("training diverged at epoch \(epoch), step \(steps + 1) (loss \(batchLoss))",
                                   fix: "lower --learning-rate")
            }
            lossSum += batchLoss * Double(batch.count)
            correct += countCorrect(logits.value, labels: batch.labels)
            seen += batch.count
            steps += 1
            step += 1
            progress.detail = String(format: "step %d/%d  loss %.4f", steps, stepsPerEpoch, lossSum / Double(seen))
            progress.advance(by: batch.count)
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        let trainLoss = seen > 0 ? lossSum / Double(seen) : 0

        var validationLoss: Double? = nil, validationAccuracy: Double? = nil, improved = true
        if let validation {
            let predictions = try predict(model, source: validation.source, labelMap: validation.labelMap, keep: validation.keep)
            let accuracy = Double(zip(predictions.labels, predictions.predicted).filter { $0 == $1 }.count) / Double(max(1, predictions.labels.count))
            validationLoss = predictions.loss
            validationAccuracy = accuracy
            improved = best.map { accuracy > $0.accuracy || (accuracy == $0.accuracy && predictions.loss < $0.loss) } ?? true
        }
        if improved {
            best = (epoch, validationAccuracy ?? 0, validationLoss ?? 0, model.parameters.map(\.value.scalars))
            epochsWithoutImprovement = 0
        } else {
            epochsWithoutImprovement += 1
        }
        let record = EpochMetrics(epoch: epoch, steps: steps, trainLoss: trainLoss, trainAccuracy: Double(correct) / Double(max(1, seen)),
                                  validationLoss: validationLoss, validationAccuracy: validationAccuracy,
                                  learningRate: Double(optimization.learningRate), improved: improved, seconds: seconds,
                                  recordsPerSecond: seconds > 0 ? Double(seen) / seconds : 0)
        writeMetrics(try StableJSON.string(record))
        outcome.epochsRun = epoch
        outcome.steps = step
        outcome.finalTrainLoss = trainLoss
        let stops = validation != nil && epochsWithoutImprovement >= settings.patience && epoch < settings.epochs
        if stops { outcome.stoppedEarly = true }
        // After the first epoch, the last, and otherwise at most every `minimumSeconds`: a run of
        // many tiny epochs would spend a tenth of its time saving its state.
        let saveDue = lastSave.map { Date().timeIntervalSince($0) >= EpochCheckpoint.minimumSeconds } ?? true
        if let checkpoint, let best, saveDue || stops || epoch == settings.epochs {
            lastSave = Date()
            try checkpoint.save(model: model, optimization: optimization, epoch: epoch, step: step,
                                randoms: (dropoutRandom, augmentRandom), bestWeights: best.weights,
                                loop: TrainingLoopState(epochsWithoutImprovement: epochsWithoutImprovement, bestEpoch: best.epoch,
                                                        bestAccuracy: best.accuracy, bestLoss: best.loss, outcome: outcome,
                                                        metricsLines: metricsLines))
        }
        if stops { break }
    }
    if let best {
        for (parameter, values) in zip(model.parameters, best.weights) {
            parameter.value = Tensor(shape: parameter.shape, values: values)
        }
        outcome.bestEpoch = best.epoch
        if validation != nil {
            outcome.bestValidationAccuracy = best.accuracy
            outcome.bestValidationLoss = best.loss
        }
    }
    model.setTraining(false)
    return outcome
}

private func countCorrect(_ logits: Tensor, labels: [Int]) -> Int {
    let classCount = logits.shape[1]
    return logits.withUnsafeBufferPointer { scores in
        var correct = 0
        for (row, label) in labels.enumerated() {
            let rowScores = scores[(row * classCount)..<((row + 1) * classCount)]
            if rowScores.firstIndex(of: rowScores.max()!)! - row * classCount == label { correct += 1 }
        }
        return correct
    }
}
