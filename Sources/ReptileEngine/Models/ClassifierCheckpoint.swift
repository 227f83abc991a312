import Foundation
import ReptileCore
import ReptileFormats

/// What a classifier checkpoint says about itself, saved as its `config` attribute (JSON), so a
/// later stage (finetune, classify, the GAN's PPO reward, generate's confidence) can rebuild the
/// model without knowing how it was trained.
public struct ClassifierConfig: Codable, Equatable, Sendable {
    /// Always "classifier": tells a classifier checkpoint from a GAN run's.
    public var role: String
    /// "image" or "text": the dataset kind it reads.
    public var kind: String
    /// "cnn" (the W4 image CNN), or a text architecture.
    public var architecture: String
    public var classNames: [String]
    /// Images: the input shape (channel-last in shards; the model reads [B, C, H, W] in [-1, 1]).
    public var imageHeight: Int?
    public var imageWidth: Int?
    public var imageChannels: Int?
    /// Architecture-specific settings (vocabulary size, encoder config, …) as JSON text.
    public var settings: [String: String]

    public init(kind: String, architecture: String, classNames: [String], imageHeight: Int? = nil,
                imageWidth: Int? = nil, imageChannels: Int? = nil, settings: [String: String] = [:]) {
        self.role = "classifier"
        self.kind = kind
        self.architecture = architecture
        self.classNames = classNames
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.imageChannels = imageChannels
        self.settings = settings
    }

    public func json() throws -> String { try StableJSON.string(self) }

    /// Reads the `config` attribute of a checkpoint file; errors name the file and what is wrong.
    public static func read(checkpoint path: String) throws -> ClassifierConfig {
        let loaded = try CheckpointFile.read(at: path)
        guard let text = loaded.config,
              let config = try? StableJSON.decode(ClassifierConfig.self, from: Data(text.utf8)),
              config.role == "classifier"
        else {
            throw ReptileError(path: path, "is not a classifier checkpoint (no classifier config attribute)",
                               fix: "pass a checkpoint made by `reptile pretrain` or `reptile finetune`")
        }
        return config
    }
}

/// Pixel scaling shared by every image model: uint8 v ↦ v / 127.5 − 1, so [0, 255] ↦ [-1, 1]
/// (the generator's tanh range). `ShardBatchReader(scale: 2, offset: -1)` gives the same values.
public enum ImageScaling {
    public static let readerScale: Float = 2
    public static let readerOffset: Float = -1
    @inlinable public static func float(_ pixel: UInt8) -> Float { Float(pixel) / 127.5 - 1 }
    @inlinable public static func pixel(_ value: Float) -> UInt8 {
        UInt8(max(0, min(255, ((value + 1) * 127.5).rounded())))
    }
}

/// Channel-last batches (as shards store them) to the engine's channel-first layout.
public func channelsFirst(_ values: [Float], count: Int, height: Int, width: Int, channels: Int) -> Tensor {
    if channels == 1 { return Tensor(shape: [count, 1, height, width], values: values) }
    var result = [Float](repeating: 0, count: values.count)
    let plane = height * width
    values.withUnsafeBufferPointer { source in
        result.withUnsafeMutableBufferPointer { target in
            for image in 0..<count {
                let base = image * plane * channels
                for position in 0..<plane {
                    for channel in 0..<channels {
                        target[base + channel * plane + position] = source[base + position * channels + channel]
                    }
                }
            }
        }
    }
    return Tensor(shape: [count, channels, height, width], values: result)
}

/// An image classifier saved by `reptile pretrain`: the W4 CNN with its config.
public enum ImageClassifierCheckpoint {
    /// Builds the model the config describes (random weights; load fills them).
    public static func makeModel(_ config: ClassifierConfig, seed: UInt64 = 0) throws -> ConvolutionalClassifier {
        guard config.kind == "image", config.architecture == "cnn",
              let height = config.imageHeight, let width = config.imageWidth, let channels = config.imageChannels
        else {
            throw ReptileError("classifier config \(config.kind)/\(config.architecture) is not an image CNN",
                               fix: "use an image classifier checkpoint")
        }
        var random = SeededRandom(seed: seed)
        return ConvolutionalClassifier(inputChannels: channels, imageHeight: height, imageWidth: width,
                                       classCount: config.classNames.count, random: &random)
    }

    /// Loads a classifier checkpoint for inference (evaluation mode, optimizer state ignored).
    public static func load(from path: String) throws -> (model: ConvolutionalClassifier, config: ClassifierConfig) {
        let config = try ClassifierConfig.read(checkpoint: path)
        guard config.kind == "image" else {
            throw ReptileError(path: path, "is a \(config.kind) classifier, not an image classifier",
                               fix: "pass the checkpoint of a classifier pretrained on an image dataset")
        }
        let model = try makeModel(config)
        try ModelCheckpoint.load(from: path, into: model)
        model.setTraining(false)
        return (model, config)
    }

    /// Saves a model with its config (and optionally its optimizer and progress) atomically.
    public static func save(_ model: ConvolutionalClassifier, config: ClassifierConfig, to path: String,
                            optimizer: (any Optimizer)? = nil, progress: TrainingProgress = TrainingProgress()) throws {
        try ModelCheckpoint.save(to: path, model: model, optimizer: optimizer, progress: progress, config: try config.json())
    }
}
