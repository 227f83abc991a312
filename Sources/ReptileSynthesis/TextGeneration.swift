import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileClassify
import ReptileText

/// Which of a text run's generators `generate` samples from.
public enum TextGeneratorChoice: String, Sendable, CaseIterable {
    /// The PPO generator if the run has one, else the MLE generator.
    case auto
    /// The best MLE epoch's weights: also the pre-PPO generator.
    case mle
    case prePPO = "pre-ppo"
    case ppo
}

/// How many texts of each class `generate` writes.
public enum TextClassProportions: String, Sendable, CaseIterable {
    /// Exactly `perClass` of every class.
    case uniform
    /// `perClass × classes` in all, shared out in the proportions of the real train split, so a
    /// classifier trained on them learns the real class prior (TREC's ABBR is 1.6 % of train).
    case train
}

/// Per-class counts summing to `total` in proportion to `weights`: each class gets the floor of its
/// share (at least 1), and what is left goes to the largest remainders (ties to the lower class).
public func proportionalClassCounts(total: Int, weights: [Int]) -> [Int] {
    precondition(!weights.isEmpty && total >= weights.count && weights.allSatisfy { $0 >= 0 }, "proportionalClassCounts: \(total) over \(weights)")
    let sum = weights.reduce(0, +)
    guard sum > 0 else { return proportionalClassCounts(total: total, weights: weights.map { _ in 1 }) }
    let shares = weights.map { Double(total) * Double($0) / Double(sum) }
    var counts = shares.map { max(1, Int($0.rounded(.down))) }
    let remainders = shares.indices.sorted { (shares[$0] - shares[$0].rounded(.down), -$0) > (shares[$1] - shares[$1].rounded(.down), -$1) }
    var index = 0
    while counts.reduce(0, +) < total {
        counts[remainders[index % remainders.count]] += 1
        index += 1
    }
    // The minimum of 1 can overshoot: take the excess back from the largest classes.
    while counts.reduce(0, +) > total {
        let largest = counts.indices.max { counts[$0] < counts[$1] }!
        counts[largest] -= 1
    }
    return counts
}

public struct TextGenerationOptions: Sendable {
    public var run: String
    public var perClass: Int
    public var classProportions: TextClassProportions = .uniform
    public var temperature: Float = 1
    public var topP: Float = 1
    public var minimumConfidence: Float?
    public var classifier: String?
    public var generator: TextGeneratorChoice = .auto
    public var batchSize = 256
    public var seed: UInt64 = 0
    public var force = false
    public var shardSize = 10_000
    /// A class may take at most this many draws per text asked for before generation gives up (`--max-draws`).
    public var maximumDrawsPerSample = 20
    public var keepDuplicates = false
    public var keepTrainingCopies = false
    public var threads: Int?
    public var created: String?
    public var command = ""
    public var showProgress = true

    public init(run: String, perClass: Int) {
        self.run = run
        self.perClass = perClass
    }
}

public struct TextGenerationResult: Sendable {
    public var path: String
    public var count: Int
    public var classCounts: [Int]
    public var draws: Int
    public var droppedDuplicates: Int
    public var droppedTrainingCopies: Int
    public var droppedEmpty: Int
    public var droppedLowConfidence: Int
    public var generator: String
    public var confidenceSource: String
}

/// What `generate` writes as a text's `d_score`.
public let textDScoreDescription = "class-aware discriminator logit for (text, intended class) (pre-sigmoid; higher = more real)"

/// `reptile generate` on a text run: exactly N texts per class, with the discriminator's score and
/// a classifier's confidence per text, exact duplicates and exact copies of training texts dropped
/// (unless kept by option), into synthetic shards and synthetic.jsonl inside a staging folder that
/// becomes RUN/synthetic only when complete. Generation gives up (one line, nothing written) when
/// a class cannot reach N within `maximumDrawsPerSample` draws per text asked for.
public func generateTexts(_ options: TextGenerationOptions) throws -> TextGenerationResult {
    guard options.perClass >= 1 else { throw ReptileError("--per-class must be at least 1", fix: "use e.g. 500") }
    guard options.batchSize >= 1 else { throw ReptileError("--batch-size must be at least 1", fix: "use e.g. 256") }
    guard options.shardSize >= 1 else { throw ReptileError("--shard-size must be at least 1", fix: "use e.g. 10000") }
    guard options.maximumDrawsPerSample >= 1 else { throw ReptileError("--max-draws must be at least 1", fix: "use e.g. 20") }
    guard options.temperature > 0 else { throw ReptileError("--temperature must be positive", fix: "use e.g. 1.0 or 0.8") }
    guard options.topP > 0 && options.topP <= 1 else { throw ReptileError("--top-p must be in (0, 1]", fix: "use e.g. 0.9") }
    if let minimum = options.minimumConfidence, !(minimum >= 0 && minimum <= 1) {
        throw ReptileError("--min-confidence \(minimum) is outside [0, 1]", fix: "use e.g. 0.9")
    }
    if let threads = options.threads {
        guard threads >= 1 else { throw ReptileError("--threads must be at least 1", fix: "use e.g. 2") }
        BLAS.setThreadCount(threads)
    }
    if try RunKind.of(run: options.run) == .textLanguageModel { return try generateLanguageModelTexts(options) }
    let checkpointPath = try runCheckpointPath(run: options.run)
    let config = try readTextRunConfig(checkpoint: checkpointPath)
    let vocabulary = try TextGenerationVocabulary(entries: config.vocabulary)
    let architecture = config.architecture
    let checkpointFile = try CheckpointFile.read(at: checkpointPath)
    let hasPPO = checkpointFile.tensors.contains { $0.name.hasPrefix(RunNames.ppoGenerator + ".") }
    let generatorName: String
    switch options.generator {
    case .auto: generatorName = hasPPO ? RunNames.ppoGenerator : RunNames.mleGenerator
    case .mle, .prePPO: generatorName = RunNames.mleGenerator
    case .ppo:
        guard hasPPO else {
            throw ReptileError(path: checkpointPath, "has no PPO generator (the run had no PPO iterations)",
                               fix: "train with --ppo-iterations N, or choose --generator mle")
        }
        generatorName = RunNames.ppoGenerator
    }
    var unused = SeededRandom(seed: 0)
    let generator = architecture.makeGenerator(name: generatorName, random: &unused)
    let discriminator = ClassAwareTextDiscriminator(architecture, name: RunNames.discriminator, random: &unused)
    let others = [RunNames.generator, RunNames.mleGenerator, RunNames.ppoGenerator, RunNames.valueHead].filter { $0 != generatorName }
    try ModelCheckpoint.load(from: checkpointPath, into: [generator, discriminator], ignoring: others)
    generator.setParametersRequireGradient(false)
    discriminator.setParametersRequireGradient(false)

    let classifierPath = options.classifier ?? config.ppo?.classifier
    let classifier = try classifierPath.map { try loadTextRewardClassifier($0, config: config) }
    let confidenceSource = classifierPath.map { "classifier:\($0)" } ?? "discriminator-projection-posterior"

    // Exact copies are judged on the tokenised-and-joined form, so spacing does not hide one.
    var trainingTexts = Set<String>()
    if !options.keepTrainingCopies {
        let folder = try DatasetFolder(path: config.dataset)
        trainingTexts = Set(try TextTrainingData.read(folder, split: "train").0.map(GenerationTokenizer.normalised))
    }

    let classCount = architecture.classCount, perClass = options.perClass
    let targets: [Int]
    switch options.classProportions {
    case .uniform: targets = [Int](repeating: perClass, count: classCount)
    case .train:
        let folder = try DatasetFolder(path: config.dataset)
        guard let train = folder.info.splits["train"], train.classCounts.count == classCount else {
            throw ReptileError(path: config.dataset, "has no train split with the run's \(classCount) classes to take proportions from",
                               fix: "use --class-proportions uniform")
        }
        targets = proportionalClassCounts(total: perClass * classCount, weights: train.classCounts)
    }
    let sampling = TokenSampling(temperature: options.temperature, topP: options.topP, forbidden: vocabulary.forbiddenWhenSampling)
    var random = SeededRandom(seed: options.seed).derived("generate")
    let accepted = try drawTexts(targets: targets, classNames: config.classNames, trainingTexts: trainingTexts, options: options,
                                 failurePath: checkpointPath) { labels in
        let sequences = generator.generate(classes: labels, length: architecture.sequenceLength, sampling: sampling,
                                           endToken: TextGenerationVocabulary.endIndex, random: &random)
        let texts = sequences.map { vocabulary.decode($0) }
        let padded = TokenBatches.padded(sequences, length: architecture.discriminatorLength)
        let scores = discriminator.scores(tokens: padded, classes: labels)
        let confidences: [Float]
        if let classifier {
            confidences = classifierLogProbabilities(classifier, texts: texts, labels: labels).map { exp($0) }
        } else {
            // p(y | x) ∝ exp(D(x, y)): the projection discriminator's class posterior.
            let perClass = (0..<classCount).map { label in discriminator.scores(tokens: padded, classes: [Int](repeating: label, count: labels.count)) }
            confidences = labels.indices.map { row in
                let logits = (0..<classCount).map { perClass[$0][row] }
                let maximum = logits.max()!
                let denominator = logits.reduce(Float(0)) { $0 + exp($1 - maximum) }
                return exp(logits[labels[row]] - maximum) / denominator
            }
        }
        return TextDraws(texts: texts, scores: scores, confidences: confidences)
    }
    return try writeSyntheticTexts(accepted, targets: targets, options: options, classNames: config.classNames,
                                   generatorName: generatorName, confidenceSource: confidenceSource, dScoreDescription: textDScoreDescription,
                                   checkpointPath: checkpointPath, classifierPath: classifierPath, sourceFormat: "reptile-text-gan")
}

/// One batch of drawn texts with their `d_score` and confidence.
struct TextDraws {
    var texts: [String]
    var scores: [Float]
    var confidences: [Float]
}

/// The texts kept from the draws, in order, and what was dropped.
struct AcceptedTexts {
    var texts: [String] = [], labels: [Int64] = [], scores: [Float] = [], confidences: [Float] = []
    var draws: [Int]
    var duplicates = 0, copies = 0, empty = 0, lowConfidence = 0
}

/// Draws batches of class labels round robin until every class has its target, dropping empty
/// texts, those below --min-confidence, exact training copies and duplicates (unless kept);
/// gives up with one line when a class uses up its draws.
func drawTexts(targets: [Int], classNames: [String], trainingTexts: Set<String>, options: TextGenerationOptions,
               failurePath: String, draw: ([Int]) throws -> TextDraws) throws -> AcceptedTexts {
    let classCount = targets.count, total = targets.reduce(0, +)
    var accepted = AcceptedTexts(draws: [Int](repeating: 0, count: classCount))
    var remaining = targets
    let drawLimits = targets.map { $0 * options.maximumDrawsPerSample }
    var seen = Set<String>()
    var cursor = 0
    let progress = ProgressBar("generating", total: total, unit: "texts", enabled: options.showProgress && ProgressBar.terminalAttached)
    while accepted.texts.count < total {
        var labels: [Int] = []
        var assigned = [Int](repeating: 0, count: classCount)
        var idle = 0
        while labels.count < options.batchSize && idle < classCount {
            let label = cursor
            cursor = (cursor + 1) % classCount
            // Draw a little beyond what a class still needs: some draws are dropped.
            if remaining[label] > 0 && accepted.draws[label] + assigned[label] < drawLimits[label] && assigned[label] < remaining[label] + 8 {
                labels.append(label)
                assigned[label] += 1
                idle = 0
            } else {
                idle += 1
            }
        }
        if labels.isEmpty {
            let label = (0..<classCount).first { remaining[$0] > 0 }!
            throw ReptileError(path: failurePath,
                               "class \(quoted(classNames[label])): only \(targets[label] - remaining[label]) of \(targets[label]) texts in \(accepted.draws[label]) draws (so far \(accepted.duplicates) duplicates, \(accepted.copies) training copies, \(accepted.empty) empty, \(accepted.lowConfidence) below --min-confidence dropped)",
                               fix: "ask for fewer texts, raise --temperature or --top-p, lower --min-confidence, allow more draws than --max-draws \(options.maximumDrawsPerSample) per text, or train the generator longer")
        }
        let drawn = try draw(labels)
        for (index, label) in labels.enumerated() {
            accepted.draws[label] += 1
            guard remaining[label] > 0 else { continue }
            let text = drawn.texts[index]
            if text.isEmpty { accepted.empty += 1; continue }
            if drawn.confidences[index] < (options.minimumConfidence ?? -1) { accepted.lowConfidence += 1; continue }
            if !options.keepTrainingCopies && trainingTexts.contains(GenerationTokenizer.normalised(text)) { accepted.copies += 1; continue }
            if !options.keepDuplicates {
                guard seen.insert(text).inserted else { accepted.duplicates += 1; continue }
            }
            remaining[label] -= 1
            accepted.texts.append(text)
            accepted.labels.append(Int64(label))
            accepted.scores.append(drawn.scores[index])
            accepted.confidences.append(drawn.confidences[index])
            progress.advance()
        }
    }
    progress.finish()
    return accepted
}

/// Writes the accepted texts as RUN/synthetic (shards, synthetic.jsonl, dataset_info.json) through
/// a staging folder committed only when complete.
func writeSyntheticTexts(_ accepted: AcceptedTexts, targets: [Int], options: TextGenerationOptions, classNames: [String],
                         generatorName: String, confidenceSource: String, dScoreDescription: String,
                         checkpointPath: String, classifierPath: String?, sourceFormat: String) throws -> TextGenerationResult {
    let total = targets.reduce(0, +), perClass = options.perClass
    let acceptedTexts = accepted.texts, acceptedLabels = accepted.labels
    let acceptedScores = accepted.scores, acceptedConfidences = accepted.confidences
    let draws = accepted.draws, duplicates = accepted.duplicates, copies = accepted.copies
    let empty = accepted.empty, lowConfidence = accepted.lowConfidence
    let generatorSHA256 = try SHA256.hex(ofFileAt: checkpointPath)
    let created = options.created ?? creationTimestamp()
    var generationConfig: JSONValue = [
        "run": .string(options.run), "per_class": .integer(Int64(perClass)), "seed": .integer(Int64(bitPattern: options.seed)),
        "generator": .string(generatorName), "temperature": .number(rounded(Double(options.temperature), digits: 6)), "top_p": .number(rounded(Double(options.topP), digits: 6)),
        "batch_size": .integer(Int64(options.batchSize)), "shard_size": .integer(Int64(options.shardSize)),
        "min_confidence": options.minimumConfidence.map { .number(rounded(Double($0), digits: 6)) } ?? .null,
        "keep_duplicates": .bool(options.keepDuplicates), "keep_training_copies": .bool(options.keepTrainingCopies),
        "confidence_source": .string(confidenceSource), "d_score": .string(dScoreDescription), "generator_sha256": .string(generatorSHA256),
    ]
    if options.classProportions != .uniform, case .object(var fields) = generationConfig {
        // Only when asked for, so uniform runs keep the configuration (and its sha256) they had.
        fields["class_proportions"] = .string(options.classProportions.rawValue)
        fields["class_counts"] = .array(targets.map { .integer(Int64($0)) })
        generationConfig = .object(fields)
    }
    let configSHA256 = SHA256.hex(of: try StableJSON.string(generationConfig))
    let destination = URL(fileURLWithPath: options.run).appendingPathComponent(RunNames.synthetic).path
    let staging = try StagingFolder(destination: destination, force: options.force)
    let shardCount = (total + options.shardSize - 1) / options.shardSize
    var shardSummaries: [ShardSummary] = []
    for shard in 0..<shardCount {
        let rows = (shard * options.shardSize)..<min(total, (shard + 1) * options.shardSize)
        let metadata = ShardMetadata(kind: .text, split: "synthetic", classNames: classNames, seed: options.seed,
                                     configSHA256: configSHA256, created: created, generatorSHA256: generatorSHA256)
        let writer = try ShardWriter(path: staging.path(shardFileName(split: "synthetic", index: shard, count: shardCount)), metadata: metadata,
                                     count: rows.count, imageShape: nil, columns: [ShardColumn("d_score", .float32), ShardColumn("confidence", .float32)])
        try writer.appendTexts(Array(acceptedTexts[rows]), labels: Array(acceptedLabels[rows]),
                               columns: ["d_score": Array(acceptedScores[rows]), "confidence": Array(acceptedConfidences[rows])])
        shardSummaries.append(try writer.finish())
    }
    // synthetic.jsonl: one {"text", "label" (class name), "d_score", "confidence"} object a line.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    var lines = Data()
    for index in acceptedTexts.indices {
        let text = String(decoding: try encoder.encode(acceptedTexts[index]), as: UTF8.self)
        let label = String(decoding: try encoder.encode(classNames[Int(acceptedLabels[index])]), as: UTF8.self)
        lines.append(contentsOf: Array("{\"text\":\(text),\"label\":\(label),\"d_score\":\(acceptedScores[index]),\"confidence\":\(acceptedConfidences[index])}\n".utf8))
    }
    try writeAtomically(lines, to: staging.path("synthetic.jsonl"))

    let totalDraws = draws.reduce(0, +)
    var sourceFiles = [DatasetInfo.SourceFile(path: checkpointPath, role: "generator checkpoint (\(generatorName))",
                                              bytes: fileSize(checkpointPath), sha256: generatorSHA256)]
    if let classifierPath {
        sourceFiles.append(.init(path: classifierPath, role: "confidence classifier", bytes: fileSize(classifierPath),
                                 sha256: try SHA256.hex(ofFileAt: classifierPath)))
    }
    let info = DatasetInfo(
        name: URL(fileURLWithPath: options.run).lastPathComponent + "-synthetic", kind: .text, imageShape: nil, classNames: classNames,
        splits: ["synthetic": .init(count: total, classCounts: targets, shards: shardSummaries)],
        source: .init(format: sourceFormat, files: sourceFiles, records: totalDraws, processing: [
            "generator": .string(generatorName), "confidence_source": .string(confidenceSource), "d_score": .string(dScoreDescription),
            "draws": .integer(Int64(totalDraws)), "acceptance_rate": .number(rounded(Double(total) / Double(max(totalDraws, 1)))),
            // Per class, to see how near a filter brings each class to --max-draws.
            "class_draws": .array(draws.map { .integer(Int64($0)) }),
            "dropped_duplicates": .integer(Int64(duplicates)), "dropped_training_copies": .integer(Int64(copies)),
            "dropped_empty": .integer(Int64(empty)), "dropped_below_min_confidence": .integer(Int64(lowConfidence)),
            "temperature": .number(rounded(Double(options.temperature), digits: 6)), "top_p": .number(rounded(Double(options.topP), digits: 6)),
            "min_confidence": options.minimumConfidence.map { .number(rounded(Double($0), digits: 6)) } ?? .null,
        ]),
        provenance: .init(created: created, seed: options.seed, command: options.command, config: generationConfig, configSHA256: configSHA256))
    try info.write(to: staging.path(DatasetInfo.fileName))
    try staging.commit()
    return TextGenerationResult(path: staging.destination.path, count: total, classCounts: targets,
                                draws: totalDraws, droppedDuplicates: duplicates, droppedTrainingCopies: copies, droppedEmpty: empty,
                                droppedLowConfidence: lowConfidence, generator: generatorName, confidenceSource: confidenceSource)
}

private func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}
