import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine
@testable import ReptileFormats
@testable import ReptileLanguageModel

/// SmolLM2-135M-Instruct from its GGUF file against what Hugging Face transformers computes from
/// the same file (../shared/models/SmolLM2-135M-Instruct/reference-outputs.json). Skipped when
/// ../shared is not beside the clone.
@Suite(.serialized) struct SmolLM2Tests {
    static let folder = Support.shared.appendingPathComponent("models/SmolLM2-135M-Instruct")
    static let file = folder.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    static var available: Bool { FileManager.default.fileExists(atPath: file.path) }

    struct Reference: Decodable {
        struct Top: Decodable { let ids: [Int]; let values: [Float] }
        struct Prompt: Decodable {
            let prompt: String
            let ids: [Int]
            let last_hidden_after_norm: [Float]
            let last_logits_top40: Top
            let last_log_softmax_at: [String: Float]
            let greedy_24: [Int]
        }
        let prompts: [Prompt]
    }

    /// Loaded once for the suite (dequantising 135M weights takes a moment).
    nonisolated(unsafe) static let model: LlamaModel? = available ? try? LlamaModel.load(gguf: GGUFFile(contentsOf: file)) : nil

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference-outputs.json")))
    }

    @Test(.enabled(if: available)) func configurationFromTheMetadata() throws {
        let model = try #require(Self.model)
        #expect(model.configuration == LlamaConfiguration(vocabularySize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: 30,
                                                          queryHeads: 9, keyValueHeads: 3, headSize: 64, rmsEpsilon: 1e-5,
                                                          ropeBase: 100000, contextLength: 8192, tiedEmbeddings: true))
    }

    @Test(.enabled(if: available)) func hiddenStatesLogitsAndLogSoftmaxMatchTransformers() throws {
        let model = try #require(Self.model)
        for prompt in try Self.reference().prompts {
            let hidden = model.hiddenStates(tokens: prompt.ids, batch: 1, sequence: prompt.ids.count)
            let last = Array(hidden.value.scalars.suffix(576))
            let hiddenError = zip(last, prompt.last_hidden_after_norm).map { abs($0 - $1) }.max()!
            #expect(hiddenError < 1e-3, "\(prompt.prompt): hidden state off by \(hiddenError)")
            let logits = model.logits(hidden).value.scalars
            let lastLogits = Array(logits.suffix(49152))
            let logitError = zip(prompt.last_logits_top40.ids, prompt.last_logits_top40.values).map { abs(lastLogits[$0] - $1) }.max()!
            #expect(logitError < 2e-3, "\(prompt.prompt): top-40 logits off by \(logitError)")
            let maximum = lastLogits.max()!, logTotal = log(lastLogits.map { exp(Double($0 - maximum)) }.reduce(0, +))
            for (id, expected) in prompt.last_log_softmax_at {
                let value = Double(lastLogits[Int(id)!] - maximum) - logTotal
                #expect(abs(value - Double(expected)) < 2e-3, "\(prompt.prompt): log-softmax at \(id) is \(value), expected \(expected)")
            }
            // The top-1 at every position agrees with the greedy path: the last one is the first greedy token.
            #expect(lastLogits.firstIndex(of: maximum) == prompt.greedy_24.first)
        }
    }

    @Test(.enabled(if: available)) func greedyContinuationsMatchTransformersAloneAndBatched() throws {
        let model = try #require(Self.model)
        let prompts = try Self.reference().prompts
        // transformers stops at <|im_end|> (2) and pads with it after; the comparison stops there too.
        func trimmed(_ ids: [Int]) -> [Int] { Array(ids.prefix(while: { $0 != 2 })) }
        let batched = model.generate(prompts: prompts.map(\.ids), maxNewTokens: 24, sampling: .greedy, seed: 0, stopTokens: [2])
        for (prompt, continuation) in zip(prompts, batched) {
            #expect(continuation.tokens == trimmed(prompt.greedy_24), "\(prompt.prompt)")
            let alone = model.generate(prompts: [prompt.ids], maxNewTokens: 24, sampling: .greedy, seed: 0, stopTokens: [2])
            #expect(alone[0].tokens == continuation.tokens && alone[0].stopped == continuation.stopped, "\(prompt.prompt): batched differs from alone")
            // The same tokens' log-probabilities, up to the summation order of a batch of three.
            #expect(zip(alone[0].logProbabilities, continuation.logProbabilities).allSatisfy { abs($0 - $1) < 1e-4 })
        }
    }
}

/// LoRA on the real model: fifty steps on twenty short texts drive their per-token loss below 0.5
/// (the adapters alone can make the pretrained model memorise them).
@Suite struct SmolLM2LoRATests {
    @Test(.enabled(if: SmolLM2Tests.available)) func fiftyLoRAStepsMemoriseTwentyShortTexts() throws {
        let pretrained = try PretrainedLanguageModel(folder: SmolLM2Tests.folder)
        let texts = LanguageModelFineTuningTests.texts
        #expect(texts.count == 20)
        // Each text after its own number, so every token (the first included) is predictable once learnt.
        let batch = TokenBatch(sequences: texts.enumerated().map { index, text in
            let prompt = pretrained.tokenizer.encode("Text \(index + 1):")
            return (prompt + pretrained.tokenizer.encode(" " + text) + [2], prompt.count)
        }, padID: 2)
        var random = SeededRandom(seed: 4)
        let tuner = LanguageModelFineTuner(model: pretrained.model, method: .defaultLowRank, learningRate: 2e-3, random: &random)
        let first = tuner.step(batch)
        for _ in 1..<50 { tuner.step(batch) }
        let last = pretrained.model.loss(batch).value.scalarValue
        #expect(last < 0.5, "per-token loss \(first) → \(last) after 50 LoRA steps")
        #expect(pretrained.model.baseWeights.allSatisfy { $0.gradient == nil }, "LoRA leaves the base weights without gradients")
    }
}
