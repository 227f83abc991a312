import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileLanguageModel
import ReptileText

// A text run whose generator is a pretrained causal language model fine-tuned on the dataset's
// texts, each rendered after its class name in a fixed prompt (LAMBADA; Kumar et al. 2020):
//
//   checkpoint.h5     the fine-tuned weights (LoRA: the adapters alone; the base model is named by
//                     path and sha256 in the config), AdamW's state, the counters, the config
//   config.json       the same config, for people
//   metrics.jsonl     one line per epoch: mean training loss, tokens, seconds
//   samples.txt       a few generations per class
//   report.json       test-split perplexity under the base and the fine-tuned model
//   synthetic/        written by `reptile generate`

/// What an LM text run was made with.
public struct LanguageModelTextRunConfig: Codable, Equatable, Sendable {
    /// Always "text-lm": tells this run's checkpoint from a GRU text run's or an image run's.
    public var role = "text-lm"
    public var dataset: String
    public var datasetInfoSha256: String
    public var classNames: [String]
    /// The model folder as given, and the sha256 of its weights file (.gguf or model.safetensors).
    public var baseModel: String
    public var baseModelSha256: String
    /// The prompt before each text; `{class}` stands for the class name.
    public var promptTemplate: String
    public var method: FineTuningMethod
    public var epochs: Int
    public var steps: Int
    /// How the number of steps was chosen, in words.
    public var stepRule: String
    public var batchSize: Int
    public var learningRate: Float
    /// Text tokens per training text at most (longer ones are cut), and per generated text.
    public var maximumTokens: Int
    public var truncatedShare: Double
    /// The classifier `generate` takes its confidence from by default (nil: the LM's own class posterior).
    public var classifier: String?
    public var seed: UInt64
    public var threads: Int

    /// The prompt of one class.
    public func prompt(forClass name: String) -> String { promptTemplate.replacingOccurrences(of: "{class}", with: name) }
}

public struct LanguageModelTextTrainingOptions: Sendable {
    public var dataset: String
    public var out: String
    public var baseModel: String
    /// Passes over the training texts; nil: the small-data rule (see `stepRule`).
    public var epochs: Int?
    public var batchSize = 8
    public var learningRate: Float = 1e-3
    public var method = FineTuningMethod.defaultLowRank
    public var maximumTokens = 48
    public var promptTemplate = "Class: {class}\nText:"
    public var classifier: String?
    public var seed: UInt64 = 0
    public var threads: Int?
    public var force = false
    public var showProgress = true
    public var command = ""

    public init(dataset: String, out: String, baseModel: String) {
        self.dataset = dataset
        self.out = out
        self.baseModel = baseModel
    }
}

public struct LanguageModelTextTrainingResult: Sendable {
    public var run: String
    public var epochs: Int
    public var steps: Int
    public var report: JSONValue
}

/// The training texts as token sequences: prompt, " " + text (cut to `maximumTokens`), end token.
struct PromptedTexts {
    var sequences: [(ids: [Int], lossFrom: Int)] = []
    var truncated = 0

    init(texts: [String], labels: [Int], classNames: [String], config: LanguageModelTextRunConfig,
         tokenizer: ByteLevelBPETokenizer, endToken: Int) {
        let prompts = classNames.map { tokenizer.encode(config.prompt(forClass: $0)) }
        for (text, label) in zip(texts, labels) {
            var body = tokenizer.encode(" " + text.trimmingCharacters(in: .whitespacesAndNewlines))
            if body.count > config.maximumTokens {
                body.removeLast(body.count - config.maximumTokens)
                truncated += 1
            }
            sequences.append((prompts[label] + body + [endToken], prompts[label].count))
        }
    }
}

/// The end-of-text token the fine-tuned model learns: the tokenizer's end of sequence.
func endToken(of tokenizer: ByteLevelBPETokenizer, path: String) throws -> Int {
    guard let eos = tokenizer.eosID else {
        throw ReptileError(path: path, "has no end-of-sequence token", fix: "use a model whose tokenizer names one (SmolLM2: <|im_end|>)")
    }
    return eos
}

/// The sha256 of a model folder's weights file.
func baseModelSHA256(_ source: PretrainedLanguageModelSource) throws -> String {
    switch source {
    case .gguf(let url): try SHA256.hex(ofFileAt: url.path)
    case .huggingFace(let folder): try SHA256.hex(ofFileAt: folder.appendingPathComponent("model.safetensors").path)
    }
}

/// The base model of a run, checked to be the file it was fine-tuned from, with the run's weights loaded.
func loadFineTunedLanguageModel(run checkpointPath: String, config: LanguageModelTextRunConfig) throws -> PretrainedLanguageModel {
    let pretrained = try PretrainedLanguageModel(folder: URL(fileURLWithPath: config.baseModel))
    let sha256 = try baseModelSHA256(pretrained.source)
    guard sha256 == config.baseModelSha256 else {
        throw ReptileError(path: pretrained.source.url.path, "is not the base model the run was fine-tuned from (sha256 \(sha256.prefix(12))…, the run recorded \(config.baseModelSha256.prefix(12))…)",
                           fix: "put the original model back at \(config.baseModel)")
    }
    var unused = SeededRandom(seed: 0)
    if case .lowRank(let rank, let alpha, let targets) = config.method {
        pretrained.model.addAdapters(rank: rank, alpha: alpha, targets: targets, random: &unused)
    }
    try ModelCheckpoint.load(from: checkpointPath, into: pretrained.model)
    pretrained.model.setBaseWeightsTrainable(false)
    return pretrained
}

/// The config saved in an LM text run's checkpoint; a one-line error for anything else.
public func readLanguageModelTextRunConfig(checkpoint path: String) throws -> LanguageModelTextRunConfig {
    let file = try CheckpointFile.read(at: path)
    guard let text = file.config, let config = try? StableJSON.decode(LanguageModelTextRunConfig.self, from: Data(text.utf8)),
          config.role == "text-lm" else {
        throw ReptileError(path: path, "is not a language-model text run's checkpoint (no text-lm config attribute)",
                           fix: "give the run folder made by `reptile train text --generator lm`")
    }
    return config
}
