import Foundation
import ReptileCore
import ReptileEmbedding
import ReptileEngine
import ReptileText

/// A text classifier on a pretrained BERT encoder (all-MiniLM-L6-v2): WordPiece tokens → encoder
/// → mean pooling over the real tokens → linear head (`SentenceClassifier`), fine-tuned with
/// AdamW (`SentenceClassifierTrainer`). Its checkpoint is `TextClassifierCheckpoint`'s, which
/// carries the vocabulary, so the checkpoint alone classifies new texts.
public final class MiniLMClassifier: TrainableClassifier {
    public static let architecture = TextClassifierCheckpoint.architecture

    public let config: ClassifierConfig
    public let network: SentenceClassifier
    public let tokenizer: WordPieceTokenizer
    /// Tokens per text, [CLS] and [SEP] included; longer texts are cut.
    public let maximumLength: Int
    /// vocab.txt's text, saved into every checkpoint.
    let vocabularyText: String
    /// Free pooled tensor memory above this many floats is released before a batch: batches of
    /// different lengths leave blocks of different sizes behind.
    private let poolLimit: Int

    /// A fresh classifier over the pretrained encoder in `encoderFolder`, its head drawn from `seed`.
    public convenience init(encoderFolder: String, classNames: [String], maximumLength: Int, seed: UInt64) throws {
        let pretrained = try PretrainedTextEncoder.load(folder: encoderFolder, encoderName: SentenceClassifier.encoderName)
        let positions = pretrained.encoder.config.maxPositionEmbeddings
        guard maximumLength >= 2, maximumLength <= positions else {
            throw ReptileError("--max-length must be between 2 ([CLS] and [SEP]) and the encoder's \(positions) positions, got \(maximumLength)",
                               fix: "give e.g. --max-length 64")
        }
        let config = try TextClassifierCheckpoint.makeConfig(classNames: classNames, pretrained: pretrained, maximumLength: maximumLength)
        var random = SeededRandom(seed: seed)
        let network = TextClassifierCheckpoint.makeModel(pretrained: pretrained, classCount: classNames.count, random: &random)
        self.init(config: config, network: network, tokenizer: pretrained.tokenizer, maximumLength: maximumLength,
                  vocabularyText: pretrained.vocabularyText)
    }

    /// The classifier a minilm checkpoint holds, in evaluation mode.
    public convenience init(checkpoint path: String) throws {
        let loaded = try TextClassifierCheckpoint.load(from: path)
        self.init(config: loaded.config, network: loaded.model, tokenizer: loaded.tokenizer, maximumLength: loaded.maximumLength,
                  vocabularyText: loaded.vocabularyText)
    }

    init(config: ClassifierConfig, network: SentenceClassifier, tokenizer: WordPieceTokenizer, maximumLength: Int, vocabularyText: String) {
        self.config = config
        self.network = network
        self.tokenizer = tokenizer
        self.maximumLength = maximumLength
        self.vocabularyText = vocabularyText
        let encoder = network.encoder.config
        // About four training steps of 32 texts at full length.
        poolLimit = 4 * 32 * maximumLength * (8 * encoder.hiddenSize + 3 * encoder.intermediateSize) * encoder.numHiddenLayers
    }

    public var parameters: [Variable] { network.parameters }
    public func setTraining(_ training: Bool) { network.setTraining(training) }

    public func logits(for batch: ClassifierBatch, random: inout SeededRandom) -> Variable {
        let pool = StoragePool.current
        if pool.pooledElementCount > poolLimit { pool.releaseFreeBlocks() }
        let encoded = tokenizer.encodeBatch(batch.texts, maximumLength: maximumLength)
        return network(ids: encoded.ids, mask: encoded.attentionMask, batch: encoded.count, sequence: encoded.sequenceLength, random: &random)
    }

    public func save(to path: String) throws {
        try TextClassifierCheckpoint.save(network, config: config, vocabularyText: vocabularyText, to: path)
    }

    public func makeOptimization(settings: TrainingSettings, stepsPerEpoch: Int) -> any ClassifierOptimization {
        let recipe = settings.encoder ?? EncoderFineTuning(headLearningRate: settings.learningRate, freezeEncoder: false, encoderFolder: nil)
        network.setEncoderFrozen(recipe.freezeEncoder)
        let trainer = SentenceClassifierTrainer(model: network, learningRate: settings.learningRate, headLearningRate: recipe.headLearningRate,
                                                weightDecay: recipe.weightDecay, maximumGradientNorm: recipe.maximumGradientNorm)
        let totalSteps = settings.epochs * stepsPerEpoch
        let warmup = max(1, Int((Double(totalSteps) * recipe.warmupFraction).rounded()))
        return EncoderFineTuningOptimization(trainer: trainer, rates: .warmupThenLinearDecay(warmupSteps: warmup, totalSteps: totalSteps))
    }
}

/// BERT's recipe driven by the training loop: `SentenceClassifierTrainer`'s AdamW pair under a
/// linear warm-up then linear decay.
final class EncoderFineTuningOptimization: ClassifierOptimization {
    let trainer: SentenceClassifierTrainer
    let rates: LearningRateSchedule

    init(trainer: SentenceClassifierTrainer, rates: LearningRateSchedule) {
        self.trainer = trainer
        self.rates = rates
    }

    var learningRate: Float { trainer.optimizer.learningRate }
    func zeroGradients() { trainer.zeroGradients() }
    func schedule(step: Int) { trainer.setLearningRateFactor(rates.factor(atStep: step)) }
    func applyGradients() { trainer.applyGradients() }
    var optimizers: [String: any Optimizer] { trainer.optimizers }
}
