import Foundation
import ReptileCore
import ReptileEngine

/// Sequences of token ids, right-padded into one [B, S] batch for next-token training: position t
/// predicts token t + 1; targets before a sequence's `lossFrom` (its prompt) and on padding are -1,
/// which the loss skips.
public struct TokenBatch: Sendable, Equatable {
    public let tokens: [Int]
    public let targets: [Int]
    public let batch: Int
    public let sequence: Int

    /// `sequences`: each text's ids and the index of the first token whose prediction counts.
    public init(sequences: [(ids: [Int], lossFrom: Int)], padID: Int) {
        precondition(!sequences.isEmpty && sequences.allSatisfy { $0.ids.count >= 2 },
                     "a token batch needs sequences of at least two tokens")
        let length = sequences.map { $0.ids.count - 1 }.max()!
        var tokens: [Int] = [], targets: [Int] = []
        for (ids, lossFrom) in sequences {
            let inputs = ids.dropLast(), padding = length - inputs.count
            tokens += inputs + [Int](repeating: padID, count: padding)
            targets += (1..<ids.count).map { $0 >= max(lossFrom, 1) ? ids[$0] : -1 } + [Int](repeating: -1, count: padding)
        }
        self.tokens = tokens
        self.targets = targets
        batch = sequences.count
        sequence = length
    }

    /// A batch already laid out: B·S tokens and targets (-1: not counted).
    public init(tokens: [Int], targets: [Int], batch: Int, sequence: Int) {
        precondition(tokens.count == batch * sequence && targets.count == tokens.count, "TokenBatch: \(tokens.count) tokens for \(batch)×\(sequence)")
        self.tokens = tokens
        self.targets = targets
        self.batch = batch
        self.sequence = sequence
    }

    /// Tokens whose prediction counts in the loss.
    public var countedTokens: Int { targets.filter { $0 >= 0 }.count }
}

extension LlamaModel {
    /// The mean next-token cross-entropy over the counted positions of `batch`. Right padding
    /// needs no mask: causality already hides it from every real position. Only counted positions
    /// go through the output head.
    public func loss(_ batch: TokenBatch) -> Variable {
        let (logits, targets) = countedLogits(batch)
        return tokenCrossEntropy(logits: logits, targets: targets)
    }

    /// The logits [K, V] of the K counted positions of `batch`, and their targets.
    func countedLogits(_ batch: TokenBatch) -> (Variable, [Int]) {
        let hidden = hiddenStates(tokens: batch.tokens, batch: batch.batch, sequence: batch.sequence)
        let rows = batch.targets.indices.filter { batch.targets[$0] >= 0 }
        let flat = reshape(hidden, [batch.tokens.count, configuration.hiddenSize])
        return (logits(rows.count == batch.tokens.count ? flat : gather(flat, rows: rows)), rows.map { batch.targets[$0] })
    }

    /// Mean log-probability of each sequence's counted tokens (no gradient), e.g. to score texts.
    public func meanTokenLogProbabilities(_ batch: TokenBatch) -> [Float] {
        let (logitsVariable, targets) = withoutGradients { countedLogits(batch) }
        let logits = logitsVariable.value, vocabulary = logits.shape[1]
        let owners = batch.targets.indices.filter { batch.targets[$0] >= 0 }.map { $0 / batch.sequence }
        var totals = [Float](repeating: 0, count: batch.batch), counts = [Int](repeating: 0, count: batch.batch)
        logits.withUnsafeBufferPointer { values in
            for (row, owner) in owners.enumerated() {
                let start = row * vocabulary
                totals[owner] += logProbability(of: targets[row], in: UnsafeBufferPointer(rebasing: values[start..<(start + vocabulary)]))
                counts[owner] += 1
            }
        }
        return zip(totals, counts).map { $1 > 0 ? $0 / Float($1) : 0 }
    }
}

/// How a language model is fine-tuned: every weight, or low-rank adapters on chosen projections.
public enum FineTuningMethod: Sendable, Equatable, Codable {
    case full
    case lowRank(rank: Int, alpha: Float, targets: [String])

    /// Every attention and feed-forward projection of a block, by Hugging Face's module names.
    public static let allProjections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// LoRA on every attention and feed-forward projection, rank 16, α 32.
    public static let defaultLowRank = FineTuningMethod.lowRank(rank: 16, alpha: 32, targets: allProjections)
}

/// Fine-tunes a language model with AdamW and gradient clipping, one batch a step.
public final class LanguageModelFineTuner {
    public let model: LlamaModel
    public let optimizer: AdamW
    public let maximumGradientNorm: Float

    /// Adds the adapters when `method` asks for them (drawn from `random`), and trains what the model then exposes.
    public init(model: LlamaModel, method: FineTuningMethod, learningRate: Float, weightDecay: Float = 0.01,
                maximumGradientNorm: Float = 1, random: inout SeededRandom) {
        switch method {
        case .full:
            model.setBaseWeightsTrainable(true)
        case .lowRank(let rank, let alpha, let targets):
            if model.adapters.isEmpty { model.addAdapters(rank: rank, alpha: alpha, targets: targets, random: &random) }
        }
        self.model = model
        self.maximumGradientNorm = maximumGradientNorm
        optimizer = AdamW(parameters: model.parameters, learningRate: learningRate, weightDecay: weightDecay)
    }

    /// One step on `batch`; returns the loss before the update.
    @discardableResult
    public func step(_ batch: TokenBatch) -> Float {
        optimizer.zeroGradients()
        let loss = model.loss(batch)
        loss.backward()
        _ = clipGradientNorm(model.parameters, maximumNorm: maximumGradientNorm)
        optimizer.step()
        return loss.value.scalarValue
    }
}
