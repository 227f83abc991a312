import Foundation
import ReptileClassify
import ReptileCore
import ReptileEngine
import ReptileFormats

public struct EvaluateOptions: Sendable {
    /// Synthetic shards, `FOLDER[:SPLIT]` (default split `synthetic`, or the folder's only one).
    public var synthetic: String
    /// The real dataset folder: its `test` split is the reference, its `train` split the one
    /// copies and novelty are checked against.
    public var dataset: String
    /// A classifier checkpoint (`reptile pretrain`), ideally not the one used as the PPO reward.
    public var classifier: String?
    /// Texts: hypotheses sampled for BLEU, Self-BLEU and distinct-n (Texygen's 500); images: most
    /// synthetic images per class in the feature-space metrics.
    public var sampleSize = 500
    public var seed: UInt64 = 0
    /// k of the k-nearest-neighbour balls of precision, recall, density and coverage (Naeem et al.: 5).
    public var neighbourCount = 5
    // Images through the CNN per forward pass: 256 would hold ~1 GB of im2col buffers for 28×28 images.
    public var batchSize = 64
    public var threads: Int

    public init(synthetic: String, dataset: String, classifier: String? = nil, threads: Int) {
        self.synthetic = synthetic
        self.dataset = dataset
        self.classifier = classifier
        self.threads = threads
    }
}

/// The figures for one class, or for all classes together (`class` "all"). Fields that do not
/// apply to the data's kind, or that need a `--classifier`, are absent.
public struct EvaluationRow: Codable, Equatable, Sendable {
    public var `class`: String
    public var records: Int
    /// Records the text metrics sampled (BLEU, Self-BLEU, distinct-n) or the image feature metrics used.
    public var sampled: Int?
    public var bleu2: Double?
    public var bleu3: Double?
    public var bleu4: Double?
    public var selfBleu2: Double?
    public var selfBleu3: Double?
    public var selfBleu4: Double?
    public var distinct1: Double?
    public var distinct2: Double?
    /// Share of records identical to a training record (texts: the same tokens; images: the same pixels).
    public var copyShare: Double?
    /// Share of records identical to an earlier record of the same set.
    public var duplicateShare: Double?
    /// Share of the distinct 4-grams never seen in the training texts.
    public var novelFourGramShare: Double?
    /// Share of records whose intended class the classifier predicts, and the mean probability
    /// it gives the intended class.
    public var classifierAgreement: Double?
    public var meanIntendedConfidence: Double?
    public var precision: Double?
    public var recall: Double?
    public var density: Double?
    public var coverage: Double?
    /// Mean distance between two records of the same class in the classifier's penultimate
    /// features (synthetic, and the real test split): a collapsed generator has a small one.
    /// The "all" row averages the classes.
    public var meanPairwiseDistanceSynthetic: Double?
    public var meanPairwiseDistanceReal: Double?

    public init(class name: String, records: Int) {
        self.class = name
        self.records = records
    }
}

public struct EvaluationReport: Codable, Sendable {
    public struct ClassifierUsed: Codable, Sendable {
        public var path: String
        public var sha256: String
        public var architecture: String
    }

    public struct Settings: Codable, Sendable {
        public var sample: Int
        public var seed: UInt64
        public var neighbours: Int
        public var tokenization: String?
    }

    public var kind: String
    public var classNames: [String]
    public var synthetic: UsedData
    public var reference: UsedData
    public var train: UsedData
    public var classifier: ClassifierUsed?
    public var settings: Settings
    /// The synthetic records, overall then by class.
    public var overall: EvaluationRow
    public var classes: [EvaluationRow]
    /// Texts: the same diversity figures for the real test split, as the mark to compare with.
    public var realTest: [EvaluationRow]?
    public var toolVersion: String
    public var timing: [String: Double]
}

public enum TextMetricTokenization {
    public static let description = "lower-cased words (letters and digits; an apostrophe inside a word stays) and every other non-space character as a token of its own"
}

/// `reptile evaluate`: how faithful and how diverse synthetic shards are, against a real dataset.
public func evaluate(_ options: EvaluateOptions) throws -> EvaluationReport {
    let started = Date()
    guard options.sampleSize >= 2 else {
        throw ReptileError("--sample must be at least 2, got \(options.sampleSize)", fix: "use e.g. 500")
    }
    let synthetic = try ShardSource(options.synthetic, defaultSplit: "synthetic")
    let datasetFolder = try DatasetFolder(path: options.dataset)
    for split in ["test", "train"] where datasetFolder.info.splits[split] == nil {
        throw ReptileError(path: options.dataset, "has no \(quoted(split)) split (it has \(datasetFolder.info.splitNames.joined(separator: ", ")))",
                           fix: "give a dataset made by `reptile ingest` (it writes train and test)")
    }
    let test = try ShardSource(options.dataset + ":test", defaultSplit: "test")
    let train = try ShardSource(options.dataset + ":train", defaultSplit: "train")
    let classNames = test.classNames
    guard synthetic.kind == test.kind else {
        throw ReptileError(path: synthetic.firstShardPath, "holds \(synthetic.kind.rawValue)s but \(options.dataset) holds \(test.kind.rawValue)s",
                           fix: "evaluate synthetic \(test.kind.rawValue)s against this dataset, or give the dataset the generator was trained on")
    }
    guard Set(synthetic.classNames) == Set(classNames), synthetic.classNames.count == classNames.count else {
        let extra = synthetic.classNames.filter { !classNames.contains($0) }
        let missing = classNames.filter { !synthetic.classNames.contains($0) }
        var difference: [String] = []
        if !extra.isEmpty { difference.append("classes \(extra.map { quoted($0) }.joined(separator: ", ")) not in \(options.dataset)") }
        if !missing.isEmpty { difference.append("lacks \(missing.map { quoted($0) }.joined(separator: ", "))") }
        throw ReptileError(path: synthetic.firstShardPath, "class set differs from \(options.dataset)'s (\(difference.joined(separator: "; ")))",
                           fix: "give the dataset the generator was trained on (classes \(classNames.joined(separator: ",")))")
    }
    if synthetic.kind == .image, synthetic.folder.info.imageShape != test.folder.info.imageShape {
        throw ReptileError(path: synthetic.firstShardPath,
                           "images are \(synthetic.folder.info.imageShape.map { "\($0)" } ?? "?") but \(options.dataset) has \(test.folder.info.imageShape.map { "\($0)" } ?? "?")",
                           fix: "give the dataset the generator was trained on")
    }
    // Synthetic class index → the dataset's (classes in another order are matched by name).
    let syntheticToDataset = synthetic.classNames.map { classNames.firstIndex(of: $0)! }

    var classifierUsed: EvaluationReport.ClassifierUsed? = nil
    var model: (any TrainableClassifier)? = nil
    if let path = options.classifier {
        let loaded = try ClassifierArchitectures.load(from: path)
        _ = try synthetic.labelMap(for: loaded.config, checkpoint: path)
        model = loaded
        classifierUsed = .init(path: path, sha256: try SHA256.hex(ofFileAt: path), architecture: loaded.config.architecture)
        BLAS.setThreadCount(options.threads)
    }

    var overall = EvaluationRow(class: "all", records: 0)
    var classes = classNames.map { EvaluationRow(class: $0, records: 0) }
    var realTest: [EvaluationRow]? = nil
    if synthetic.kind == .text {
        realTest = try evaluateTexts(synthetic: synthetic, syntheticToDataset: syntheticToDataset, test: test, train: train,
                                     classNames: classNames, options: options, overall: &overall, classes: &classes)
    } else {
        try evaluateImageCopies(synthetic: synthetic, syntheticToDataset: syntheticToDataset, train: train, classNames: classNames,
                                overall: &overall, classes: &classes)
    }
    if let model {
        try evaluateWithClassifier(model, checkpoint: options.classifier!, synthetic: synthetic, syntheticToDataset: syntheticToDataset,
                                   test: test, classNames: classNames, options: options, overall: &overall, classes: &classes)
    }
    return EvaluationReport(
        kind: synthetic.kind.rawValue, classNames: classNames, synthetic: try synthetic.usedData(), reference: try test.usedData(),
        train: try train.usedData(), classifier: classifierUsed,
        settings: .init(sample: options.sampleSize, seed: options.seed, neighbours: options.neighbourCount,
                        tokenization: synthetic.kind == .text ? TextMetricTokenization.description : nil),
        overall: overall, classes: classes, realTest: realTest, toolVersion: ReptileVersion.current,
        timing: ["seconds": (Date().timeIntervalSince(started) * 1000).rounded() / 1000])
}

// MARK: - Reading

/// Every record's label (mapped to the dataset's classes) and text of a split, in shard order.
func readTexts(_ source: ShardSource, labelMap: [Int]? = nil) throws -> (texts: [String], labels: [Int]) {
    var texts: [String] = [], labels: [Int] = []
    for shard in try source.folder.shards(of: source.split) {
        texts += try shard.texts(0..<shard.count)
        labels += try shard.labels().map { labelMap?[Int($0)] ?? Int($0) }
    }
    return (texts, labels)
}

func readLabels(_ source: ShardSource, labelMap: [Int]? = nil) throws -> [Int] {
    try source.folder.shards(of: source.split).flatMap { shard in try shard.labels().map { labelMap?[Int($0)] ?? Int($0) } }
}

/// A seeded sample of at most `size` of `indices` (their order shuffled too).
func seededSample(_ indices: [Int], size: Int, seed: UInt64, purpose: String) -> [Int] {
    var shuffled = indices
    var random = SeededRandom(seed: seed).derived(purpose)
    random.shuffle(&shuffled)
    return Array(shuffled.prefix(size))
}

// MARK: - Texts

private func evaluateTexts(synthetic: ShardSource, syntheticToDataset: [Int], test: ShardSource, train: ShardSource,
                           classNames: [String], options: EvaluateOptions,
                           overall: inout EvaluationRow, classes: inout [EvaluationRow]) throws -> [EvaluationRow] {
    let tokenizer = MetricTokenizer()
    let generated = try readTexts(synthetic, labelMap: syntheticToDataset)
    let reference = try readTexts(test)
    let training = try readTexts(train)
    let generatedTokens = generated.texts.map(tokenizer.tokens)
    let referenceTokens = reference.texts.map(tokenizer.tokens)
    let trainingTokens = training.texts.map(tokenizer.tokens)
    let trainingTexts = Set(trainingTokens)
    let trainingFourGrams = ngramSet(trainingTokens, order: 4)

    /// Fidelity and diversity of the generated records at `indices` against `referenceIndices`.
    func row(_ name: String, indices: [Int], referenceIndices: [Int]) -> EvaluationRow {
        var row = EvaluationRow(class: name, records: indices.count)
        guard !indices.isEmpty else { return row }
        let sample = seededSample(indices, size: options.sampleSize, seed: options.seed, purpose: "synthetic/\(name)").map { generatedTokens[$0] }
        row.sampled = sample.count
        if let bleu = meanBLEU(hypotheses: sample, references: referenceIndices.map { referenceTokens[$0] }) {
            (row.bleu2, row.bleu3, row.bleu4) = (bleu[2], bleu[3], bleu[4])
        }
        let all = indices.map { generatedTokens[$0] }
        addDiversity(to: &row, sample: sample, all: all)
        var seen = Set<[Int32]>(), duplicates = 0
        for text in all where !seen.insert(text).inserted { duplicates += 1 }
        row.duplicateShare = Double(duplicates) / Double(all.count)
        return row
    }

    /// Self-BLEU and distinct-n of the sample; copies of training texts and novel 4-grams over all.
    func addDiversity(to row: inout EvaluationRow, sample: [[Int32]], all: [[Int32]]) {
        if let selfBLEU = meanSelfBLEU(sample) {
            (row.selfBleu2, row.selfBleu3, row.selfBleu4) = (selfBLEU[2], selfBLEU[3], selfBLEU[4])
        }
        row.distinct1 = distinctNGramShare(sample, order: 1)
        row.distinct2 = distinctNGramShare(sample, order: 2)
        row.copyShare = Double(all.filter { trainingTexts.contains($0) }.count) / Double(all.count)
        row.novelFourGramShare = novelNGramShare(all, seen: trainingFourGrams, order: 4)
    }

    /// The same diversity figures for real test texts, as the mark to compare with.
    func realRow(_ name: String, indices: [Int]) -> EvaluationRow {
        var row = EvaluationRow(class: name, records: indices.count)
        guard !indices.isEmpty else { return row }
        let sample = seededSample(indices, size: options.sampleSize, seed: options.seed, purpose: "test/\(name)").map { referenceTokens[$0] }
        row.sampled = sample.count
        addDiversity(to: &row, sample: sample, all: indices.map { referenceTokens[$0] })
        return row
    }

    overall = row("all", indices: Array(generated.texts.indices), referenceIndices: Array(reference.texts.indices))
    var real = [realRow("all", indices: Array(reference.texts.indices))]
    for (classIndex, name) in classNames.enumerated() {
        let mine = generated.labels.indices.filter { generated.labels[$0] == classIndex }
        let theirs = reference.labels.indices.filter { reference.labels[$0] == classIndex }
        classes[classIndex] = row(name, indices: mine, referenceIndices: theirs)
        real.append(realRow(name, indices: theirs))
    }
    return real
}

// MARK: - Images

/// Exact copies of training images and duplicates among the synthetic ones.
private func evaluateImageCopies(synthetic: ShardSource, syntheticToDataset: [Int], train: ShardSource, classNames: [String],
                                 overall: inout EvaluationRow, classes: inout [EvaluationRow]) throws {
    let block = 1024
    var trainingImages = Set<[UInt8]>()
    for shard in try train.folder.shards(of: train.split) {
        let size = shard.imageShape!.pixelCount
        for start in stride(from: 0, to: shard.count, by: block) {
            let pixels = try shard.images(start..<min(shard.count, start + block))
            for offset in stride(from: 0, to: pixels.count, by: size) { trainingImages.insert(Array(pixels[offset..<(offset + size)])) }
        }
    }
    var records = [Int](repeating: 0, count: classNames.count)
    var copies = records, duplicates = records
    var seen = Set<[UInt8]>()
    for shard in try synthetic.folder.shards(of: synthetic.split) {
        let size = shard.imageShape!.pixelCount
        let labels = try shard.labels()
        for start in stride(from: 0, to: shard.count, by: block) {
            let pixels = try shard.images(start..<min(shard.count, start + block))
            for (offset, row) in (start..<min(shard.count, start + block)).enumerated() {
                let image = Array(pixels[(offset * size)..<((offset + 1) * size)])
                let label = syntheticToDataset[Int(labels[row])]
                records[label] += 1
                if trainingImages.contains(image) { copies[label] += 1 }
                if !seen.insert(image).inserted { duplicates[label] += 1 }
            }
        }
    }
    for index in classNames.indices {
        classes[index].records = records[index]
        if records[index] > 0 {
            classes[index].copyShare = Double(copies[index]) / Double(records[index])
            classes[index].duplicateShare = Double(duplicates[index]) / Double(records[index])
        }
    }
    let total = records.reduce(0, +)
    overall.records = total
    overall.copyShare = Double(copies.reduce(0, +)) / Double(max(1, total))
    overall.duplicateShare = Double(duplicates.reduce(0, +)) / Double(max(1, total))
}

// MARK: - Classifier

/// Agreement and intended-class confidence (both kinds) and, for the image CNN, precision /
/// recall / density / coverage and within-class distances in its penultimate features.
private func evaluateWithClassifier(_ model: any TrainableClassifier, checkpoint: String, synthetic: ShardSource,
                                    syntheticToDataset: [Int], test: ShardSource, classNames: [String], options: EvaluateOptions,
                                    overall: inout EvaluationRow, classes: inout [EvaluationRow]) throws {
    let syntheticToClassifier = try synthetic.labelMap(for: model.config, checkpoint: checkpoint)
    let testToClassifier = try test.labelMap(for: model.config, checkpoint: checkpoint)
    let imageModel = model as? ImageCNNClassifier

    // Which synthetic records the feature metrics use: a seeded sample per class.
    let syntheticLabels = try readLabels(synthetic, labelMap: syntheticToDataset)
    var selected = [Bool](repeating: false, count: syntheticLabels.count)
    if imageModel != nil {
        for (classIndex, name) in classNames.enumerated() {
            let indices = syntheticLabels.indices.filter { syntheticLabels[$0] == classIndex }
            for index in seededSample(indices, size: options.sampleSize, seed: options.seed, purpose: "synthetic/\(name)") { selected[index] = true }
        }
    }

    let required = model.parameters.map(\.requiresGradient)
    model.setParametersRequireGradient(false)
    model.setTraining(false)
    defer { for (parameter, wasRequired) in zip(model.parameters, required) { parameter.requiresGradient = wasRequired } }

    /// Runs the classifier over a split; per record: agreement, intended-class probability and
    /// (when `keep` says so) features, which land in `features[class]` (dataset class order).
    func run(_ source: ShardSource, toClassifier: [Int], toDataset: [Int]?, keep: (Int) -> Bool,
             perRecord: (Int, Int, Bool, Double) -> Void) throws -> [FeaturePoints] {
        let reader = try ShardBatchReader(folder: source.folder, split: source.split, batchSize: options.batchSize, shuffle: false, seed: 0,
                                          scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset)
        var raw = ShardBatch(), batch = ClassifierBatch(), random = SeededRandom(seed: 0)
        var features: [FeaturePoints] = classNames.map { _ in FeaturePoints(dimension: 1) }
        var position = 0
        let classCount = model.config.classNames.count
        while try reader.next(into: &raw) {
            batch.labels = raw.labels.map { toClassifier[Int($0)] }
            batch.images = raw.images
            batch.texts = raw.texts
            let logits: Tensor, batchFeatures: Tensor?
            if let imageModel {
                let outputs = imageModel.logitsAndFeatures(for: batch)
                (logits, batchFeatures) = (outputs.logits.value, outputs.features.value)
            } else {
                (logits, batchFeatures) = (model.logits(for: batch, random: &random).value, nil)
            }
            let scores = logits.scalars
            let featureValues = batchFeatures?.scalars
            let dimension = batchFeatures.map { $0.shape[1] } ?? 1
            for row in 0..<batch.count {
                let rowScores = scores[(row * classCount)..<((row + 1) * classCount)]
                let maximum = rowScores.max()!
                let predicted = rowScores.firstIndex(of: maximum)! - row * classCount
                let total = rowScores.reduce(0.0) { $0 + exp(Double($1 - maximum)) }
                let intended = batch.labels[row]
                let probability = exp(Double(rowScores[row * classCount + intended] - maximum)) / total
                let datasetClass = toDataset?[Int(raw.labels[row])] ?? Int(raw.labels[row])
                perRecord(position, datasetClass, predicted == intended, probability)
                if let featureValues, keep(position) {
                    if features[datasetClass].dimension != dimension { features[datasetClass] = FeaturePoints(dimension: dimension) }
                    features[datasetClass].append(featureValues[(row * dimension)..<((row + 1) * dimension)])
                }
                position += 1
            }
        }
        return features
    }

    var agreed = [Int](repeating: 0, count: classNames.count), counted = agreed
    var confidence = [Double](repeating: 0, count: classNames.count)
    let syntheticFeatures = try run(synthetic, toClassifier: syntheticToClassifier, toDataset: syntheticToDataset, keep: { selected[$0] }) {
        _, datasetClass, agrees, probability in
        counted[datasetClass] += 1
        if agrees { agreed[datasetClass] += 1 }
        confidence[datasetClass] += probability
    }
    for index in classNames.indices where counted[index] > 0 {
        classes[index].classifierAgreement = Double(agreed[index]) / Double(counted[index])
        classes[index].meanIntendedConfidence = confidence[index] / Double(counted[index])
    }
    let total = counted.reduce(0, +)
    overall.records = total
    overall.classifierAgreement = Double(agreed.reduce(0, +)) / Double(max(1, total))
    overall.meanIntendedConfidence = confidence.reduce(0, +) / Double(max(1, total))

    guard imageModel != nil else { return }
    let realFeatures = try run(test, toClassifier: testToClassifier, toDataset: nil, keep: { _ in true }) { _, _, _, _ in }
    let k = options.neighbourCount
    var allReal: FeaturePoints? = nil, allFake: FeaturePoints? = nil
    for index in classNames.indices {
        let real = realFeatures[index], fake = syntheticFeatures[index]
        classes[index].sampled = fake.count
        if real.count > 1 { allReal == nil ? (allReal = real) : allReal!.append(contentsOf: real) }
        if fake.count > 1 { allFake == nil ? (allFake = fake) : allFake!.append(contentsOf: fake) }
        guard real.count > k, fake.count > k else {
            if fake.count > 1 { classes[index].meanPairwiseDistanceSynthetic = nearestNeighbourRadii(fake, k: min(k, fake.count - 1)).meanPairwiseDistance }
            if real.count > 1 { classes[index].meanPairwiseDistanceReal = nearestNeighbourRadii(real, k: min(k, real.count - 1)).meanPairwiseDistance }
            continue
        }
        let realRadii = nearestNeighbourRadii(real, k: k), fakeRadii = nearestNeighbourRadii(fake, k: k)
        let prdc = precisionRecallDensityCoverage(real: real, realRadii: realRadii.radii, fake: fake, fakeRadii: fakeRadii.radii, k: k)
        (classes[index].precision, classes[index].recall, classes[index].density, classes[index].coverage) =
            (prdc.precision, prdc.recall, prdc.density, prdc.coverage)
        classes[index].meanPairwiseDistanceSynthetic = fakeRadii.meanPairwiseDistance
        classes[index].meanPairwiseDistanceReal = realRadii.meanPairwiseDistance
    }
    if let allReal, let allFake, let prdc = precisionRecallDensityCoverage(real: allReal, fake: allFake, k: k) {
        (overall.precision, overall.recall, overall.density, overall.coverage) = (prdc.precision, prdc.recall, prdc.density, prdc.coverage)
        overall.sampled = allFake.count
    }
    // Within-class distances averaged over the classes that have both (distances across classes
    // would mostly measure how far apart the classes are).
    let both = classes.filter { $0.meanPairwiseDistanceSynthetic != nil && $0.meanPairwiseDistanceReal != nil }
    if !both.isEmpty {
        overall.meanPairwiseDistanceSynthetic = both.reduce(0) { $0 + $1.meanPairwiseDistanceSynthetic! } / Double(both.count)
        overall.meanPairwiseDistanceReal = both.reduce(0) { $0 + $1.meanPairwiseDistanceReal! } / Double(both.count)
    }
}
