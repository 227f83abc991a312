import Foundation
import ReptileCore
import ReptileEngine

/// The networks of a text run, sized from the data: the W2 generator (embedding 128, GRU 256,
/// class embedding as initial state) over the run's vocabulary, and the W3 CNN discriminator
/// (embedding 64, widths 3, 4, 5 × 100 channels) made class-aware by a projection term.
public struct TextGANArchitecture: Codable, Equatable, Sendable {
    public var vocabularySize: Int
    public var classCount: Int
    /// Tokens per text at most; sequences hold one more position for the end marker.
    public var maximumLength: Int
    public var embeddingSize = 128
    public var hiddenSize = 256
    public var discriminatorEmbeddingSize = 64
    public var filterWidths = [3, 4, 5]
    public var channelsPerWidth = 100

    public init(vocabularySize: Int, classCount: Int, maximumLength: Int) {
        self.vocabularySize = vocabularySize
        self.classCount = classCount
        self.maximumLength = maximumLength
    }

    /// Positions of a generated or target sequence: the tokens and the end marker.
    public var sequenceLength: Int { maximumLength + 1 }
    /// What the discriminator reads: every sequence padded to this (at least the widest filter).
    public var discriminatorLength: Int { max(sequenceLength, filterWidths.max() ?? 1) }

    func makeGenerator(name: String, random: inout SeededRandom) -> TextGenerator {
        TextGenerator(vocabularySize: vocabularySize, embeddingSize: embeddingSize, hiddenSize: hiddenSize, classCount: classCount,
                      name: name, random: &random)
    }
}

/// The W3 CNN with a projection term (Miyato & Koyama 2018): logit(x, y) = w·φ(x) + b + e_y·φ(x),
/// with φ the pooled convolution features and e_y a learned class embedding, so the score asks
/// "is this a real text of class y" rather than "a real text".
public final class ClassAwareTextDiscriminator: Layer {
    public let network: TextConvolutionalDiscriminator
    public let classProjection: Embedding

    public init(_ architecture: TextGANArchitecture, name: String, random: inout SeededRandom) {
        network = TextConvolutionalDiscriminator(vocabularySize: architecture.vocabularySize, embeddingSize: architecture.discriminatorEmbeddingSize,
                                                 filterWidths: architecture.filterWidths, channelsPerWidth: architecture.channelsPerWidth,
                                                 name: name, random: &random)
        classProjection = Embedding(vocabularySize: architecture.classCount,
                                    embeddingSize: architecture.channelsPerWidth * architecture.filterWidths.count,
                                    name: "\(name).class_projection", random: &random)
        // Small at first: unit-variance rows over 300 ReLU features would swamp the shared term.
        classProjection.weight.value = Tensor(normalShape: classProjection.weight.shape, standardDeviation: 0.05, random: &random)
    }

    public var parameters: [Variable] { network.parameters + classProjection.parameters }

    /// tokens [batch, length] flattened, one class per row → logits [batch, 1].
    public func callAsFunction(tokens: [Int], classes: [Int]) -> Variable {
        let batch = classes.count
        let features = network.features(tokens: tokens, batch: batch)
        let projection = sum(features * classProjection(classes, indexShape: [batch]), alongAxis: 1)
        return network.output(features) + reshape(projection, [batch, 1])
    }

    /// Logits without recording a graph.
    func scores(tokens: [Int], classes: [Int]) -> [Float] {
        withoutGradients(self) { self(tokens: tokens, classes: classes).value.scalars }
    }
}

/// Runs `body` with the layer's parameters not requiring gradients (no backward closures kept),
/// restoring their previous state afterwards.
func withoutGradients<Result>(_ layer: any Layer, _ body: () throws -> Result) rethrows -> Result {
    let required = layer.parameters.map(\.requiresGradient)
    layer.setParametersRequireGradient(false)
    defer { for (parameter, wasRequired) in zip(layer.parameters, required) { parameter.requiresGradient = wasRequired } }
    return try body()
}

/// Sequences of token indices as padded batches.
enum TokenBatches {
    /// Rows padded with [PAD] to `length` (longer rows are cut): [rows.count, length] flattened.
    static func padded(_ rows: [[Int]], length: Int) -> [Int] {
        var tokens = [Int](repeating: TextGenerationVocabulary.paddingIndex, count: rows.count * length)
        for (row, sequence) in rows.enumerated() {
            for (position, token) in sequence.prefix(length).enumerated() { tokens[row * length + position] = token }
        }
        return tokens
    }

    /// Teacher forcing: inputs [start] + target minus its last token, padded to the longest target;
    /// the flattened positions that hold a real target (not padding) and those targets in order.
    static func teacherForcing(_ targets: [[Int]]) -> (inputs: [Int], time: Int, positions: [Int], labels: [Int]) {
        let time = max(1, targets.map(\.count).max() ?? 1)
        var inputs = [Int](repeating: TextGenerationVocabulary.paddingIndex, count: targets.count * time)
        var positions: [Int] = [], labels: [Int] = []
        for (row, target) in targets.enumerated() {
            for (step, token) in target.enumerated() {
                inputs[row * time + step] = step == 0 ? TextGenerationVocabulary.startIndex : target[step - 1]
                positions.append(row * time + step)
                labels.append(token)
            }
        }
        return (inputs, time, positions, labels)
    }
}

extension TextGenerator {
    /// Logits of the non-padding positions only: the output projection (the widest matrix, over
    /// the whole vocabulary) runs on real targets, not on padding.
    func targetLogits(_ batch: (inputs: [Int], time: Int, positions: [Int], labels: [Int]), classes: [Int]) -> (logits: Variable, states: Variable) {
        let states = self.states(tokens: batch.inputs, classes: classes).states
        let rows = gather(reshape(states, [classes.count * batch.time, recurrent.hiddenSize]), rows: batch.positions)
        return (output(rows), rows)
    }

    /// Mean negative log-likelihood (nats per token, end marker included) of target sequences
    /// under the generator, in batches, without a graph; and the number of tokens scored.
    func negativeLogLikelihood(targets: [[Int]], classes: [Int], batchSize: Int) -> (nll: Double, tokens: Int) {
        withoutGradients(self) {
            var total: Double = 0, count = 0
            for start in stride(from: 0, to: targets.count, by: batchSize) {
                let end = min(targets.count, start + batchSize)
                let batch = TokenBatches.teacherForcing(Array(targets[start..<end]))
                guard !batch.labels.isEmpty else { continue }
                let logits = targetLogits(batch, classes: Array(classes[start..<end])).logits
                total += Double(crossEntropy(logits: logits, labels: batch.labels).value.scalarValue) * Double(batch.labels.count)
                count += batch.labels.count
            }
            return (count > 0 ? total / Double(count) : 0, count)
        }
    }

    /// Autoregressive sampling of one sequence per class given: up to `length` tokens each, a row
    /// ending at its first `endToken` (kept), drawn with `sampling`. Records no graph. Also hands
    /// back, when asked, per sampled token the log-probability under the sampling distribution
    /// and the GRU state that chose it (for PPO's value head).
    func generate(classes: [Int], length: Int, sampling: TokenSampling, endToken: Int?, random: inout SeededRandom) -> [[Int]] {
        withoutGradients(self) {
            let batch = classes.count
            var state = classEmbedding(classes, indexShape: [batch])
            var current = [Int](repeating: TextGenerationVocabulary.startIndex, count: batch)
            var sequences = [[Int]](repeating: [], count: batch)
            var finished = [Bool](repeating: false, count: batch)
            var scratch: [Float] = []
            for _ in 0..<length {
                let (logits, states) = self(tokens: current, initialState: state, batch: batch, time: 1)
                state = states.last
                logits.value.withUnsafeBufferPointer { scores in
                    for row in 0..<batch where !finished[row] {
                        current[row] = sampling.draw(scores.baseAddress! + row * vocabularySize, count: vocabularySize,
                                                     scratch: &scratch, random: &random)
                        sequences[row].append(current[row])
                        if current[row] == endToken { finished[row] = true }
                    }
                }
                if finished.allSatisfy({ $0 }) { break }
            }
            return sequences
        }
    }
}
