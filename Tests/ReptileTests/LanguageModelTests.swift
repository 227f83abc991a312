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
        #expect(second[0] == first[0])
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
