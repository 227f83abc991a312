import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine
@testable import ReptileLanguageModel

/// The Llama model against a tiny Llama written by Hugging Face transformers
/// (Tests/Golden/tiny-llama, made by scripts/reference/tiny_llama.py): its logits, its greedy
/// continuations, batching with padding, and training steps.
@Suite struct LanguageModelTests {
    static let tinyFolder = Support.packageRoot.appendingPathComponent("Tests/Golden/tiny-llama")

    struct Reference: Decodable {
        struct Run: Decodable {
            let text: String
            let ids: [Int]
            let logits: [[Float]]
            let last_hidden_after_norm: [Float]
            let greedy_8: [Int]
        }
        let runs: [Run]
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: tinyFolder.appendingPathComponent("reference-outputs.json")))
    }

    @Test func tinyLlamaLogitsMatchTransformers() throws {
        let model = try LlamaModel.load(huggingFaceFolder: Self.tinyFolder)
        for run in try Self.reference().runs {
            let hidden = model.hiddenStates(tokens: run.ids, batch: 1, sequence: run.ids.count)
            let logits = model.logits(hidden).value.scalars
            let expected = run.logits.flatMap { $0 }
            #expect(logits.count == expected.count)
            let worst = zip(logits, expected).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst < 1e-4, "\(run.text): largest logit difference \(worst)")
            let last = Array(hidden.value.scalars.suffix(model.configuration.hiddenSize))
            let worstHidden = zip(last, run.last_hidden_after_norm).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worstHidden < 1e-4, "\(run.text): largest hidden-state difference \(worstHidden)")
        }
    }

    @Test func greedyContinuationsMatchTransformersAloneAndBatched() throws {
        let model = try LlamaModel.load(huggingFaceFolder: Self.tinyFolder)
        let runs = try Self.reference().runs
        for run in runs {
            let alone = model.generate(prompts: [run.ids], maxNewTokens: 8, sampling: .greedy, seed: 0)
            #expect(alone[0].tokens == run.greedy_8, "\(run.text)")
        }
        // Prompts of different lengths in one batch (left-padded) give what each gives alone.
        let batched = model.generate(prompts: runs.map(\.ids), maxNewTokens: 8, sampling: .greedy, seed: 0)
        #expect(batched.map(\.tokens) == runs.map(\.greedy_8))
    }

    @Test func seededSamplingIsReproducibleAndIndependentOfTheBatch() throws {
        let model = try LlamaModel.load(huggingFaceFolder: Self.tinyFolder)
        let prompts = try Self.reference().runs.map(\.ids)
        let settings = SamplingSettings(temperature: 1, topP: 0.9, topK: 50)
        let first = model.generate(prompts: prompts, maxNewTokens: 12, sampling: settings, seed: 7)
        let again = model.generate(prompts: prompts, maxNewTokens: 12, sampling: settings, seed: 7)
        #expect(first == again)
        let other = model.generate(prompts: prompts, maxNewTokens: 12, sampling: settings, seed: 8)
        #expect(first != other)
        let second = model.generate(prompts: [prompts[0]], maxNewTokens: 12, sampling: settings, seed: 7)
        #expect(second[0].tokens == first[0].tokens)
    }

    @Test func stopTokensEndASequence() throws {
        let model = try LlamaModel.load(huggingFaceFolder: Self.tinyFolder)
        let run = try Self.reference().runs[0]
        let stop = run.greedy_8[3]
        let result = model.generate(prompts: [run.ids], maxNewTokens: 8, sampling: .greedy, seed: 0, stopTokens: [stop])
        #expect(result[0].stopped)
        #expect(result[0].tokens == Array(run.greedy_8.prefix(while: { $0 != stop })))
    }

    @Test func topKOneIsGreedy() throws {
        let model = try LlamaModel.load(huggingFaceFolder: Self.tinyFolder)
        let run = try Self.reference().runs[2]
        let sampled = model.generate(prompts: [run.ids], maxNewTokens: 8, sampling: SamplingSettings(temperature: 0.7, topK: 1), seed: 3)
        #expect(sampled[0].tokens == run.greedy_8)
    }
}

/// Fine-tuning the tiny Llama: full and LoRA steps lower the loss, LoRA can memorise, and a
/// checkpoint round trips and resumes exactly.
@Suite struct LanguageModelFineTuningTests {
    static let texts = ["the quick brown fox", "call 0906 now", "what is the capital of france ?", "a gentle funny film",
                        "free entry in a weekly competition", "jumps over the lazy dog", "growing up is hard",
                        "what is a fox ?", "call now to win", "the capital is paris", "a film about a dog",
                        "weekly entry now free", "the lazy brown dog", "is the film funny ?", "win a free call",
                        "the fox is quick", "a hard competition", "what is growing ?", "paris in france", "over the dog"]

    static func batch(_ model: LlamaModel, texts: [String] = texts) throws -> TokenBatch {
        // Each text's bytes as ids (above the three special tokens) after a two-token prompt, ending in <|im_end|>.
        TokenBatch(sequences: texts.map { ([1, 5] + $0.utf8.map { Int($0) % 300 + 3 } + [2], 2) }, padID: 2)
    }

    @Test func aFullStepAndALoRAStepLowerTheLossOnAFixedBatch() throws {
        for method in [FineTuningMethod.full, .defaultLowRank] {
            let model = try LlamaModel.load(huggingFaceFolder: LanguageModelTests.tinyFolder)
            let batch = try Self.batch(model)
            var random = SeededRandom(seed: 1)
            let tuner = LanguageModelFineTuner(model: model, method: method, learningRate: 1e-3, random: &random)
            let before = tuner.step(batch)
            let after = model.loss(batch).value.scalarValue
            #expect(after < before, "\(method): \(before) → \(after)")
            if case .lowRank = method {
                #expect(model.parameters.count == 2 * 7 * model.configuration.layerCount)
                #expect(model.baseWeights.allSatisfy { !$0.requiresGradient && $0.gradient == nil })
            }
        }
    }

    /// The tiny model's embedding is too small for LoRA alone to sharpen its logits, so full
    /// fine-tuning here; LoRA memorising twenty texts is checked on SmolLM2 (SmolLM2Tests).
    @Test func fiftyFullStepsMemoriseFiveShortTexts() throws {
        let model = try LlamaModel.load(huggingFaceFolder: LanguageModelTests.tinyFolder)
        let batch = try Self.batch(model, texts: Array(Self.texts.prefix(5)))
        var random = SeededRandom(seed: 2)
        let tuner = LanguageModelFineTuner(model: model, method: .full, learningRate: 1e-2, random: &random)
        let first = tuner.step(batch)
        for _ in 1..<50 { tuner.step(batch) }
        let last = model.loss(batch).value.scalarValue
        #expect(last < 0.5, "per-token loss \(first) → \(last) after 50 steps")
    }

    /// Ten steps straight, or five, a checkpoint, a fresh model loading it, and five more: the same bits.
    @Test(arguments: [FineTuningMethod.full, .defaultLowRank])
    func checkpointsRoundTripAndResumeEqualsAnUninterruptedRun(method: FineTuningMethod) throws {
        let folder = try Support.makeTemporaryFolder("lm-resume")
        defer { Support.remove(folder) }
        func tuner() throws -> LanguageModelFineTuner {
            var random = SeededRandom(seed: 3)
            let model = try LlamaModel.load(huggingFaceFolder: LanguageModelTests.tinyFolder)
            return LanguageModelFineTuner(model: model, method: method, learningRate: 3e-3, random: &random)
        }
        let batch = try Self.batch(try LlamaModel.load(huggingFaceFolder: LanguageModelTests.tinyFolder))
        let whole = try tuner()
        for _ in 0..<10 { whole.step(batch) }

        let first = try tuner()
        for _ in 0..<5 { first.step(batch) }
        let path = folder.appendingPathComponent("checkpoint.h5").path
        try ModelCheckpoint.save(to: path, model: first.model, optimizer: first.optimizer)
        let resumed = try tuner()
        try ModelCheckpoint.load(from: path, into: resumed.model, optimizer: resumed.optimizer)
        #expect(resumed.model.parameters.map(\.value.scalars) == first.model.parameters.map(\.value.scalars))
        for _ in 0..<5 { resumed.step(batch) }
        #expect(resumed.model.parameters.map(\.value.scalars) == whole.model.parameters.map(\.value.scalars))
        #expect(resumed.model.baseWeights.map(\.value.scalars) == whole.model.baseWeights.map(\.value.scalars))
    }
}
