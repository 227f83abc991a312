import ReptileCore

/// The text generator of workload W2: token embedding → one GRU layer → output projection over the
/// vocabulary, conditioned on a class through a learned class embedding used as the GRU's initial
/// state. Defaults: vocabulary 5000, embedding 128, hidden 256, 10 classes.
public final class TextGenerator: Layer {
    public let vocabularySize: Int, classCount: Int
    public let tokenEmbedding: Embedding
    public let classEmbedding: Embedding
    public let recurrent: GRU
    public let output: Linear

    public init(vocabularySize: Int = 5000, embeddingSize: Int = 128, hiddenSize: Int = 256, classCount: Int = 10,
                name: String = "generator", random: inout SeededRandom) {
        self.vocabularySize = vocabularySize
        self.classCount = classCount
        tokenEmbedding = Embedding(vocabularySize: vocabularySize, embeddingSize: embeddingSize,
                                   name: qualifiedName(name, "embedding"), random: &random)
        classEmbedding = Embedding(vocabularySize: classCount, embeddingSize: hiddenSize,
                                   name: qualifiedName(name, "class_embedding"), random: &random)
        recurrent = GRU(inputSize: embeddingSize, hiddenSize: hiddenSize, name: qualifiedName(name, "gru"), random: &random)
        output = Linear(inputSize: hiddenSize, outputSize: vocabularySize, name: qualifiedName(name, "output"), random: &random)
    }

    public var parameters: [Variable] {
        tokenEmbedding.parameters + classEmbedding.parameters + recurrent.parameters + output.parameters
    }

    /// tokens [batch, time] (flattened, row-major), one class per sequence → logits
    /// [batch·time, vocabulary] in the tokens' order, and the GRU's states (for a value head, or
    /// the state to continue sampling from).
    public func callAsFunction(tokens: [Int], classes: [Int]) -> (logits: Variable, states: RecurrentOutput) {
        let batch = classes.count
        precondition(batch > 0 && tokens.count % batch == 0,
                     "TextGenerator: \(tokens.count) tokens do not split into \(batch) sequences")
        let time = tokens.count / batch
        let initialState = classEmbedding(classes, indexShape: [batch])
        return self(tokens: tokens, initialState: initialState, batch: batch, time: time)
    }

    /// The same from an explicit initial state [batch, hidden] (sampling one step at a time).
    public func callAsFunction(tokens: [Int], initialState: Variable, batch: Int, time: Int) -> (logits: Variable, states: RecurrentOutput) {
        let embedded = tokenEmbedding(tokens, indexShape: [batch, time])
        let states = recurrent(embedded, initialState: initialState)
        let logits = output(reshape(states.states, [batch * time, recurrent.hiddenSize]))
        return (logits, states)
    }
}

/// Maximum-likelihood training of the text generator with teacher forcing: cross-entropy of every
/// position's next token, Adam (lr 1e-3).
public final class TextGeneratorTrainer {
    public let model: TextGenerator
    public let optimizer: Adam

    public init(model: TextGenerator, learningRate: Float = 1e-3) {
        self.model = model
        optimizer = Adam(parameters: model.parameters, learningRate: learningRate)
    }

    /// inputTokens and targetTokens [batch, time] flattened (the target is the input shifted by
    /// one), one class per sequence. One forward, backward and update; returns the mean loss.
    @discardableResult
    public func step(inputTokens: [Int], targetTokens: [Int], classes: [Int]) -> Float {
        precondition(inputTokens.count == targetTokens.count,
                     "TextGeneratorTrainer.step: \(inputTokens.count) input tokens but \(targetTokens.count) targets")
        optimizer.zeroGradients()
        let loss = crossEntropy(logits: model(tokens: inputTokens, classes: classes).logits, labels: targetTokens)
        loss.backward()
        optimizer.step()
        return loss.value.scalarValue
    }
}

/// The text discriminator of workload W3 (Kim's CNN for sentence classification): embedding →
/// one Conv1d per filter width → ReLU → max over time → concatenation → Linear to one logit.
/// Defaults: embedding 64, widths 3, 4, 5 with 100 channels each.
public final class TextConvolutionalDiscriminator: Layer {
    public let embedding: Embedding
    public let convolutions: [Conv1d]
    public let output: Linear

    public init(vocabularySize: Int = 5000, embeddingSize: Int = 64, filterWidths: [Int] = [3, 4, 5],
                channelsPerWidth: Int = 100, name: String = "discriminator", random: inout SeededRandom) {
        embedding = Embedding(vocabularySize: vocabularySize, embeddingSize: embeddingSize,
                              name: qualifiedName(name, "embedding"), random: &random)
        convolutions = filterWidths.map { width in
            Conv1d(inputChannels: embeddingSize, outputChannels: channelsPerWidth, kernelSize: width,
                   name: qualifiedName(name, "conv\(width)"), random: &random)
        }
        output = Linear(inputSize: channelsPerWidth * filterWidths.count, outputSize: 1,
                        name: qualifiedName(name, "output"), random: &random)
    }

    public var parameters: [Variable] { embedding.parameters + convolutions.flatMap(\.parameters) + output.parameters }

    /// tokens [batch, time] flattened → real/fake logits [batch, 1]. time must be at least the
    /// widest filter.
    public func callAsFunction(tokens: [Int], batch: Int) -> Variable {
        let time = tokens.count / batch
        // [B, L, E] → [B, E, L]: conv1d wants channels before time.
        let embedded = transposeLastTwoAxes(embedding(tokens, indexShape: [batch, time]))
        let features = convolutions.map { maxOverTime(relu($0(embedded))) }
        return output(concat(features, alongAxis: 1))
    }
}
