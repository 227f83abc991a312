import Foundation
import ReptileCore
import ReptileFormats

// A BERT encoder (all-MiniLM-L6-v2 and its relatives) with Hugging Face's parameter names, so
// `model.safetensors` loads by name: embeddings (word + position + token type 0) → LayerNorm, then
// post-LN transformer layers (self-attention + residual + LayerNorm, GELU feed-forward + residual
// + LayerNorm). Workload W5 of docs/workloads.md.

/// The fields of a Hugging Face BERT `config.json` the encoder needs, under their JSON names
/// (StableJSON maps `hidden_size` ↔ `hiddenSize`), so the same JSON goes into checkpoints.
public struct TextEncoderConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    /// Only "gelu" (the exact erf form) is implemented.
    public var hiddenAct: String
    /// Dropout after the embeddings, the attention output and the feed-forward output (training only).
    public var hiddenDropoutProb: Float?

    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12,
                hiddenAct: String = "gelu", hiddenDropoutProb: Float? = 0.1) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct
        self.hiddenDropoutProb = hiddenDropoutProb
    }

    /// Reads and checks a `config.json`; every problem is one error naming the file.
    public static func read(at path: String) throws -> TextEncoderConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReptileError(path: path, FileManager.default.fileExists(atPath: path) ? "cannot read the encoder config" : "no such file",
                               fix: "the encoder folder must hold config.json, as a Hugging Face download does")
        }
        let config: TextEncoderConfig
        do {
            config = try StableJSON.decode(TextEncoderConfig.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            throw ReptileError(path: path, "lacks \(quoted(key.stringValue.snakeCased))", fix: "give the config.json of a BERT model")
        } catch {
            throw ReptileError(path: path, "is not a BERT config (\(error.localizedDescription))", fix: "give the config.json of a BERT model")
        }
        try config.validate(path: path)
        return config
    }

    public func validate(path: String? = nil) throws {
        let fix = "give the config.json of a BERT model"
        guard hiddenAct == "gelu" else {
            throw ReptileError(path: path, "hidden_act \(quoted(hiddenAct)) is not supported (only \"gelu\", the erf form)", fix: fix)
        }
        guard [vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, maxPositionEmbeddings, typeVocabSize]
            .allSatisfy({ $0 > 0 }) else {
            throw ReptileError(path: path, "sizes must be positive", fix: fix)
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw ReptileError(path: path, "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)", fix: fix)
        }
        guard layerNormEps > 0, (0..<1).contains(hiddenDropoutProb ?? 0) else {
            throw ReptileError(path: path, "layer_norm_eps must be positive and hidden_dropout_prob in [0, 1)", fix: fix)
        }
    }

    public func json() throws -> String { try StableJSON.string(self) }
}

private extension String {
    /// `hiddenSize` → `hidden_size`, for naming a missing key as the file spells it.
    var snakeCased: String {
        unicodeScalars.reduce(into: "") { result, scalar in
            if CharacterSet.uppercaseLetters.contains(scalar) { result += "_" + String(scalar).lowercased() } else { result.unicodeScalars.append(scalar) }
        }
    }
}

/// How parameters start: drawn as BERT initialises them, or zero (weights loaded next).
enum ParameterStart {
    case random(standardDeviation: Float)
    case zeros
}

/// One post-LN transformer layer with BERT's names under `prefix` (`encoder.layer.0`).
///
/// It calls `multiHeadAttention` itself rather than holding a `MultiHeadSelfAttention`, because
/// Hugging Face splits those projections across two modules (`attention.self.query` …,
/// `attention.output.dense`) and the names must match the safetensors file. Dropout applies to
/// the hidden states (hidden_dropout_prob) in training; BERT's dropout on the attention
/// probabilities is not applied (the fused attention op has none).
public final class TransformerEncoderLayer: Layer {
    public let headCount: Int
    public let query: Linear, key: Linear, value: Linear
    public let attentionOutput: Linear
    public let attentionNorm: LayerNorm
    public let intermediate: Linear
    public let output: Linear
    public let outputNorm: LayerNorm
    let dropout: Dropout

    init(config: TextEncoderConfig, prefix: String, makeLinear: (_ inputSize: Int, _ outputSize: Int, _ name: String) -> Linear) {
        let hidden = config.hiddenSize
        headCount = config.numAttentionHeads
        query = makeLinear(hidden, hidden, qualifiedName(prefix, "attention.self.query"))
        key = makeLinear(hidden, hidden, qualifiedName(prefix, "attention.self.key"))
        value = makeLinear(hidden, hidden, qualifiedName(prefix, "attention.self.value"))
        attentionOutput = makeLinear(hidden, hidden, qualifiedName(prefix, "attention.output.dense"))
        attentionNorm = LayerNorm(featureCount: hidden, epsilon: config.layerNormEps, name: qualifiedName(prefix, "attention.output.LayerNorm"))
        intermediate = makeLinear(hidden, config.intermediateSize, qualifiedName(prefix, "intermediate.dense"))
        output = makeLinear(config.intermediateSize, hidden, qualifiedName(prefix, "output.dense"))
        outputNorm = LayerNorm(featureCount: hidden, epsilon: config.layerNormEps, name: qualifiedName(prefix, "output.LayerNorm"))
        dropout = Dropout(probability: config.hiddenDropoutProb ?? 0)
    }

    public var parameters: [Variable] {
        query.parameters + key.parameters + value.parameters + attentionOutput.parameters + attentionNorm.parameters
            + intermediate.parameters + output.parameters + outputNorm.parameters
    }

    public func setTraining(_ training: Bool) { dropout.setTraining(training) }

    /// hidden [B, S, D], mask B·S flags (true for real tokens) → [B, S, D].
    public func callAsFunction(_ hidden: Variable, mask: [Bool], random: inout SeededRandom) -> Variable {
        let context = multiHeadAttention(query: query(hidden), key: key(hidden), value: value(hidden), heads: headCount, mask: mask)
        let attended = attentionNorm(dropout(attentionOutput(context), random: &random) + hidden)
        let expanded = gelu(intermediate(attended))
        return outputNorm(dropout(output(expanded), random: &random) + attended)
    }
}

/// BERT: token ids → contextual hidden states [B, S, hidden]. Parameter names are Hugging Face's
/// (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, …) under
/// `name` (`encoder.` inside a `SentenceClassifier`).
public final class TextEncoder: Layer {
    public let config: TextEncoderConfig
    public let name: String
    public let wordEmbeddings: Variable
    public let positionEmbeddings: Variable
    public let tokenTypeEmbeddings: Variable
    public let embeddingNorm: LayerNorm
    public let layers: [TransformerEncoderLayer]
    let embeddingDropout: Dropout
    public private(set) var isTraining = true

    /// Random weights as BERT initialises them: N(0, 0.02) weights and embeddings, zero biases.
    public convenience init(config: TextEncoderConfig, name: String = "", random: inout SeededRandom) {
        var generator = random
        self.init(config: config, name: name, start: .random(standardDeviation: 0.02), random: &generator)
        random = generator
    }

    /// Zero weights, to be filled by `loadPretrainedWeights` or a checkpoint (drawing 22M random
    /// numbers first would only slow loading down).
    public convenience init(zeroedFor config: TextEncoderConfig, name: String = "") {
        var unused = SeededRandom(seed: 0)
        self.init(config: config, name: name, start: .zeros, random: &unused)
    }

    init(config: TextEncoderConfig, name: String, start: ParameterStart, random: inout SeededRandom) {
        self.config = config
        self.name = name
        /// A parameter under its full (already qualified) name.
        func parameter(_ shape: [Int], _ fullName: String, zero: Bool = false) -> Variable {
            let tensor: Tensor
            switch start {
            case .random(let deviation) where !zero: tensor = Tensor(normalShape: shape, standardDeviation: deviation, random: &random)
            default: tensor = Tensor(zeros: shape)
            }
            return Variable(parameter: tensor, name: fullName)
        }
        let hidden = config.hiddenSize
        wordEmbeddings = parameter([config.vocabSize, hidden], qualifiedName(name, "embeddings.word_embeddings.weight"))
        positionEmbeddings = parameter([config.maxPositionEmbeddings, hidden], qualifiedName(name, "embeddings.position_embeddings.weight"))
        tokenTypeEmbeddings = parameter([config.typeVocabSize, hidden], qualifiedName(name, "embeddings.token_type_embeddings.weight"))
        embeddingNorm = LayerNorm(featureCount: hidden, epsilon: config.layerNormEps, name: qualifiedName(name, "embeddings.LayerNorm"))
        embeddingDropout = Dropout(probability: config.hiddenDropoutProb ?? 0)
        layers = (0..<config.numHiddenLayers).map { index in
            TransformerEncoderLayer(config: config, prefix: qualifiedName(name, "encoder.layer.\(index)")) { inputSize, outputSize, linearName in
                Linear(weight: parameter([outputSize, inputSize], "\(linearName).weight"),
                       bias: parameter([outputSize], "\(linearName).bias", zero: true))
            }
        }
    }

    public var parameters: [Variable] {
        [wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings] + embeddingNorm.parameters + layers.flatMap(\.parameters)
    }

    public func setTraining(_ training: Bool) {
        isTraining = training
        embeddingDropout.setTraining(training)
        for layer in layers { layer.setTraining(training) }
    }

    /// ids and mask [batch, sequence] flattened (mask true for real tokens) → hidden states
    /// [batch, sequence, hidden]. Token type 0 everywhere, positions 0..<sequence.
    public func callAsFunction(ids: [Int], mask: [Bool], batch: Int, sequence: Int, random: inout SeededRandom) -> Variable {
        precondition(ids.count == batch * sequence && mask.count == ids.count,
                     "TextEncoder: \(ids.count) ids and \(mask.count) mask flags for [\(batch), \(sequence)]")
        precondition(sequence <= config.maxPositionEmbeddings,
                     "TextEncoder: sequence of \(sequence) tokens exceeds the \(config.maxPositionEmbeddings) positions")
        let words = embedding(ids, indexShape: [batch, sequence], weight: wordEmbeddings)
        let positions = embedding(Array(0..<sequence), indexShape: [sequence], weight: positionEmbeddings)
        let tokenType = embedding([0], indexShape: [], weight: tokenTypeEmbeddings)
        var hidden = embeddingDropout(embeddingNorm(words + positions + tokenType), random: &random)
        for layer in layers { hidden = layer(hidden, mask: mask, random: &random) }
        return hidden
    }

    /// Evaluation only: no dropout, so no random stream is needed.
    public func callAsFunction(ids: [Int], mask: [Bool], batch: Int, sequence: Int) -> Variable {
        precondition(!isTraining, "TextEncoder in training mode needs a random stream for dropout")
        var unused = SeededRandom(seed: 0)
        return self(ids: ids, mask: mask, batch: batch, sequence: sequence, random: &unused)
    }

    /// Inference from now on: evaluation mode, no gradients, and the gradient buffers released
    /// (91 MB for MiniLM), so forward passes record no graph.
    public func prepareForInference() {
        setTraining(false)
        for parameter in parameters {
            parameter.requiresGradient = false
            parameter.gradient = nil
        }
    }

    // MARK: Pretrained weights

    /// Fills every parameter from a Hugging Face `model.safetensors` by name (with or without a
    /// `bert.` prefix). Missing tensors and wrong shapes are all listed in one error naming the
    /// file; nothing is changed unless everything fits. Tensors the encoder does not use (the
    /// pooler, `position_ids`) are ignored.
    public func loadPretrainedWeights(from path: String) throws {
        let file = try SafeTensorsFile(path: path)
        let prefix = file.entries["embeddings.word_embeddings.weight"] == nil && file.entries["bert.embeddings.word_embeddings.weight"] != nil
            ? "bert." : ""
        var missing: [String] = [], differing: [String] = [], sources: [(Variable, String)] = []
        for parameter in parameters {
            let ownName = parameter.name!
            let fileName = prefix + (name.isEmpty ? ownName : String(ownName.dropFirst(name.count + 1)))
            guard let entry = file.entries[fileName] else {
                missing.append(fileName)
                continue
            }
            if entry.shape != parameter.shape {
                differing.append("\(fileName) is \(entry.shape), expected \(parameter.shape)")
            } else if entry.dataType == .int64 || entry.dataType == .int32 {
                differing.append("\(fileName) holds integers (\(entry.dataType.rawValue)), expected floats")
            } else {
                sources.append((parameter, fileName))
            }
        }
        var problems: [String] = []
        if !missing.isEmpty { problems.append("missing tensors: " + missing.joined(separator: ", ")) }
        if !differing.isEmpty { problems.append("wrong sizes: " + differing.joined(separator: "; ")) }
        guard problems.isEmpty else {
            let count = missing.count + differing.count
            throw ReptileError(path: path, "does not fit the encoder of config.json (\(count) mismatch\(count == 1 ? "" : "es")): "
                               + problems.joined(separator: "; "),
                               fix: "use the model.safetensors that came with this config.json")
        }
        for (parameter, fileName) in sources { parameter.value.copyIn(try file.floats(fileName)) }
    }

    /// An encoder from a Hugging Face folder's `config.json` and `model.safetensors`.
    public static func load(folder: String, name: String = "") throws -> TextEncoder {
        let config = try TextEncoderConfig.read(at: (folder as NSString).appendingPathComponent("config.json"))
        let weightsPath = (folder as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ReptileError(path: weightsPath, "no such file", fix: "the encoder folder must hold model.safetensors, as a Hugging Face download does")
        }
        let encoder = TextEncoder(zeroedFor: config, name: name)
        try encoder.loadPretrainedWeights(from: weightsPath)
        return encoder
    }
}

/// Sentence classification on a text encoder: mean pooling over the real tokens, then a
/// Linear(hidden → classes) head. Parameters are named `encoder.…` and `head.…`.
public final class SentenceClassifier: Layer {
    /// The encoder's name inside the classifier (its parameters' prefix).
    public static let encoderName = "encoder"
    public static let headName = "head"

    public let encoder: TextEncoder
    public let head: Linear
    public var classCount: Int { head.weight.shape[0] }

    /// `encoder` must be named `SentenceClassifier.encoderName`; the head starts as PyTorch's Linear.
    public init(encoder: TextEncoder, classCount: Int, random: inout SeededRandom) {
        precondition(encoder.name == Self.encoderName, "SentenceClassifier's encoder must be named \(Self.encoderName), got \(quoted(encoder.name))")
        precondition(classCount >= 1, "SentenceClassifier needs at least one class, got \(classCount)")
        self.encoder = encoder
        head = Linear(inputSize: encoder.config.hiddenSize, outputSize: classCount, name: Self.headName, random: &random)
    }

    public var parameters: [Variable] { encoder.parameters + head.parameters }

    public func setTraining(_ training: Bool) { encoder.setTraining(training) }

    /// Freezing stops gradients (and their GEMMs) for the encoder; only the head then trains.
    /// Build the optimizer over `trainableParameters`, so AdamW's weight decay leaves a frozen
    /// encoder alone too.
    public func setEncoderFrozen(_ frozen: Bool) {
        encoder.setParametersRequireGradient(!frozen)
    }

    public var isEncoderFrozen: Bool { !(encoder.parameters.first?.requiresGradient ?? false) }

    public var trainableParameters: [Variable] { parameters.filter(\.requiresGradient) }

    /// Mean-pooled sentence embeddings [batch, hidden].
    public func pooledEmbeddings(ids: [Int], mask: [Bool], batch: Int, sequence: Int, random: inout SeededRandom) -> Variable {
        maskedMeanPooling(encoder(ids: ids, mask: mask, batch: batch, sequence: sequence, random: &random), mask: mask)
    }

    /// Class logits [batch, classCount].
    public func callAsFunction(ids: [Int], mask: [Bool], batch: Int, sequence: Int, random: inout SeededRandom) -> Variable {
        head(pooledEmbeddings(ids: ids, mask: mask, batch: batch, sequence: sequence, random: &random))
    }
}

/// Fine-tuning steps: cross-entropy, AdamW over the trainable parameters, optional global-norm
/// clipping. With `headLearningRate` the fresh head gets its own AdamW at that rate (a new linear
/// head learns faster at ~1e-3 than at the encoder's ~2e-5); otherwise one AdamW covers both.
public final class SentenceClassifierTrainer {
    public let model: SentenceClassifier
    /// The encoder's trainable parameters (and the head's, unless `headOptimizer` owns them).
    public let optimizer: AdamW
    /// The head's own optimizer when `headLearningRate` was given.
    public let headOptimizer: AdamW?
    /// Peak rates; `setLearningRateFactor` scales both (a warm-up/decay schedule).
    public let learningRate: Float
    public let headLearningRate: Float?
    public let maximumGradientNorm: Float?

    public init(model: SentenceClassifier, learningRate: Float = 2e-5, headLearningRate: Float? = nil, weightDecay: Float = 0.01,
                maximumGradientNorm: Float? = nil) {
        self.model = model
        self.learningRate = learningRate
        self.headLearningRate = headLearningRate
        if let headLearningRate {
            let headParameters = Set(model.head.parameters.map(ObjectIdentifier.init))
            optimizer = AdamW(parameters: model.trainableParameters.filter { !headParameters.contains(ObjectIdentifier($0)) },
                              learningRate: learningRate, weightDecay: weightDecay)
            headOptimizer = AdamW(parameters: model.head.parameters, learningRate: headLearningRate, weightDecay: weightDecay)
        } else {
            optimizer = AdamW(parameters: model.trainableParameters, learningRate: learningRate, weightDecay: weightDecay)
            headOptimizer = nil
        }
        self.maximumGradientNorm = maximumGradientNorm
    }

    /// Every optimizer the trainer steps, under the names a checkpoint stores their state with.
    public var optimizers: [String: any Optimizer] {
        var result: [String: any Optimizer] = ["optimizer": optimizer]
        if let headOptimizer { result["head_optimizer"] = headOptimizer }
        return result
    }

    /// Scales the peak learning rates (1 = the rates given).
    public func setLearningRateFactor(_ factor: Float) {
        optimizer.learningRate = learningRate * factor
        headOptimizer?.learningRate = (headLearningRate ?? learningRate) * factor
    }

    public func zeroGradients() {
        optimizer.zeroGradients()
        headOptimizer?.zeroGradients()
    }

    /// Clips (over all trainable parameters together) and updates, after `backward()`.
    public func applyGradients() {
        if let maximumGradientNorm { clipGradientNorm(model.trainableParameters, maximumNorm: maximumGradientNorm) }
        optimizer.step()
        headOptimizer?.step()
    }

    /// One forward, backward and update on a padded batch; returns the batch loss.
    @discardableResult
    public func step(ids: [Int], mask: [Bool], batch: Int, sequence: Int, labels: [Int], random: inout SeededRandom) -> Float {
        zeroGradients()
        let logits = model(ids: ids, mask: mask, batch: batch, sequence: sequence, random: &random)
        let loss = crossEntropy(logits: logits, labels: labels)
        loss.backward()
        applyGradients()
        return loss.value.scalarValue
    }
}
