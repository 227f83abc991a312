import Foundation
import ReptileCore
import ReptileFormats
import ReptileText
import Testing
@testable import ReptileEngine
@testable import ReptileSynthesis

/// The text generator's pieces in-process: the generation vocabulary, MLE, one PPO iteration, and
/// the token-policy ops (finite-difference checks).
@Suite struct TextSynthesisTests {
    @Test func generationTokensRoundTripTextsAndKeepTheSourceSpacing() throws {
        let texts = ["Hello, world!", "What's the capital of the U.S. ?", "Don't stop -- now.", "How did serfdom develop in and then leave Russia ?",
                     "Call 0800-123 now!!! £5 off (today)", "naïve café 's \"quoted\"", "rock'n'roll 'tis"]
        for text in texts {
            #expect(GenerationTokenizer.detokenize(GenerationTokenizer.tokens(text)) == text)
        }
        #expect(GenerationTokenizer.tokens("Hello, world!") == ["Hello", "##,", "world", "##!"])
        #expect(GenerationTokenizer.tokens("Russia ?") == ["Russia", "?"])
        #expect(GenerationTokenizer.tokens("Australia 's") == ["Australia", "'s"])
        #expect(GenerationTokenizer.normalised("  two   spaces\tand a tab ") == "two spaces and a tab")

        // Through the vocabulary: in-vocabulary texts come back exactly; the markers never show.
        let vocabulary = try TextGenerationVocabulary.build(from: texts, maximumSize: 100)
        #expect(Array(vocabulary.entries.prefix(4)) == ["[PAD]", "[UNK]", "[BOS]", "[EOS]"])
        for text in texts {
            let (indices, truncated) = vocabulary.targetSequence(text, maximumLength: 32)
            #expect(!truncated && indices.last == TextGenerationVocabulary.endIndex)
            #expect(vocabulary.decode(indices) == text)
        }
        let cut = vocabulary.targetSequence("Hello, world! Hello, world!", maximumLength: 3)
        #expect(cut.truncated && cut.indices.count == 3 && vocabulary.decode(cut.indices) == "Hello, world")
        // A vocabulary of 6 keeps the two commonest tokens; the rest encode as [UNK], which decode drops.
        let small = try TextGenerationVocabulary.build(from: ["a b", "a c", "a b"], maximumSize: 6)
        #expect(small.entries == ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "a", "b"])
        #expect(small.encode("a c", maximumLength: 8).indices == [4, TextGenerationVocabulary.unknownIndex])
    }

    /// A generator whose output favours [UNK], [PAD] and [BOS] overwhelmingly still never samples them.
    @Test func samplingNeverDrawsTheUnknownPaddingOrStartToken() throws {
        var random = SeededRandom(seed: 1)
        let generator = TextGenerator(vocabularySize: 12, embeddingSize: 8, hiddenSize: 16, classCount: 2, random: &random)
        generator.output.bias!.value.withUnsafeMutableBufferPointer { bias in
            bias[TextGenerationVocabulary.unknownIndex] = 50
            bias[TextGenerationVocabulary.paddingIndex] = 40
            bias[TextGenerationVocabulary.startIndex] = 40
        }
        let forbidden = [TextGenerationVocabulary.paddingIndex, TextGenerationVocabulary.unknownIndex, TextGenerationVocabulary.startIndex]
        for topP: Float in [1, 0.5] {
            let sequences = generator.generate(classes: [Int](repeating: 0, count: 64) + [Int](repeating: 1, count: 64), length: 10,
                                               sampling: TokenSampling(temperature: 1.5, topP: topP, forbidden: forbidden),
                                               endToken: TextGenerationVocabulary.endIndex, random: &random)
            let drawn = Set(sequences.flatMap { $0 })
            #expect(drawn.isDisjoint(with: forbidden), "drew \(drawn)")
            #expect(drawn.count > 2, "sampling should still spread over the allowed tokens: \(drawn)")
        }
    }

    /// Toy corpus: class 0 is "a b" or "a c" (equally often), class 1 always "d e". The entropy of
    /// the next token, averaged over the 6 positions (end markers included), is ln 2 / 6 ≈ 0.116
    /// nats; MLE must get near it from ln 9 ≈ 2.2.
    @Test func maximumLikelihoodLowersTheToyCorpusNLLToNearItsEntropy() throws {
        let vocabulary = try TextGenerationVocabulary.build(from: ["a b", "a c", "d e"], maximumSize: 20)
        #expect(vocabulary.count == 9)
        var texts: [String] = [], classes: [Int] = []
        for index in 0..<64 {
            texts.append(index % 2 == 0 ? (index % 4 == 0 ? "a b" : "a c") : "d e")
            classes.append(index % 2)
        }
        let targets = texts.map { vocabulary.targetSequence($0, maximumLength: 8).indices }
        var random = SeededRandom(seed: 2)
        let generator = TextGenerator(vocabularySize: vocabulary.count, embeddingSize: 16, hiddenSize: 32, classCount: 2, random: &random)
        let optimizer = Adam(parameters: generator.parameters, learningRate: 0.01)
        let before = generator.negativeLogLikelihood(targets: targets, classes: classes, batchSize: 64).nll
        for _ in 0..<150 { _ = maximumLikelihoodStep(generator, optimizer: optimizer, targets: targets, classes: classes) }
        let after = generator.negativeLogLikelihood(targets: targets, classes: classes, batchSize: 64).nll
        let entropy = log(2.0) / 6
        #expect(before > 1.5, "initial NLL \(before)")
        #expect(after < entropy + 0.03 && after > entropy - 0.03, "NLL \(after) vs entropy \(entropy)")
    }

    /// One PPO iteration (rollouts, GAE with the value head, 4 epochs of clipped updates) raises the
    /// mean reward of sequences sampled from a fixed seed; the KL penalty to the frozen reference is
    /// in the rewards. Reward: the share of a sequence's tokens that are token 5.
    @Test func onePPOIterationRaisesTheMeanReward() throws {
        var random = SeededRandom(seed: 4)
        let policy = TextGenerator(vocabularySize: 10, embeddingSize: 8, hiddenSize: 16, classCount: 2, random: &random)
        let reference = TextGenerator(vocabularySize: 10, embeddingSize: 8, hiddenSize: 16, classCount: 2, random: &random)
        copyWeights(from: policy, to: reference)
        reference.setParametersRequireGradient(false)
        let valueHead = Linear(inputSize: 16, outputSize: 1, name: "value_head", random: &random)
        var hyperparameters = TextPPOHyperparameters()
        hyperparameters.learningRate = 3e-3
        hyperparameters.klWeight = 0.01
        let optimizer = TextPolicyOptimizer(policy: policy, valueHead: valueHead, reference: reference,
                                            optimizer: Adam(parameters: policy.parameters + valueHead.parameters, learningRate: hyperparameters.learningRate),
                                            hyperparameters: hyperparameters, forbidden: [0, 1, 2], endToken: 3)
        let classes = (0..<256).map { $0 % 2 }
        func reward(_ sequence: [Int]) -> Float { Float(sequence.filter { $0 == 5 }.count) / Float(max(sequence.count, 1)) }
        func meanReward() -> Float {
            var fixed = SeededRandom(seed: 99)
            let sequences = policy.generate(classes: classes, length: 8, sampling: TokenSampling(forbidden: [0, 1, 2]), endToken: 3, random: &fixed)
            return sequences.map(reward).reduce(0, +) / Float(sequences.count)
        }
        let before = meanReward()
        let rollouts = optimizer.collect(classes: classes, length: 8, random: &random)
        #expect(rollouts.sequences.allSatisfy { !$0.contains(0) && !$0.contains(1) && !$0.contains(2) })
        #expect(zip(rollouts.oldLogProbabilities, rollouts.referenceLogProbabilities).allSatisfy { $0 == $1 })
        let statistics = optimizer.update(rollouts, finalRewards: rollouts.sequences.map(reward), random: &random)
        let after = meanReward()
        #expect(after > before + 0.02, "mean reward \(before) → \(after)")
        #expect(statistics.update.minibatches == 4 * 8 && statistics.update.clipFraction >= 0 && statistics.entropy > 0)
        #expect(statistics.kl == 0, "the first rollouts come from a copy of the reference")
    }

    @Test func generalisedAdvantagesMatchAHandComputation() {
        // γ = 1, λ = 0.5: δ = r + V' − V, A_t = δ_t + 0.5 A_{t+1}.
        let (advantages, returns) = generalisedAdvantages(rewards: [0, 0, 1], values: [0.5, 0.25, 0.75], gamma: 1, lambda: 0.5)
        let deltas: [Float] = [0 + 0.25 - 0.5, 0 + 0.75 - 0.25, 1 + 0 - 0.75]
        let expected: [Float] = [deltas[0] + 0.5 * (deltas[1] + 0.5 * deltas[2]), deltas[1] + 0.5 * deltas[2], deltas[2]]
        for (value, target) in zip(advantages, expected) { #expect(abs(value - target) < 1e-6) }
        for (value, target) in zip(returns, zip(expected, [Float(0.5), 0.25, 0.75]).map { $0 + $1 }) { #expect(abs(value - target) < 1e-6) }
    }

    /// Finite differences of the token-policy op (both outputs) against its backward, with a masked
    /// (−1e4) logit in one row as the policy's forbidden tokens are.
    @Test func tokenPolicyOpsHaveCorrectGradients() {
        var random = SeededRandom(seed: 5)
        var values = (0..<15).map { _ in random.nextUnitFloat() * 4 - 2 }
        values[7] = -1e4
        let actions = [1, 4, 0]
        let weights: [Float] = [0.3, -1.2, 0.7]
        func loss(_ x: Variable) -> Variable {
            let (chosen, entropy) = tokenPolicyTerms(logits: x, actions: actions)
            return sum(chosen * Variable(Tensor(shape: [3], values: weights))) + scale(sum(entropy), by: 0.5)
        }
        let input = Variable(parameter: Tensor(shape: [3, 5], values: values), name: "x")
        loss(input).backward()
        let analytic = input.gradient!.scalars
        for index in 0..<15 where index != 7 {
            var plus = values, minus = values
            plus[index] += 1e-2
            minus[index] -= 1e-2
            let numeric = (loss(Variable(Tensor(shape: [3, 5], values: plus))).value.scalarValue
                - loss(Variable(Tensor(shape: [3, 5], values: minus))).value.scalarValue) / 2e-2
            #expect(abs(numeric - analytic[index]) < 2e-3, "element \(index): numeric \(numeric), analytic \(analytic[index])")
        }
    }
}
