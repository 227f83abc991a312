import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileLanguageModel
import ReptileText

/// The small-data rule: three passes over the texts (more memorise them: on TREC at 10 a class,
/// 8 passes made three of four draws a copy of a training text), fewer when three would exceed
/// 200 steps, at least one.
func automaticEpochs(trainCount: Int, batchSize: Int) -> (epochs: Int, rule: String) {
    let stepsPerEpoch = (trainCount + batchSize - 1) / batchSize
    let epochs = max(1, min(3, 200 / max(stepsPerEpoch, 1)))
    return (epochs, "automatic: 3 passes, fewer above 200 steps (\(epochs) passes of \(stepsPerEpoch) steps over \(trainCount) texts)")
}

/// `reptile train text --generator lm`: fine-tunes the pretrained model on the class-prompted
/// training texts, then writes the run folder (through a staging folder, whole or not at all).
public func trainLanguageModelTextGenerator(_ options: LanguageModelTextTrainingOptions,
                                            report: (String) -> Void = { _ in }) throws -> LanguageModelTextTrainingResult {
    try validate(options)
    if let threads = options.threads { BLAS.setThreadCount(threads) }
    let data = try TextTrainingData(path: options.dataset, validationFraction: 0, seed: options.seed)
    let pretrained = try PretrainedLanguageModel(folder: URL(fileURLWithPath: options.baseModel))
    let config = try makeConfig(options, data: data, pretrained: pretrained)
    let staging = try StagingFolder(destination: options.out, force: options.force)
    do {
        let end = try endToken(of: pretrained.tokenizer, path: pretrained.source.url.path)
        var prompted = PromptedTexts(texts: data.trainTexts, labels: data.trainLabels, classNames: config.classNames,
                                     config: config, tokenizer: pretrained.tokenizer, endToken: end)
        var finalConfig = config
        finalConfig.truncatedShare = rounded(Double(prompted.truncated) / Double(max(1, data.trainTexts.count)))
        let test = testSequences(data, config: finalConfig, tokenizer: pretrained.tokenizer, endToken: end)
        let basePerplexity = perplexity(pretrained.model, test)
        var random = SeededRandom(seed: options.seed).derived("lm-fine-tuning")
        let tuner = LanguageModelFineTuner(model: pretrained.model, method: finalConfig.method, learningRate: finalConfig.learningRate,
                                           random: &random)
        let steps = try fineTune(tuner, sequences: &prompted.sequences, config: finalConfig, random: &random,
                                 metrics: staging.path(RunNames.metrics), showProgress: options.showProgress, report: report)
        let tunedPerplexity = perplexity(pretrained.model, test)
        let reportJSON: JSONValue = [
            "role": "text-lm", "epochs": .integer(Int64(finalConfig.epochs)), "steps": .integer(Int64(steps)),
            "step_rule": .string(finalConfig.stepRule), "test_texts_scored": .integer(Int64(test?.batch ?? 0)),
            "test_perplexity_base": basePerplexity.map { .number(rounded($0)) } ?? .null,
            "test_perplexity_fine_tuned": tunedPerplexity.map { .number(rounded($0)) } ?? .null,
            "truncated_share": .number(finalConfig.truncatedShare),
        ]
        try writeRunFiles(staging, pretrained: pretrained, tuner: tuner, config: finalConfig, steps: steps, report: reportJSON, seed: options.seed)
        try staging.commit()
        return LanguageModelTextTrainingResult(run: options.out, epochs: finalConfig.epochs, steps: steps, report: reportJSON)
    } catch {
        staging.discard()
        throw error
    }
}

private func validate(_ options: LanguageModelTextTrainingOptions) throws {
    if let epochs = options.epochs, !(1...1000).contains(epochs) { throw ReptileError("--epochs must be between 1 and 1000", fix: "use e.g. 4") }
    guard (1...1024).contains(options.batchSize) else { throw ReptileError("--batch-size must be between 1 and 1024", fix: "use e.g. 8") }
    guard options.learningRate > 0, options.learningRate.isFinite else { throw ReptileError("--learning-rate must be positive", fix: "use e.g. 0.001") }
    guard (1...1024).contains(options.maximumTokens) else { throw ReptileError("--max-length must be between 1 and 1024", fix: "use e.g. 48") }
    guard options.promptTemplate.contains("{class}") else {
        throw ReptileError("the prompt template \(quoted(options.promptTemplate)) has no {class}", fix: "write e.g. \"Class: {class}\\nText:\"")
    }
    if case .lowRank(let rank, let alpha, let targets) = options.method {
        guard (1...4096).contains(rank), alpha > 0, !targets.isEmpty else { throw ReptileError("--lora-rank must be between 1 and 4096", fix: "use e.g. 16") }
    }
}

private func makeConfig(_ options: LanguageModelTextTrainingOptions, data: TextTrainingData,
                        pretrained: PretrainedLanguageModel) throws -> LanguageModelTextRunConfig {
    let automatic = automaticEpochs(trainCount: data.trainTexts.count, batchSize: options.batchSize)
    let epochs = options.epochs ?? automatic.epochs
    let stepsPerEpoch = (data.trainTexts.count + options.batchSize - 1) / options.batchSize
    let infoPath = URL(fileURLWithPath: options.dataset).appendingPathComponent(DatasetInfo.fileName).path
    return LanguageModelTextRunConfig(
        dataset: options.dataset, datasetInfoSha256: try SHA256.hex(ofFileAt: infoPath), classNames: data.folder.info.classNames,
        baseModel: options.baseModel, baseModelSha256: try baseModelSHA256(pretrained.source), promptTemplate: options.promptTemplate,
        method: options.method, epochs: epochs, steps: epochs * stepsPerEpoch,
        stepRule: options.epochs == nil ? automatic.rule : "fixed: --epochs \(epochs)", batchSize: options.batchSize,
        learningRate: options.learningRate, maximumTokens: options.maximumTokens, truncatedShare: 0, classifier: options.classifier,
        seed: options.seed, threads: BLAS.threadCount)
}

/// Up to 100 test texts (the first of each class in turn), to report perplexity on; nil without a test split.
private func testSequences(_ data: TextTrainingData, config: LanguageModelTextRunConfig, tokenizer: ByteLevelBPETokenizer,
                           endToken: Int) -> TokenBatch? {
    guard !data.testTexts.isEmpty else { return nil }
    let chosen = Array(data.testTexts.indices.prefix(100))
    let prompted = PromptedTexts(texts: chosen.map { data.testTexts[$0] }, labels: chosen.map { data.testLabels[$0] },
                                 classNames: config.classNames, config: config, tokenizer: tokenizer, endToken: endToken)
    return TokenBatch(sequences: prompted.sequences, padID: endToken)
}

/// exp of the mean negative log-likelihood of the text tokens (and the end token), in batches of 16.
private func perplexity(_ model: LlamaModel, _ batch: TokenBatch?) -> Double? {
    guard let batch else { return nil }
    var total = 0.0, count = 0
    for start in stride(from: 0, to: batch.batch, by: 16) {
        let rows = start..<min(batch.batch, start + 16)
        let part = TokenBatch(tokens: Array(batch.tokens[(rows.lowerBound * batch.sequence)..<(rows.upperBound * batch.sequence)]),
                              targets: Array(batch.targets[(rows.lowerBound * batch.sequence)..<(rows.upperBound * batch.sequence)]),
                              batch: rows.count, sequence: batch.sequence)
        let means = model.meanTokenLogProbabilities(part)
        for (row, mean) in means.enumerated() {
            let counted = part.targets[(row * part.sequence)..<((row + 1) * part.sequence)].filter { $0 >= 0 }.count
            total -= Double(mean) * Double(counted)
            count += counted
        }
    }
    return exp(total / Double(max(count, 1)))
}

/// The epochs: a seeded shuffle each, batches of `batchSize`, one metrics line per epoch.
private func fineTune(_ tuner: LanguageModelFineTuner, sequences: inout [(ids: [Int], lossFrom: Int)], config: LanguageModelTextRunConfig,
                      random: inout SeededRandom, metrics: String, showProgress: Bool, report: (String) -> Void) throws -> Int {
    let log = MetricsLog(path: metrics)
    let progress = ProgressBar("fine-tuning", total: config.steps, unit: "steps", enabled: showProgress && ProgressBar.terminalAttached)
    var steps = 0
    for epoch in 1...config.epochs {
        let start = Date()
        random.shuffle(&sequences)
        var losses: [Float] = [], tokens = 0
        for first in stride(from: 0, to: sequences.count, by: config.batchSize) {
            let batch = TokenBatch(sequences: Array(sequences[first..<min(sequences.count, first + config.batchSize)]), padID: 0)
            let loss = tuner.step(batch)
            guard loss.isFinite else {
                throw ReptileError("the fine-tuning loss became \(loss) at epoch \(epoch)", fix: "lower --learning-rate (now \(config.learningRate))")
            }
            losses.append(loss)
            tokens += batch.countedTokens
            steps += 1
            progress.advance()
        }
        let meanLoss = Double(losses.reduce(0, +)) / Double(max(losses.count, 1))
        try log.append(["phase": "lm", "epoch": .integer(Int64(epoch)), "steps": .integer(Int64(steps)),
                        "train_loss": .number(rounded(meanLoss)), "tokens": .integer(Int64(tokens)),
                        "seconds": .number(rounded(Date().timeIntervalSince(start), digits: 2))])
        report("epoch \(epoch)/\(config.epochs): train loss \(String(format: "%.3f", meanLoss)) (\(steps) steps)")
    }
    progress.finish()
    return steps
}

/// checkpoint.h5, config.json, samples.txt and report.json into the staging folder.
private func writeRunFiles(_ staging: StagingFolder, pretrained: PretrainedLanguageModel, tuner: LanguageModelFineTuner,
                           config: LanguageModelTextRunConfig, steps: Int, report: JSONValue, seed: UInt64) throws {
    let configText = try StableJSON.string(config)
    try ModelCheckpoint.save(to: staging.path(RunNames.checkpoint), model: pretrained.model, optimizer: tuner.optimizer,
                             progress: TrainingProgress(step: Int64(steps), epoch: Int64(config.epochs)), config: configText)
    try writeAtomically(Data((configText + "\n").utf8), to: staging.path("config.json"))
    try writeAtomically(Data((try StableJSON.string(report) + "\n").utf8), to: staging.path(RunNames.report))
    // Three samples a class at temperature 0.8, the setting `generate` defaults to.
    let prompts = config.classNames.flatMap { name in [[Int]](repeating: pretrained.tokenizer.encode(config.prompt(forClass: name)), count: 3) }
    let drawn = pretrained.model.generate(prompts: prompts, maxNewTokens: config.maximumTokens, sampling: SamplingSettings(temperature: 0.8),
                                          seed: seed, stopTokens: pretrained.stopTokens)
    var lines = ""
    for (index, continuation) in drawn.enumerated() {
        let text = pretrained.tokenizer.decode(continuation.tokens).trimmingCharacters(in: .whitespacesAndNewlines)
        lines += "\(config.classNames[index / 3])\t\(text.replacingOccurrences(of: "\n", with: " "))\n"
    }
    try writeAtomically(Data(lines.utf8), to: staging.path("samples.txt"))
}
