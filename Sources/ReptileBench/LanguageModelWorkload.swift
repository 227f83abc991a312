import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileLanguageModel

/// W7: the pretrained causal language model (SmolLM2-135M). train_tokens_per_s: batch 8 × 64
/// random ids, cross-entropy at every position, backward and AdamW(1e-5, weight decay 0.01) over
/// every weight (5 warm-up, 20 timed steps); generate_tokens_per_s: 32 prompts of 16 random ids,
/// 48 new tokens each, temperature 1 and top-p 0.95 with the key/value cache (2 warm-up, 5 timed).
/// `modelFile`: the GGUF to load; nil: random weights of SmolLM2-135M's shape (the same work).
public func measureLanguageModelSteps(_ options: EngineBenchOptions, modelFile: URL?) throws -> [BenchResult] {
    BLAS.setThreadCount(options.threads)
    var random = SeededRandom(seed: 7)
    return try StoragePool.$current.withValue(StoragePool()) {
        let model = try modelFile.map { try LlamaModel.load(gguf: GGUFFile(contentsOf: $0)) }
            ?? LlamaModel(configuration: LlamaConfiguration(vocabularySize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: 30,
                                                            queryHeads: 9, keyValueHeads: 3, headSize: 64, ropeBase: 100000,
                                                            contextLength: 8192, tiedEmbeddings: true), random: &random)
        let vocabulary = model.configuration.vocabularySize
        // Generation first: it needs no gradient buffers, so its memory is the weights' alone.
        let prompts = (0..<32).map { _ in (0..<16).map { _ in random.nextIndex(below: vocabulary) } }
        var seed: UInt64 = 0
        let generation = measureSteps(warmup: min(options.warmup, 2), steps: min(options.steps, 5)) {
            seed += 1
            _ = model.generate(prompts: prompts, maxNewTokens: 48, sampling: SamplingSettings(temperature: 1, topP: 0.95), seed: seed)
        }
        var generateResult = languageModelResult(tokensPerStep: 32 * 48, generation, options)
        generateResult.metric = "generate_tokens_per_s"

        let ids = (0..<8).map { _ in (0..<65).map { _ in random.nextIndex(below: vocabulary) } }
        let batch = TokenBatch(sequences: ids.map { ($0, 1) }, padID: 0)
        let tuner = LanguageModelFineTuner(model: model, method: .full, learningRate: 1e-5, weightDecay: 0.01,
                                           maximumGradientNorm: .infinity, random: &random)
        let training = measureSteps(warmup: min(options.warmup, 5), steps: min(options.steps, 20)) { tuner.step(batch) }
        var trainResult = languageModelResult(tokensPerStep: 8 * 64, training, options)
        trainResult.metric = "train_tokens_per_s"
        return [trainResult, generateResult]
    }
}

private func languageModelResult(tokensPerStep: Int, _ measurement: StepMeasurement, _ options: EngineBenchOptions) -> BenchResult {
    var result = BenchResult(workload: "W7", metric: "tokens_per_s", value: Double(tokensPerStep) / measurement.medianSeconds,
                             steps: measurement.stepSeconds.count, threads: options.threads, peakResidentMegabytes: peakResidentMegabytes())
    result.medianStepMilliseconds = measurement.medianSeconds * 1000
    result.sgemmShare = measurement.sgemmShare
    result.sgemmGigaflops = measurement.sgemmGigaflops
    result.freshAllocations = measurement.freshAllocations
    return result
}
