import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileText

/// A text classifier on the pretrained encoder (`SentenceClassifier`), saved in the classifier
/// checkpoint contract (`ClassifierConfig`, ReptileEngine/Models/ClassifierCheckpoint.swift):
///
/// - `config` attribute: kind "text", architecture "minilm", the class names, and `settings`
///   `encoder_config` (the encoder's config.json fields as JSON), `tokenizer_settings` (JSON),
///   `maximum_length`, `vocabulary_path` (where vocab.txt came from, for people) and
///   `vocabulary_sha256`;
/// - root attribute `vocabulary`: vocab.txt's whole text (a variable-length UTF-8 string, which
///   HDF5 keeps in its global heap, so its ~230 KB do not hit the 64 KB object-header limit).
///   `h5py.File(p).attrs["vocabulary"].splitlines()` gives the tokens in id order.
///
/// So a checkpoint is self-contained: loading it needs neither the Hugging Face folder nor network.
public enum TextClassifierCheckpoint {
    public static let architecture = "minilm"
    public static let vocabularyAttribute = "vocabulary"

    public enum SettingKey {
        public static let encoderConfig = "encoder_config"
        public static let tokenizerSettings = "tokenizer_settings"
        public static let maximumLength = "maximum_length"
        public static let vocabularyPath = "vocabulary_path"
        public static let vocabularySHA256 = "vocabulary_sha256"
    }

    /// The config of a classifier over `pretrained` with these classes.
    public static func makeConfig(classNames: [String], pretrained: PretrainedTextEncoder,
                                  maximumLength: Int = WordPieceTokenizer.defaultMaximumLength) throws -> ClassifierConfig {
        ClassifierConfig(kind: "text", architecture: architecture, classNames: classNames, settings: [
            SettingKey.encoderConfig: try pretrained.encoder.config.json(),
            SettingKey.tokenizerSettings: try StableJSON.string(pretrained.tokenizer.settings),
            SettingKey.maximumLength: String(maximumLength),
            SettingKey.vocabularyPath: (pretrained.folder as NSString).appendingPathComponent("vocab.txt"),
            SettingKey.vocabularySHA256: pretrained.vocabularySHA256,
        ])
    }

    /// A classifier over the pretrained encoder (its weights), with a fresh head drawn from `random`.
    public static func makeModel(pretrained: PretrainedTextEncoder, classCount: Int, random: inout SeededRandom) -> SentenceClassifier {
        precondition(pretrained.encoder.name == SentenceClassifier.encoderName,
                     "load the encoder with encoderName: SentenceClassifier.encoderName to build a classifier on it")
        return SentenceClassifier(encoder: pretrained.encoder, classCount: classCount, random: &random)
    }

    /// Saves the model, its config and the vocabulary atomically (optimizer and progress optional).
    public static func save(_ model: SentenceClassifier, config: ClassifierConfig, vocabularyText: String, to path: String,
                            optimizer: (any Optimizer)? = nil, progress: TrainingProgress = TrainingProgress()) throws {
        guard config.settings[SettingKey.vocabularySHA256] == SHA256.hex(of: vocabularyText) else {
            throw ReptileError(path: path, "the vocabulary given does not match the config's vocabulary_sha256",
                               fix: "save with the vocab.txt the classifier was built with")
        }
        var progress = progress
        progress.attributes[vocabularyAttribute] = vocabularyText
        try ModelCheckpoint.save(to: path, model: model, optimizer: optimizer, progress: progress, config: try config.json())
    }

    /// Loads a text classifier checkpoint: the model (evaluation mode), its tokenizer rebuilt from
    /// the stored vocabulary, the config, the maximum length and the vocabulary text (to save again). `optimizer`, when given, gets its
    /// saved state (resuming training; build it over the model's trainable parameters first, so
    /// use `loadConfig` + `makeModel(config:)` for that).
    public static func load(from path: String) throws -> (model: SentenceClassifier, tokenizer: WordPieceTokenizer,
                                                          config: ClassifierConfig, maximumLength: Int, vocabularyText: String) {
        let config = try ClassifierConfig.read(checkpoint: path)
        let model = try makeModel(config: config, path: path)
        let loaded = try ModelCheckpoint.load(from: path, into: model)
        let tokenizer = try makeTokenizer(config: config, attributes: loaded.progress.attributes, path: path)
        model.setTraining(false)
        let maximumLength = Int(config.settings[SettingKey.maximumLength] ?? "") ?? WordPieceTokenizer.defaultMaximumLength
        return (model, tokenizer, config, maximumLength, loaded.progress.attributes[vocabularyAttribute]!)
    }

    /// An untrained classifier of the shape a config describes (zero weights; a checkpoint fills them).
    public static func makeModel(config: ClassifierConfig, path: String) throws -> SentenceClassifier {
        guard config.kind == "text", config.architecture == architecture else {
            throw ReptileError(path: path, "is a \(config.kind)/\(config.architecture) classifier, not a text/\(architecture) one",
                               fix: "pass the checkpoint of a classifier fine-tuned on the pretrained text encoder")
        }
        guard let encoderJSON = config.settings[SettingKey.encoderConfig],
              let encoderConfig = try? StableJSON.decode(TextEncoderConfig.self, from: Data(encoderJSON.utf8)) else {
            throw ReptileError(path: path, "the classifier config has no valid \(SettingKey.encoderConfig) setting",
                               fix: "re-save the classifier with TextClassifierCheckpoint.save")
        }
        try encoderConfig.validate(path: path)
        var random = SeededRandom(seed: 0)
        return SentenceClassifier(encoder: TextEncoder(zeroedFor: encoderConfig, name: SentenceClassifier.encoderName),
                                  classCount: config.classNames.count, random: &random)
    }

    /// The tokenizer stored in a checkpoint: its vocabulary attribute, checked against the config's hash.
    static func makeTokenizer(config: ClassifierConfig, attributes: [String: String], path: String) throws -> WordPieceTokenizer {
        guard let vocabularyText = attributes[vocabularyAttribute] else {
            throw ReptileError(path: path, "has no \(vocabularyAttribute) attribute", fix: "re-save the classifier with TextClassifierCheckpoint.save")
        }
        guard SHA256.hex(of: vocabularyText) == config.settings[SettingKey.vocabularySHA256] else {
            throw ReptileError(path: path, "the stored vocabulary does not match its vocabulary_sha256", fix: "the checkpoint is damaged; save it again")
        }
        let settings = config.settings[SettingKey.tokenizerSettings]
            .flatMap { try? StableJSON.decode(TokenizerSettings.self, from: Data($0.utf8)) } ?? TokenizerSettings()
        return try WordPieceTokenizer(vocabularyText: vocabularyText, settings: settings, path: path)
    }
}
