import Foundation
import ReptileClassify
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileLanguageModel
import ReptileText

/// What `generate` writes as the `d_score` of a language-model run's text.
public let languageModelDScoreDescription = "mean log-probability per token of the text (and its end token) under the fine-tuned model at temperature 1, given its class prompt"

/// `reptile generate` on a language-model text run: batched sampling with the key/value cache from
/// the class prompts, exactly N texts a class after the usual drops, each with its d_score and the
/// confidence of a classifier (--classifier, else the run's) or, without one, the fine-tuned
/// model's own class posterior p(y | x) ∝ p(x | y) (one scoring pass per class).
func generateLanguageModelTexts(_ options: TextGenerationOptions) throws -> TextGenerationResult {
    let checkpointPath = try runCheckpointPath(run: options.run)
    let config = try readLanguageModelTextRunConfig(checkpoint: checkpointPath)
    if options.generator == .ppo {
        throw ReptileError(path: checkpointPath, "has no PPO generator (PPO is not built for language-model runs yet)", fix: "leave --generator out")
    }
    let pretrained = try loadFineTunedLanguageModel(run: checkpointPath, config: config)
    let end = try endToken(of: pretrained.tokenizer, path: pretrained.source.url.path)
    let classifierPath = options.classifier ?? config.classifier
    let classifier = try classifierPath.map { try loadTextClassifier($0, dataset: config.dataset, classNames: config.classNames) }
    let confidenceSource = classifierPath.map { "classifier:\($0)" } ?? "language-model-class-posterior"

    var trainingTexts = Set<String>()
    if !options.keepTrainingCopies {
        trainingTexts = Set(try TextTrainingData.read(try DatasetFolder(path: config.dataset), split: "train").0.map(GenerationTokenizer.normalised))
    }
    let targets = try classTargets(options, dataset: config.dataset, classCount: config.classNames.count)
    let prompts = config.classNames.map { pretrained.tokenizer.encode(config.prompt(forClass: $0)) }
    let sampling = SamplingSettings(temperature: options.temperature, topP: options.topP)
    var options = options
    options.batchSize = min(options.batchSize, 64)  // sequences sampled together: the cache's memory
    var batchNumber: UInt64 = 0
    let accepted = try drawTexts(targets: targets, classNames: config.classNames, trainingTexts: trainingTexts, options: options,
                                 failurePath: checkpointPath) { labels in
        batchNumber += 1
        var batchRandom = SeededRandom(seed: options.seed).derived("generate batch \(batchNumber)")
        let seed = batchRandom.next()
        let drawn = pretrained.model.generate(prompts: labels.map { prompts[$0] }, maxNewTokens: config.maximumTokens, sampling: sampling,
                                              seed: seed, stopTokens: pretrained.stopTokens)
        let texts = drawn.map { pretrained.tokenizer.decode($0.tokens).trimmingCharacters(in: .whitespacesAndNewlines) }
        let scores = drawn.map(\.meanLogProbability)
        let confidences: [Float]
        if let classifier {
            confidences = classifierLogProbabilities(classifier, texts: texts, labels: labels).map { exp($0) }
        } else {
            confidences = classPosterior(pretrained, texts: texts, prompts: prompts, labels: labels, endToken: end)
        }
        return TextDraws(texts: texts, scores: scores, confidences: confidences)
    }
    return try writeSyntheticTexts(accepted, targets: targets, options: options, classNames: config.classNames,
                                   generatorName: "language-model (\(config.method.summary))", confidenceSource: confidenceSource,
                                   dScoreDescription: languageModelDScoreDescription, checkpointPath: checkpointPath,
                                   classifierPath: classifierPath, sourceFormat: "reptile-text-lm")
}

extension FineTuningMethod {
    var summary: String {
        switch self {
        case .full: "full fine-tuning"
        case .lowRank(let rank, let alpha, _): "LoRA rank \(rank), alpha \(Int(alpha))"
        }
    }
}

/// Exactly N a class, or N × classes in the train split's proportions.
func classTargets(_ options: TextGenerationOptions, dataset: String, classCount: Int) throws -> [Int] {
    switch options.classProportions {
    case .uniform: return [Int](repeating: options.perClass, count: classCount)
    case .train:
        let folder = try DatasetFolder(path: dataset)
        guard let train = folder.info.splits["train"], train.classCounts.count == classCount else {
            throw ReptileError(path: dataset, "has no train split with the run's \(classCount) classes to take proportions from",
                               fix: "use --class-proportions uniform")
        }
        return proportionalClassCounts(total: options.perClass * classCount, weights: train.classCounts)
    }
}

/// p(label | text) ∝ p(text | class prompt) under the fine-tuned model, uniform over classes:
/// one scoring pass per class.
private func classPosterior(_ pretrained: PretrainedLanguageModel, texts: [String], prompts: [[Int]], labels: [Int], endToken: Int) -> [Float] {
    let bodies = texts.map { pretrained.tokenizer.encode(" " + $0) + [endToken] }
    let perClass = prompts.map { prompt in
        pretrained.model.meanTokenLogProbabilities(TokenBatch(sequences: bodies.map { (prompt + $0, prompt.count) }, padID: endToken))
    }
    return texts.indices.map { row in
        let totals = prompts.indices.map { perClass[$0][row] * Float(bodies[row].count) }
        let maximum = totals.max()!
        let denominator = totals.reduce(Float(0)) { $0 + exp($1 - maximum) }
        return exp(totals[labels[row]] - maximum) / denominator
    }
}
