import Foundation
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

    /// The GRU's states [batch, time, hidden] for tokens [batch, time] from the classes' initial
    /// states, without the output projection: a caller that scores only some positions (the
    /// non-padding ones) projects just those rows with `output`.
    public func states(tokens: [Int], classes: [Int]) -> RecurrentOutput {
        let batch = classes.count
        precondition(batch > 0 && tokens.count % batch == 0,
                     "TextGenerator: \(tokens.count) tokens do not split into \(batch) sequences")
        let embedded = tokenEmbedding(tokens, indexShape: [batch, tokens.count / batch])
        return recurrent(embedded, initialState: classEmbedding(classes, indexShape: [batch]))
    }

    /// The same from an explicit initial state [batch, hidden] (sampling one step at a time).
    public func callAsFunction(tokens: [Int], initialState: Variable, batch: Int, time: Int) -> (logits: Variable, states: RecurrentOutput) {
        let embedded = tokenEmbedding(tokens, indexShape: [batch, time])
        let states = recurrent(embedded, initialState: initialState)
        let logits = output(reshape(states.states, [batch * time, recurrent.hiddenSize]))
        return (logits, states)
    }
}

extension TextGenerator {
    /// Samples `length` tokens per sequence, one step at a time from the class's initial state,
    /// starting from `startToken`: tokens [classes.count, length] flattened. Records no graph.
    public func sample(classes: [Int], length: Int, startToken: Int, temperature: Float = 1,
                       random: inout SeededRandom) -> [Int] {
        precondition(length >= 0 && temperature > 0, "TextGenerator.sample: length \(length), temperature \(temperature)")
        let batch = classes.count
        // Inference only: with no parameter needing a gradient, the ops keep no backward closures.
        let required = parameters.map(\.requiresGradient)
        setParametersRequireGradient(false)
        defer { for (parameter, wasRequired) in zip(parameters, required) { parameter.requiresGradient = wasRequired } }
        var state = classEmbedding(classes, indexShape: [batch])
        var current = [Int](repeating: startToken, count: batch)
        var sequences = [[Int]](repeating: [], count: batch)
        for _ in 0..<length {
            let (logits, states) = self(tokens: current, initialState: state, batch: batch, time: 1)
            state = states.last
            let scores = logits.value.readPointer
            for row in 0..<batch {
                current[row] = sampleCategorical(scores + row * vocabularySize, count: vocabularySize,
                                                 temperature: temperature, random: &random)
                sequences[row].append(current[row])
            }
        }
        return sequences.flatMap { $0 }
    }
}

/// An index drawn with probability softmax(scores / temperature), by inverting the cumulative sum.
func sampleCategorical(_ scores: UnsafePointer<Float>, count: Int, temperature: Float, random: inout SeededRandom) -> Int {
    var maximum = -Float.infinity
    for index in 0..<count { maximum = max(maximum, scores[index]) }
    var total: Double = 0
    for index in 0..<count { total += Double(expf((scores[index] - maximum) / temperature)) }
    var remaining = random.nextUnitDouble() * total
    for index in 0..<count {
        remaining -= Double(expf((scores[index] - maximum) / temperature))
        if remaining < 0 { return index }
    }
    // Rounding can leave a sliver past the last element.
    return count - 1
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
        output(features(tokens: tokens, batch: batch))
    }

    /// The pooled convolution features [batch, channels · widths] the output layer reads (a
    /// class-aware discriminator adds its projection term on them).
    public func features(tokens: [Int], batch: Int) -> Variable {
        let time = tokens.count / batch
        // [B, L, E] → [B, E, L]: conv1d wants channels before time.
        let embedded = transposeLastTwoAxes(embedding(tokens, indexShape: [batch, time]))
        return concat(convolutions.map { maxOverTime(relu($0(embedded))) }, alongAxis: 1)
    }
}
