import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

// A text run's folder, outputs/RUN/ (the image run's layout, ImageGANRun.swift):
//
//   checkpoint.h5          the latest state, replaced atomically after every MLE epoch,
//                          discriminator epoch and PPO iteration: generator (being trained),
//                          mle_generator (the best epoch's weights: the pre-PPO generator),
//                          discriminator, ppo_generator and value_head (after PPO), their Adam
//                          states, the random streams, the counters, and the config as `config`
//   config.json            the same config (vocabulary included), for people
//   metrics.jsonl          one line per MLE epoch ("phase": "mle"), discriminator epoch
//                          ("discriminator") and PPO iteration ("ppo")
//   samples-NNNN.txt       a few generations per class after MLE epoch NNNN;
//                          samples-ppo-NNNN.txt after PPO iteration NNNN
//   report.json            test-split perplexity of the MLE and the PPO generator
//   synthetic/             written by `reptile generate`

/// PPO settings as a text run records them.
public struct TextPPOSettings: Codable, Equatable, Sendable {
    public var iterations: Int
    public var hyperparameters: TextPPOHyperparameters
    /// w in reward = D logit + w · log p_C(y | text) (the classifier term only with a classifier).
    public var rewardClassifierWeight: Float
    public var refreshDiscriminator: Bool
    public var classifier: String?
    public var classifierSha256: String?
}

/// What a text run was made with: enough to rebuild every network, the vocabulary included.
public struct TextGANRunConfig: Codable, Equatable, Sendable {
    /// Always "text-gan": tells a text run's checkpoint from an image run's or a classifier's.
    public var role = "text-gan"
    public var dataset: String
    public var datasetInfoSha256: String
    public var classNames: [String]
    public var vocabulary: [String]
    public var architecture: TextGANArchitecture
    /// Share of training texts longer than `maximumLength` tokens (cut, with no end marker).
    public var truncatedShare: Double
    /// Share of training tokens outside the vocabulary (they become [UNK] in training).
    public var unknownShare: Double
    /// "val" (the dataset's split) or "train-slice" (a seeded share of train the generator never sees).
    public var validation: String
    public var validationFraction: Double
    public var epochs: Int
    public var patience: Int
    public var batchSize: Int
    public var learningRate: Float
    public var discriminatorEpochs: Int
    public var discriminatorLearningRate: Float
    public var seed: UInt64
    public var threads: Int
    public var ppo: TextPPOSettings?
    /// The sha256 of dataset_info.json without its provenance (`DatasetInfo.contentSHA256`), so a
    /// dataset ingested again from the same sources still resumes; nil in runs made before it.
    public var datasetContentSha256: String?
}

extension RunNames {
    static let mleGenerator = "mle_generator"
    static let valueHead = "value_head"
    static let report = "report.json"
}

/// Every network, optimizer and counter of a text run.
final class TextGANState {
    let config: TextGANRunConfig
    let vocabulary: TextGenerationVocabulary
    let generator: TextGenerator
    let mleGenerator: TextGenerator
    let discriminator: ClassAwareTextDiscriminator
    let generatorOptimizer: Adam
    let discriminatorOptimizer: Adam
    var ppoGenerator: TextGenerator?
    var valueHead: Linear?
    var ppoOptimizer: Adam?
    var step = 0
    var completedEpochs = 0
    var mleFinished = false
    var bestEpoch = 0
    var bestValidationNLL = Double.infinity
    var staleEpochs = 0
    var completedDiscriminatorEpochs = 0
    var completedPPOIterations = 0
    var dataRandom: SeededRandom
    var discriminatorRandom: SeededRandom
    var ppoRandom: SeededRandom

    init(config: TextGANRunConfig) throws {
        self.config = config
        vocabulary = try TextGenerationVocabulary(entries: config.vocabulary)
        let root = SeededRandom(seed: config.seed)
        var initialisation = root.derived("initialisation")
        generator = config.architecture.makeGenerator(name: RunNames.generator, random: &initialisation)
        discriminator = ClassAwareTextDiscriminator(config.architecture, name: RunNames.discriminator, random: &initialisation)
        var unused = root.derived("mle-generator")
        mleGenerator = config.architecture.makeGenerator(name: RunNames.mleGenerator, random: &unused)
        copyWeights(from: generator, to: mleGenerator)
        generatorOptimizer = Adam(parameters: generator.parameters, learningRate: config.learningRate)
        discriminatorOptimizer = Adam(parameters: discriminator.parameters, learningRate: config.discriminatorLearningRate)
        dataRandom = root.derived("data")
        discriminatorRandom = root.derived("discriminator")
        ppoRandom = root.derived("ppo")
    }

    /// Creates the PPO generator (a copy of the MLE generator) and its value head.
    func startPPO(learningRate: Float) {
        guard ppoGenerator == nil else { return }
        var random = SeededRandom(seed: config.seed).derived("ppo-generator")
        let policy = config.architecture.makeGenerator(name: RunNames.ppoGenerator, random: &random)
        copyWeights(from: mleGenerator, to: policy)
        let head = Linear(inputSize: config.architecture.hiddenSize, outputSize: 1, name: RunNames.valueHead, random: &random)
        ppoGenerator = policy
        valueHead = head
        ppoOptimizer = Adam(parameters: policy.parameters + head.parameters, learningRate: learningRate)
    }

    private var layers: [any Layer] {
        var result: [any Layer] = [generator, mleGenerator, discriminator]
        if let ppoGenerator, let valueHead { result += [ppoGenerator, valueHead] }
        return result
    }

    private var optimizers: [String: any Optimizer] {
        var result: [String: any Optimizer] = [RunNames.generatorOptimizer: generatorOptimizer,
                                               RunNames.discriminatorOptimizer: discriminatorOptimizer]
        if let ppoOptimizer { result[RunNames.ppoOptimizer] = ppoOptimizer }
        return result
    }

    private enum Attribute {
        static let mleFinished = "mle_finished", bestEpoch = "best_epoch", bestNLL = "best_validation_nll_bits"
        static let stale = "stale_epochs", discriminatorEpochs = "discriminator_epochs"
        static let data = "data", discriminator = "discriminator", ppo = "ppo"
    }

    /// Writes the checkpoint atomically (temporary name, fsync, rename).
    func save(to path: String, config: TextGANRunConfig) throws {
        let progress = TrainingProgress(
            step: Int64(step), epoch: Int64(completedEpochs),
            randoms: [Attribute.data: dataRandom, Attribute.discriminator: discriminatorRandom, Attribute.ppo: ppoRandom],
            integerAttributes: [RunNames.ppoIterationAttribute: Int64(completedPPOIterations), Attribute.mleFinished: mleFinished ? 1 : 0,
                                Attribute.bestEpoch: Int64(bestEpoch), Attribute.bestNLL: Int64(bitPattern: bestValidationNLL.bitPattern),
                                Attribute.stale: Int64(staleEpochs), Attribute.discriminatorEpochs: Int64(completedDiscriminatorEpochs)])
        try ModelCheckpoint.save(to: path, layers: layers, optimizers: optimizers, progress: progress, config: try StableJSON.string(config))
    }

    static func load(from path: String) throws -> TextGANState {
        let config = try readTextRunConfig(checkpoint: path)
        let state = try TextGANState(config: config)
        let file = try CheckpointFile.read(at: path)
        if file.tensors.contains(where: { $0.name.hasPrefix(RunNames.ppoGenerator + ".") }) {
            state.startPPO(learningRate: config.ppo?.hyperparameters.learningRate ?? TextPPOHyperparameters().learningRate)
        }
        let loaded = try ModelCheckpoint.load(from: path, into: state.layers, optimizers: state.optimizers)
        let integers = loaded.progress.integerAttributes
        state.step = Int(loaded.progress.step)
        state.completedEpochs = Int(loaded.progress.epoch)
        state.completedPPOIterations = Int(integers[RunNames.ppoIterationAttribute] ?? 0)
        state.mleFinished = integers[Attribute.mleFinished] == 1
        state.bestEpoch = Int(integers[Attribute.bestEpoch] ?? 0)
        state.bestValidationNLL = integers[Attribute.bestNLL].map { Double(bitPattern: UInt64(bitPattern: $0)) } ?? .infinity
        state.staleEpochs = Int(integers[Attribute.stale] ?? 0)
        state.completedDiscriminatorEpochs = Int(integers[Attribute.discriminatorEpochs] ?? 0)
        if let random = loaded.progress.randoms[Attribute.data] { state.dataRandom = random }
        if let random = loaded.progress.randoms[Attribute.discriminator] { state.discriminatorRandom = random }
        if let random = loaded.progress.randoms[Attribute.ppo] { state.ppoRandom = random }
        return state
    }
}

/// Overwrites one generator's parameters with another's (same architecture).
func copyWeights(from source: TextGenerator, to target: TextGenerator) {
    for (to, from) in zip(target.parameters, source.parameters) {
        precondition(to.shape == from.shape, "copyWeights between text generators of different shapes")
        from.value.withUnsafeBufferPointer { values in
            to.value.withUnsafeMutableBufferPointer { destination in
                for index in destination.indices { destination[index] = values[index] }
            }
        }
    }
}

/// The kind of run a folder holds, from its checkpoint's config attribute.
public enum RunKind: String, Sendable {
    case image = "image-gan"
    case text = "text-gan"
    /// A pretrained language model fine-tuned on the texts (`train text --generator lm`).
    case textLanguageModel = "text-lm"

    public var isText: Bool { self != .image }

    public static func of(run: String) throws -> RunKind {
        let path = try runCheckpointPath(run: run)
        let file = try CheckpointFile.read(at: path)
        struct Role: Decodable { var role: String }
        guard let text = file.config, let role = try? JSONDecoder().decode(Role.self, from: Data(text.utf8)),
              let kind = RunKind(rawValue: role.role) else {
            throw ReptileError(path: path, "is not a run's checkpoint (no image-gan, text-gan or text-lm config attribute)",
                               fix: "give the run folder made by `reptile train image` or `reptile train text`")
        }
        return kind
    }
}

/// The run config saved in a text run's checkpoint; a one-line error for anything else.
public func readTextRunConfig(checkpoint path: String) throws -> TextGANRunConfig {
    let file = try CheckpointFile.read(at: path)
    guard let text = file.config, let config = try? StableJSON.decode(TextGANRunConfig.self, from: Data(text.utf8)),
          config.role == "text-gan" else {
        throw ReptileError(path: path, "is not a text GAN checkpoint (no text-gan config attribute)",
                           fix: "give the run folder made by `reptile train text`")
    }
    return config
}
