import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// Which of a run's generators `generate` samples from.
public enum GeneratorChoice: String, Sendable, CaseIterable {
    /// The PPO generator if the run has one, else the EMA generator.
    case auto
    /// The EMA of the adversarial generator: also the pre-PPO generator (PPO starts from it and it
    /// stays frozen meanwhile), so `ema` and `pre-ppo` name the same weights.
    case ema
    case prePPO = "pre-ppo"
    case ppo
    /// The adversarial generator's own weights and batch-norm statistics, without the average: to
    /// measure what the EMA adds.
    case raw
}

public struct ImageGenerationOptions: Sendable {
    public var run: String
    public var perClass: Int
    public var writePNG = false
    public var minimumConfidence: Float?
    /// Keep only images the classifier is at most this sure of: the easiest, most prototypical
    /// samples teach a classifier trained on them little (image runs).
    public var maximumConfidence: Float?
    /// Keep only images whose discriminator logit (`d_score`) is at least this: filtering by how
    /// real D finds them rather than by a classifier.
    public var minimumDScore: Float?
    public var classifier: String?
    public var generator: GeneratorChoice = .auto
    public var batchSize = 256
    /// Standard deviation of the noise z (training draws N(0, 1)): below 1 trades diversity for
    /// fidelity (BigGAN's truncation), above 1 the reverse.
    public var noiseScale: Float = 1
    public var seed: UInt64 = 0
    public var force = false
    public var shardSize = 10_000
    /// With a filter, a class may take at most this many draws per image asked for (`--max-draws`).
    public var maximumDrawsPerSample = 20
    public var threads: Int?
    /// The `created` stamp; nil means now, or `$SOURCE_DATE_EPOCH` when set.
    public var created: String?
    public var command = ""
    public var showProgress = true

    public init(run: String, perClass: Int) {
        self.run = run
        self.perClass = perClass
    }
}

public struct ImageGenerationResult: Sendable {
    public var path: String
    public var count: Int
    public var classCounts: [Int]
    public var draws: Int
    public var generator: String
    public var confidenceSource: String
}

/// What `generate` writes as `d_score`: the discriminator's real/fake logit (before the sigmoid),
/// for the intended class with a projection discriminator.
public let dScoreDescription = "discriminator real/fake logit (pre-sigmoid; higher = more real)"

/// `reptile generate`: exactly N images per class from a run's generator, with the discriminator's
/// score and a classifier's confidence per image, streamed batch by batch into synthetic shards
/// (and optionally PNGs) inside a staging folder that becomes RUN/synthetic only when complete.
public func generateImages(_ options: ImageGenerationOptions) throws -> ImageGenerationResult {
    guard options.perClass >= 1 else { throw ReptileError("--per-class must be at least 1", fix: "use e.g. 1000") }
    guard options.noiseScale > 0 && options.noiseScale.isFinite else { throw ReptileError("--noise-scale must be positive", fix: "use e.g. 1") }
    guard options.batchSize >= 1 else { throw ReptileError("--batch-size must be at least 1", fix: "use e.g. 256") }
    guard options.shardSize >= 1 else { throw ReptileError("--shard-size must be at least 1", fix: "use e.g. 10000") }
    guard options.maximumDrawsPerSample >= 1 else { throw ReptileError("--max-draws must be at least 1", fix: "use e.g. 20") }
    if let maximum = options.maximumConfidence, !(maximum > 0 && maximum <= 1 && maximum >= (options.minimumConfidence ?? 0)) {
        throw ReptileError("--max-confidence \(maximum) is outside (0, 1] or below --min-confidence", fix: "use e.g. 0.999")
    }
    if let minimum = options.minimumDScore, !minimum.isFinite {
        throw ReptileError("--min-d-score must be a finite logit", fix: "use e.g. 0 (D finds the image more real than not)")
    }
    if let minimum = options.minimumConfidence, !(minimum >= 0 && minimum <= 1) {
        throw ReptileError("--min-confidence \(minimum) is outside [0, 1]", fix: "use e.g. 0.9")
    }
    if let threads = options.threads {
        guard threads >= 1 else { throw ReptileError("--threads must be at least 1", fix: "use e.g. 2") }
        BLAS.setThreadCount(threads)
    }
    let checkpointPath = try runCheckpointPath(run: options.run)
    let config = try readRunConfig(checkpoint: checkpointPath)
    let architecture = config.architecture
    let checkpointFile = try CheckpointFile.read(at: checkpointPath)
    let hasPPO = checkpointFile.tensors.contains { $0.name.hasPrefix(RunNames.ppoGenerator + ".") }

    let generatorName: String
    switch options.generator {
    case .auto: generatorName = hasPPO ? RunNames.ppoGenerator : RunNames.averageGenerator
    case .ema, .prePPO: generatorName = RunNames.averageGenerator
    case .raw: generatorName = RunNames.generator
    case .ppo:
        guard hasPPO else {
            throw ReptileError(path: checkpointPath, "has no PPO generator (the run had no PPO iterations)",
                               fix: "train with --ppo-iterations N --classifier CKPT, or choose --generator ema")
        }
        generatorName = RunNames.ppoGenerator
    }
    var unused = SeededRandom(seed: 0)
    let generator = ImageGenerator(architecture, name: generatorName, random: &unused)
    let discriminator = ImageDiscriminator(architecture, name: RunNames.discriminator, random: &unused)
    let others = [RunNames.generator, RunNames.averageGenerator, RunNames.ppoGenerator].filter { $0 != generatorName }
    try ModelCheckpoint.load(from: checkpointPath, into: [generator, discriminator], ignoring: others)
    generator.setTraining(false)
    discriminator.setTraining(false)
    generator.setParametersRequireGradient(false)
    discriminator.setParametersRequireGradient(false)

    // The confidence: the classifier given, else the run's PPO reward classifier, else D's own class posterior.
    let classifierPath = options.classifier ?? config.ppo?.classifier
    let classifier = try classifierPath.map { try loadCompatibleClassifier($0, config: config) }
    classifier?.setParametersRequireGradient(false)
    let confidenceSource: String
    if let classifierPath {
        confidenceSource = "classifier:\(classifierPath)"
    } else {
        confidenceSource = architecture.discriminatorHead == .projection ? "discriminator-projection-posterior" : "discriminator-acgan-head"
    }

    let classCount = architecture.classCount, perClass = options.perClass
    let total = classCount * perClass
    let shape = config.imageShape
    let generatorSHA256 = try SHA256.hex(ofFileAt: checkpointPath)
    let created = options.created ?? creationTimestamp()
    let destination = URL(fileURLWithPath: options.run).appendingPathComponent(RunNames.synthetic).path
    var generationFields: [String: JSONValue] = [
        "run": .string(options.run), "per_class": .integer(Int64(perClass)), "seed": .integer(Int64(bitPattern: options.seed)),
        "generator": .string(generatorName), "batch_size": .integer(Int64(options.batchSize)),
        "shard_size": .integer(Int64(options.shardSize)),
        "min_confidence": options.minimumConfidence.map { .number(Double($0)) } ?? .null,
        "confidence_source": .string(confidenceSource), "d_score": .string(dScoreDescription),
        "generator_sha256": .string(generatorSHA256), "formats": .array(options.writePNG ? ["h5", "png"] : ["h5"]),
    ]
    if options.noiseScale != 1 {
        // Recorded only when used, so the config (and its sha256) of an ordinary generation is unchanged.
        generationFields["noise_scale"] = .number(Double(options.noiseScale))
    }
    if let maximum = options.maximumConfidence { generationFields["max_confidence"] = .number(Double(maximum)) }
    if let minimum = options.minimumDScore { generationFields["min_d_score"] = .number(Double(minimum)) }
    let generationConfig = JSONValue.object(generationFields)
    let configSHA256 = SHA256.hex(of: try StableJSON.string(generationConfig))
    let staging = try StagingFolder(destination: destination, force: options.force)
    let pngRoot = "png"
    if options.writePNG {
        for name in config.classNames {
            try FileManager.default.createDirectory(atPath: staging.path(pngRoot + "/" + folderName(forClass: name)), withIntermediateDirectories: true)
        }
    }

    let shardCount = (total + options.shardSize - 1) / options.shardSize
    var shardSummaries: [ShardSummary] = []
    var writer: ShardWriter? = nil
    func openShard(_ index: Int) throws -> ShardWriter {
        let metadata = ShardMetadata(kind: .image, split: "synthetic", classNames: config.classNames, seed: options.seed,
                                     configSHA256: configSHA256, created: created, generatorSHA256: generatorSHA256)
        let count = min(options.shardSize, total - index * options.shardSize)
        return try ShardWriter(path: staging.path(shardFileName(split: "synthetic", index: index, count: shardCount)), metadata: metadata,
                               count: count, imageShape: shape, columns: [ShardColumn("d_score", .float32), ShardColumn("confidence", .float32)])
    }

    var random = SeededRandom(seed: options.seed).derived("generate")
    var remaining = [Int](repeating: perClass, count: classCount)
    var draws = [Int](repeating: 0, count: classCount)
    let filtering = options.minimumConfidence != nil || options.maximumConfidence != nil || options.minimumDScore != nil
    let drawLimit = filtering ? perClass * options.maximumDrawsPerSample : perClass
    var written = 0, cursor = 0
    let progress = ProgressBar("generating", total: total, unit: "images", enabled: options.showProgress && ProgressBar.terminalAttached)
    while written < total {
        // The batch's labels: classes still short, round-robin, none beyond its draw budget (and,
        // without filtering, none beyond what it still needs, so nothing is drawn in vain).
        var labels: [Int] = []
        var assigned = [Int](repeating: 0, count: classCount)
        var idle = 0
        while labels.count < options.batchSize && idle < classCount {
            let label = cursor
            cursor = (cursor + 1) % classCount
            let cap = filtering ? drawLimit - draws[label] : remaining[label]
            if remaining[label] > 0 && assigned[label] < cap {
                labels.append(label)
                assigned[label] += 1
                idle = 0
            } else {
                idle += 1
            }
        }
        if labels.isEmpty {
            let label = (0..<classCount).first { remaining[$0] > 0 }!
            let accepted = perClass - remaining[label]
            throw ReptileError(path: checkpointPath,
                               "class \(quoted(config.classNames[label])): only \(accepted) of \(perClass) images reached confidence in [\(options.minimumConfidence ?? 0), \(options.maximumConfidence ?? 1)]\(options.minimumDScore.map { " and d_score ≥ \($0)" } ?? "") in \(draws[label]) draws (acceptance rate \(String(format: "%.2f", 100 * Double(accepted) / Double(max(draws[label], 1)))) %)",
                               fix: (options.maximumConfidence != nil ? "raise --max-confidence (or lower --min-confidence)"
                                   : options.minimumDScore != nil ? "lower --min-d-score (or --min-confidence)"
                                   : "lower --min-confidence (or --noise-scale), or train the generator longer")
                                   + "; or allow more draws than --max-draws \(options.maximumDrawsPerSample) per image")
        }
        let noise = Tensor(normalShape: [labels.count, architecture.noiseSize], standardDeviation: options.noiseScale, random: &random)
        let images = generator(noise: noise, labels: labels).value
        let dScores = discriminator(Variable(images), labels: labels).realLogits.value.scalars
        let confidences: [Float]
        if let classifier {
            confidences = zip(logSoftmaxRows(classifier(Variable(images)).value), labels).map { exp($0[$1]) }
        } else {
            confidences = zip(logSoftmaxRows(discriminator(Variable(images), labels: labels).classLogits.value), labels).map { exp($0[$1]) }
        }
        var acceptedPixels: [UInt8] = [], acceptedLabels: [Int64] = [], acceptedScores: [Float] = [], acceptedConfidences: [Float] = []
        let values = images.scalars, plane = shape.height * shape.width, pixelCount = shape.pixelCount
        for (index, label) in labels.enumerated() {
            draws[label] += 1
            guard remaining[label] > 0, confidences[index] >= (options.minimumConfidence ?? -1),
                  confidences[index] <= (options.maximumConfidence ?? 2),
                  dScores[index] >= (options.minimumDScore ?? -.infinity) else { continue }
            remaining[label] -= 1
            // Channel-first floats in [−1, 1] → channel-last uint8, as the shard contract stores images.
            var pixels = [UInt8](repeating: 0, count: pixelCount)
            for position in 0..<plane {
                for channel in 0..<shape.channels {
                    pixels[position * shape.channels + channel] = ImageScaling.pixel(values[index * pixelCount + channel * plane + position])
                }
            }
            if options.writePNG {
                let path = staging.path(pngRoot + "/" + folderName(forClass: config.classNames[label]) + "/" + imageFileName(index: written + acceptedLabels.count))
                try PNGFile.write(PixelImage(width: shape.width, height: shape.height, channels: shape.channels, pixels: pixels), to: path)
            }
            acceptedPixels += pixels
            acceptedLabels.append(Int64(label))
            acceptedScores.append(dScores[index])
            acceptedConfidences.append(confidences[index])
        }
        // Into the shards, starting the next one whenever the current one is full.
        var offset = 0
        while offset < acceptedLabels.count {
            if writer == nil { writer = try openShard(shardSummaries.count) }
            let take = min(writer!.count - writer!.written, acceptedLabels.count - offset)
            try writer!.appendImages(Array(acceptedPixels[(offset * pixelCount)..<((offset + take) * pixelCount)]),
                                     labels: Array(acceptedLabels[offset..<(offset + take)]),
                                     columns: ["d_score": Array(acceptedScores[offset..<(offset + take)]),
                                               "confidence": Array(acceptedConfidences[offset..<(offset + take)])])
            offset += take
            if writer!.written == writer!.count {
                shardSummaries.append(try writer!.finish())
                writer = nil
            }
        }
        written += acceptedLabels.count
        progress.advance(by: acceptedLabels.count)
    }
    progress.finish()
    let totalDraws = draws.reduce(0, +)
    var sourceFiles = [DatasetInfo.SourceFile(path: checkpointPath, role: "generator checkpoint (\(generatorName))",
                                              bytes: fileSize(checkpointPath), sha256: generatorSHA256)]
    if let classifierPath {
        sourceFiles.append(.init(path: classifierPath, role: "confidence classifier", bytes: fileSize(classifierPath),
                                 sha256: try SHA256.hex(ofFileAt: classifierPath)))
    }
    let info = DatasetInfo(
        name: URL(fileURLWithPath: options.run).lastPathComponent + "-synthetic", kind: .image, imageShape: shape,
        classNames: config.classNames,
        splits: ["synthetic": .init(count: total, classCounts: [Int](repeating: perClass, count: classCount), shards: shardSummaries)],
        source: .init(format: "reptile-image-gan", files: sourceFiles, records: totalDraws, processing: [
            "generator": .string(generatorName), "confidence_source": .string(confidenceSource), "d_score": .string(dScoreDescription),
            "draws": .integer(Int64(totalDraws)), "acceptance_rate": .number(rounded(Double(total) / Double(max(totalDraws, 1)))),
            // Per class, to see how near a filter brings each class to --max-draws.
            "class_draws": .array(draws.map { .integer(Int64($0)) }),
            "min_confidence": options.minimumConfidence.map { .number(Double($0)) } ?? .null,
            "min_d_score": options.minimumDScore.map { .number(Double($0)) } ?? .null,
        ]),
        provenance: .init(created: created, seed: options.seed, command: options.command, config: generationConfig, configSHA256: configSHA256))
    try info.write(to: staging.path(DatasetInfo.fileName))
    try staging.commit()
    return ImageGenerationResult(path: staging.destination.path, count: total, classCounts: [Int](repeating: perClass, count: classCount),
                                 draws: totalDraws, generator: generatorName, confidenceSource: confidenceSource)
}

private func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}
