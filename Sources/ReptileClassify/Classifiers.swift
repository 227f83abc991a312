import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileText

/// One batch as a classifier reads it: images channel-last (B × H × W × C, floats in [-1, 1] per
/// `ImageScaling`, as shards store them) or texts, with their class indices.
public struct ClassifierBatch {
    public var labels: [Int] = []
    public var images: [Float] = []
    public var texts: [String] = []
    public var count: Int { labels.count }
    public init() {}
}

/// A classifier the training loop, evaluation and `classify` drive without knowing what it is:
/// the W4 image CNN, the native text CNN, and later a MiniLM encoder with a linear head. Each one
/// turns a batch into class logits and is rebuilt from its checkpoint's `ClassifierConfig` by
/// `ClassifierArchitectures`.
public protocol TrainableClassifier: Layer {
    var config: ClassifierConfig { get }
    /// Class logits [B, classCount]. `random` drives dropout (in training mode only).
    func logits(for batch: ClassifierBatch, random: inout SeededRandom) -> Variable
    /// Weights and config as one self-contained HDF5 checkpoint.
    func save(to path: String) throws
    /// The optimizer and schedule to train with (default: Adam, warm-up then cosine decay).
    func makeOptimization(settings: TrainingSettings, stepsPerEpoch: Int) -> any ClassifierOptimization
}

extension TrainableClassifier {
    /// Weights and config as one self-contained HDF5 checkpoint (the `ClassifierCheckpoint` layout).
    public func save(to path: String) throws {
        try ModelCheckpoint.save(to: path, model: self, config: try config.json())
    }

    public func makeOptimization(settings: TrainingSettings, stepsPerEpoch: Int) -> any ClassifierOptimization {
        AdamWithCosineDecay(parameters: parameters, settings: settings, stepsPerEpoch: stepsPerEpoch)
    }
}

/// The image classifier: W4's CNN (`ConvolutionalClassifier`) sized for the config's H × W × C.
/// Its parameter names (`classifier.conv1.weight`, …) are those `ImageClassifierCheckpoint` loads.
public final class ImageCNNClassifier: TrainableClassifier {
    public static let architecture = "cnn"
    public let config: ClassifierConfig
    public let network: ConvolutionalClassifier

    public init(config: ClassifierConfig, seed: UInt64) throws {
        self.config = config
        network = try ImageClassifierCheckpoint.makeModel(config, seed: seed)
    }

    public var parameters: [Variable] { network.parameters }
    public var buffers: [Variable] { network.buffers }
    public func setTraining(_ training: Bool) { network.setTraining(training) }

    public func logits(for batch: ClassifierBatch, random: inout SeededRandom) -> Variable {
        let images = channelsFirst(batch.images, count: batch.count, height: config.imageHeight!, width: config.imageWidth!,
                                   channels: config.imageChannels!)
        return network(Variable(images))
    }

    /// Class logits and the penultimate features (one forward pass), for feature-space metrics.
    public func logitsAndFeatures(for batch: ClassifierBatch) -> (logits: Variable, features: Variable) {
        let images = channelsFirst(batch.images, count: batch.count, height: config.imageHeight!, width: config.imageWidth!,
                                   channels: config.imageChannels!)
        let features = network.features(Variable(images))
        return (network.logits(fromFeatures: features), features)
    }
}

/// The native text classifier (Kim's CNN for sentences): word embeddings → Conv1d of widths 3, 4
/// and 5 → ReLU → max over time → dropout → linear. The word vocabulary travels in the config, so
/// the checkpoint alone classifies new texts.
public final class TextCNNClassifier: TrainableClassifier {
    public static let architecture = "text-cnn"

    /// The settings a text CNN keeps in `ClassifierConfig.settings` (one-word keys: the config's
    /// JSON coding converts key case).
    public struct Settings: Equatable, Sendable {
        public var vocabulary: WordVocabulary
        public var maximumLength = 64
        public var embeddingSize = 128
        public var filterWidths = [3, 4, 5]
        public var channelsPerWidth = 100
        public var dropout: Float = 0.5

        public init(vocabulary: WordVocabulary) { self.vocabulary = vocabulary }

        public func encoded() throws -> [String: String] {
            ["vocabulary": try StableJSON.string(vocabulary.entries), "length": String(maximumLength),
             "embedding": String(embeddingSize), "widths": try StableJSON.string(filterWidths),
             "channels": String(channelsPerWidth), "dropout": String(dropout)]
        }

        public init(decoding settings: [String: String]) throws {
            func value(_ key: String) throws -> String {
                guard let text = settings[key] else {
                    throw ReptileError("text-cnn config lacks the setting \(quoted(key))", fix: "re-create the classifier with `reptile pretrain`")
                }
                return text
            }
            let entries = try StableJSON.decode([String].self, from: Data(try value("vocabulary").utf8))
            guard entries.count >= 2, entries[0] == WordVocabulary.padding, entries[1] == WordVocabulary.unknown,
                  let length = Int(try value("length")), let embedding = Int(try value("embedding")),
                  let channels = Int(try value("channels")), let dropout = Float(try value("dropout")),
                  length > 0, embedding > 0, channels > 0, (0..<1).contains(dropout)
            else {
                throw ReptileError("text-cnn config settings are inconsistent", fix: "re-create the classifier with `reptile pretrain`")
            }
            vocabulary = WordVocabulary(entries: entries)
            maximumLength = length
            embeddingSize = embedding
            filterWidths = try StableJSON.decode([Int].self, from: Data(try value("widths").utf8))
            channelsPerWidth = channels
            self.dropout = dropout
        }
    }

    public let config: ClassifierConfig
    public let settings: Settings
    let embedding: Embedding
    let convolutions: [Conv1d]
    let dropout: Dropout
    let output: Linear

    public init(config: ClassifierConfig, seed: UInt64) throws {
        guard config.kind == "text", config.architecture == Self.architecture else {
            throw ReptileError("classifier config \(config.kind)/\(config.architecture) is not a text CNN")
        }
        self.config = config
        let settings = try Settings(decoding: config.settings)
        self.settings = settings
        var random = SeededRandom(seed: seed)
        let name = "classifier"
        embedding = Embedding(vocabularySize: settings.vocabulary.count, embeddingSize: settings.embeddingSize,
                              name: "\(name).embedding", random: &random)
        // Kim (2014) draws random word vectors from U(−0.25, 0.25) rather than N(0, 1): with unit
        // variance the first convolutions saturate and training on a few thousand texts is slower.
        embedding.weight.value = Tensor(uniformShape: embedding.weight.shape, in: -0.25...0.25, random: &random)
        convolutions = settings.filterWidths.map { width in
            Conv1d(inputChannels: settings.embeddingSize, outputChannels: settings.channelsPerWidth, kernelSize: width,
                   name: "\(name).conv\(width)", random: &random)
        }
        dropout = Dropout(probability: settings.dropout)
        output = Linear(inputSize: settings.channelsPerWidth * settings.filterWidths.count, outputSize: config.classNames.count,
                        name: "\(name).output", random: &random)
    }

    public var parameters: [Variable] { embedding.parameters + convolutions.flatMap(\.parameters) + output.parameters }
    public func setTraining(_ training: Bool) { dropout.setTraining(training) }

    /// Word indices [B, L], padded with [PAD] to the longest text of the batch (at least the
    /// widest filter, so every convolution has an output).
    public func tokenIndices(_ texts: [String]) -> (indices: [Int], length: Int) {
        let encoded = texts.map { settings.vocabulary.encode($0, maximumLength: settings.maximumLength) }
        let length = max(settings.filterWidths.max() ?? 1, encoded.map(\.count).max() ?? 0)
        var indices = [Int](repeating: WordVocabulary.paddingIndex, count: texts.count * length)
        for (row, words) in encoded.enumerated() {
            for (position, word) in words.enumerated() { indices[row * length + position] = word }
        }
        return (indices, length)
    }

    public func logits(for batch: ClassifierBatch, random: inout SeededRandom) -> Variable {
        let (indices, length) = tokenIndices(batch.texts)
        // [B, L, E] → [B, E, L]: conv1d wants channels before time.
        let embedded = transposeLastTwoAxes(embedding(indices, indexShape: [batch.count, length]))
        let features = concat(convolutions.map { maxOverTime(relu($0(embedded))) }, alongAxis: 1)
        return output(dropout(features, random: &random))
    }
}

/// Which classifier a config describes, fresh or from a checkpoint. A new architecture is one
/// more case here and one more `TrainableClassifier`.
public enum ClassifierArchitectures {
    public static func defaultArchitecture(for kind: DatasetKind) -> String {
        kind == .image ? ImageCNNClassifier.architecture : TextCNNClassifier.architecture
    }

    public static func known(for kind: DatasetKind) -> [String] {
        kind == .image ? [ImageCNNClassifier.architecture] : [TextCNNClassifier.architecture, MiniLMClassifier.architecture]
    }

    /// A model with fresh weights drawn from `seed`. A minilm classifier starts from pretrained
    /// weights instead: `MiniLMClassifier(encoderFolder:…)`.
    public static func make(_ config: ClassifierConfig, seed: UInt64) throws -> any TrainableClassifier {
        switch (config.kind, config.architecture) {
        case ("image", ImageCNNClassifier.architecture): return try ImageCNNClassifier(config: config, seed: seed)
        case ("text", TextCNNClassifier.architecture): return try TextCNNClassifier(config: config, seed: seed)
        case ("text", MiniLMClassifier.architecture):
            throw ReptileError("a minilm classifier starts from a pretrained text encoder",
                               fix: "give --encoder PATH (a Hugging Face folder such as all-MiniLM-L6-v2)")
        default:
            throw ReptileError("no \(config.kind) classifier architecture \(quoted(config.architecture))",
                               fix: "use \(known(for: DatasetKind(rawValue: config.kind) ?? .image).joined(separator: " or "))")
        }
    }

    /// The classifier a checkpoint holds, weights loaded, in evaluation mode.
    public static func load(from path: String) throws -> any TrainableClassifier {
        let config = try ClassifierConfig.read(checkpoint: path)
        if config.kind == "text" && config.architecture == MiniLMClassifier.architecture {
            return try MiniLMClassifier(checkpoint: path)
        }
        let model: any TrainableClassifier
        do {
            model = try make(config, seed: 0)
        } catch let error as ReptileError {
            throw ReptileError(path: path, error.problem, fix: error.fix)
        }
        try ModelCheckpoint.load(from: path, into: model)
        model.setTraining(false)
        return model
    }
}
