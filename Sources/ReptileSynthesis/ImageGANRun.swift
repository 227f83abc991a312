import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
#if canImport(Glibc)
import Glibc
#endif

// A training run's folder, outputs/RUN/:
//
//   checkpoint.h5      the latest state (replaced atomically every epoch / PPO iteration):
//                      generator, ema_generator, discriminator, ppo_generator (after PPO),
//                      their Adam states, the random streams, step/epoch/ppo_iteration, and the
//                      run config (JSON) as its `config` attribute
//   config.json        the same config, for people
//   metrics.jsonl      one line per epoch ("phase": "gan") and per PPO iteration ("phase": "ppo")
//   samples/           epoch-0001.png …: one row per class from fixed noise (EMA generator)
//   synthetic/         written by `reptile generate`

/// PPO settings as the run records them.
public struct ImagePPOSettings: Codable, Equatable, Sendable {
    public var iterations: Int
    public var sigma: Float
    public var rewardClassifierWeight: Float
    public var klWeight: Float
    public var epochs: Int
    public var rollouts: Int
    public var learningRate: Float
    public var clipRange: Float
    public var refreshDiscriminator: Bool
    /// The reward classifier's checkpoint (as given) and its sha256.
    public var classifier: String?
    public var classifierSha256: String?
}

/// What a run was made with: enough to rebuild every network and to check a resume or a
/// classifier against it.
public struct ImageGANRunConfig: Codable, Equatable, Sendable {
    /// Always "image-gan": tells a GAN run's checkpoint from a classifier's.
    public var role = "image-gan"
    public var dataset: String
    /// The sha256 of the dataset's dataset_info.json (which lists every shard's sha256).
    public var datasetInfoSha256: String
    public var classNames: [String]
    public var imageHeight: Int
    public var imageWidth: Int
    public var imageChannels: Int
    public var architecture: ImageGANArchitecture
    public var diffAugment: Bool
    public var emaDecay: Float
    public var epochs: Int
    /// Passes over the training images that make one epoch: 1, or more for a small dataset, so an
    /// epoch is at least `--min-epoch-steps` (default 100) steps (100 images would
    /// otherwise give one step, one checkpoint and one sample grid per epoch). Nil in runs made
    /// before it existed, which is 1.
    public var passesPerEpoch: Int?
    /// λ of MSGAN's mode-seeking term in the generator's loss (`--mode-seeking`); nil or 0: off.
    public var modeSeekingWeight: Float?
    /// Transforms of DiffAugment when it is on; nil in runs made before the choice existed, which
    /// used translation and cutout.
    public var diffAugmentPolicy: DiffAugmentPolicy?
    /// The adversarial loss; nil in runs made before the choice existed: the non-saturating BCE.
    public var adversarialLoss: AdversarialLoss?
    public var batchSize: Int
    /// Adam's learning rate of G, and of D unless `discriminatorLearningRate` is set (TTUR).
    public var learningRate: Float
    public var discriminatorLearningRate: Float?
    public var seed: UInt64
    public var threads: Int
    public var ppo: ImagePPOSettings?
    /// The sha256 of dataset_info.json without its provenance (`DatasetInfo.contentSHA256`), so a
    /// dataset ingested again from the same sources still resumes; nil in runs made before it.
    public var datasetContentSha256: String?

    public var trainingPassesPerEpoch: Int { passesPerEpoch ?? 1 }
    public var augmentPolicy: DiffAugmentPolicy { diffAugmentPolicy ?? .translationCutout }
    public var loss: AdversarialLoss { adversarialLoss ?? .bce }

    public var imageShape: ImageShape { ImageShape(height: imageHeight, width: imageWidth, channels: imageChannels) }
}

/// The names under which the run's networks and optimizers are saved.
enum RunNames {
    static let checkpoint = "checkpoint.h5"
    static let config = "config.json"
    static let metrics = "metrics.jsonl"
    static let samples = "samples"
    static let synthetic = "synthetic"
    static let generator = "generator"
    static let averageGenerator = "ema_generator"
    static let ppoGenerator = "ppo_generator"
    static let discriminator = "discriminator"
    static let generatorOptimizer = "generator_optimizer"
    static let discriminatorOptimizer = "discriminator_optimizer"
    static let ppoOptimizer = "ppo_optimizer"
    static let ppoIterationAttribute = "ppo_iteration"
    static let noiseStream = "noise"
    static let augmentStream = "augment"
    static let ppoStream = "ppo"
}

/// Every network, optimizer and counter of a run: what a checkpoint saves and restores.
final class ImageGANState {
    let config: ImageGANRunConfig
    let generator: ImageGenerator
    let averageGenerator: ImageGenerator
    let discriminator: ImageDiscriminator
    let generatorOptimizer: Adam
    let discriminatorOptimizer: Adam
    /// Present once PPO has started: the refined generator, initialised from the EMA generator
    /// (which stays frozen from then on and is the pre-PPO generator).
    var ppoGenerator: ImageGenerator?
    var ppoOptimizer: Adam?
    var step = 0
    var completedEpochs = 0
    var completedPPOIterations = 0
    var noiseRandom: SeededRandom
    var augmentRandom: SeededRandom
    var ppoRandom: SeededRandom

    init(config: ImageGANRunConfig) {
        self.config = config
        let root = SeededRandom(seed: config.seed)
        var initialisation = root.derived("initialisation")
        generator = ImageGenerator(config.architecture, name: RunNames.generator, random: &initialisation)
        discriminator = ImageDiscriminator(config.architecture, name: RunNames.discriminator, random: &initialisation)
        var unused = root.derived("average")
        averageGenerator = ImageGenerator(config.architecture, name: RunNames.averageGenerator, random: &unused)
        averageGenerator.copyWeights(from: generator)
        averageGenerator.setTraining(false)
        generatorOptimizer = Adam(parameters: generator.parameters, learningRate: config.learningRate, beta1: 0.5, beta2: 0.999)
        discriminatorOptimizer = Adam(parameters: discriminator.parameters, learningRate: config.discriminatorLearningRate ?? config.learningRate,
                                      beta1: 0.5, beta2: 0.999)
        noiseRandom = root.derived("noise")
        augmentRandom = root.derived("augment")
        ppoRandom = root.derived("ppo")
    }

    /// Creates the PPO generator from the EMA generator (the pre-PPO generator).
    func startPPO(learningRate: Float) {
        guard ppoGenerator == nil else { return }
        var unused = SeededRandom(seed: config.seed).derived("ppo-generator")
        let policy = ImageGenerator(config.architecture, name: RunNames.ppoGenerator, random: &unused)
        policy.copyWeights(from: averageGenerator)
        policy.setTraining(false)
        ppoGenerator = policy
        ppoOptimizer = Adam(parameters: policy.parameters, learningRate: learningRate)
    }

    private var layers: [any Layer] {
        [generator, averageGenerator, discriminator] + (ppoGenerator.map { [$0] } ?? [])
    }

    private var optimizers: [String: any Optimizer] {
        var result: [String: any Optimizer] = [RunNames.generatorOptimizer: generatorOptimizer,
                                               RunNames.discriminatorOptimizer: discriminatorOptimizer]
        if let ppoOptimizer { result[RunNames.ppoOptimizer] = ppoOptimizer }
        return result
    }

    /// Writes the checkpoint atomically (temporary name, fsync, rename).
    func save(to path: String, config: ImageGANRunConfig) throws {
        let progress = TrainingProgress(
            step: Int64(step), epoch: Int64(completedEpochs),
            randoms: [RunNames.noiseStream: noiseRandom, RunNames.augmentStream: augmentRandom, RunNames.ppoStream: ppoRandom],
            integerAttributes: [RunNames.ppoIterationAttribute: Int64(completedPPOIterations)])
        try ModelCheckpoint.save(to: path, layers: layers, optimizers: optimizers, progress: progress, config: try StableJSON.string(config))
    }

    /// Restores everything from a checkpoint written by `save`.
    static func load(from path: String) throws -> ImageGANState {
        let config = try readRunConfig(checkpoint: path)
        let state = ImageGANState(config: config)
        let file = try CheckpointFile.read(at: path)
        if file.tensors.contains(where: { $0.name.hasPrefix(RunNames.ppoGenerator + ".") }) {
            state.startPPO(learningRate: config.ppo?.learningRate ?? 1e-5)
        }
        let loaded = try ModelCheckpoint.load(from: path, into: state.layers, optimizers: state.optimizers)
        state.step = Int(loaded.progress.step)
        state.completedEpochs = Int(loaded.progress.epoch)
        state.completedPPOIterations = Int(loaded.progress.integerAttributes[RunNames.ppoIterationAttribute] ?? 0)
        if let random = loaded.progress.randoms[RunNames.noiseStream] { state.noiseRandom = random }
        if let random = loaded.progress.randoms[RunNames.augmentStream] { state.augmentRandom = random }
        if let random = loaded.progress.randoms[RunNames.ppoStream] { state.ppoRandom = random }
        state.averageGenerator.setTraining(false)
        state.ppoGenerator?.setTraining(false)
        return state
    }
}

/// The run config saved in a GAN checkpoint; a one-line error for anything else.
public func readRunConfig(checkpoint path: String) throws -> ImageGANRunConfig {
    let file = try CheckpointFile.read(at: path)
    guard let text = file.config, let config = try? StableJSON.decode(ImageGANRunConfig.self, from: Data(text.utf8)),
          config.role == "image-gan" else {
        throw ReptileError(path: path, "is not an image GAN checkpoint (no image-gan config attribute)",
                           fix: "give the run folder made by `reptile train image`")
    }
    return config
}

/// outputs/RUN/checkpoint.h5 of a run folder, checked to exist.
public func runCheckpointPath(run: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: run, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ReptileError(path: run, "no such run folder", fix: "train one with `reptile train image --dataset datasets/NAME --out \(run)`")
    }
    let path = URL(fileURLWithPath: run).appendingPathComponent(RunNames.checkpoint).path
    guard FileManager.default.fileExists(atPath: path) else {
        throw ReptileError(path: path, "missing: the run has no checkpoint (it never finished an epoch)",
                           fix: "train it with `reptile train image --dataset datasets/NAME --out \(run) --force`")
    }
    return path
}

/// Writes a small file atomically: temporary name in the same folder, fsync, rename.
func writeAtomically(_ data: Data, to path: String) throws {
    let temporary = path + ".tmp-\(getpid())"
    do {
        try data.write(to: URL(fileURLWithPath: temporary))
        try synchronizeToDisk(temporary)
    } catch let error as ReptileError {
        try? FileManager.default.removeItem(atPath: temporary)
        throw error
    } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        throw ReptileError(path: path, "cannot write (\(error.localizedDescription))", fix: "check free disk space and permissions")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: temporary)
        throw ReptileError(path: path, "cannot move into place (\(reason))", fix: "check the folder's permissions")
    }
}

/// metrics.jsonl: one JSON object a line, appended and flushed as each epoch or iteration ends.
struct MetricsLog {
    let path: String

    func append(_ fields: [String: JSONValue]) throws {
        var line = try StableJSON.encode(JSONValue.object(fields), pretty: false)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ReptileError(path: path, "cannot open for appending", fix: "check the run folder's permissions")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }

    /// On resume: drops the lines of epochs and iterations the checkpoint does not hold (a run killed
    /// after logging an epoch but before its checkpoint replaced the old one), so no line repeats.
    func truncate(toEpochs epochs: Int, ppoIterations: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        var kept = Data()
        for line in data.split(separator: 0x0A) where !line.isEmpty {
            // Plain decoding: the snake_case key strategy must not touch these keys.
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(line)) else { continue }
            if case .integer(let epoch) = value["epoch"] ?? .null, value["phase"] == "gan", epoch > epochs { continue }
            if case .integer(let iteration) = value["iteration"] ?? .null, value["phase"] == "ppo", iteration > ppoIterations { continue }
            kept.append(contentsOf: line)
            kept.append(0x0A)
        }
        try writeAtomically(kept, to: path)
    }
}

/// Four-digit zero padding for per-epoch file names.
func fourDigits(_ value: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
