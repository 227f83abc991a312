import ArgumentParser
import Foundation
import ReptileCore
import ReptileEngine
import ReptileLanguageModel

/// `reptile lm ...`: the pretrained causal language model (SmolLM2 from GGUF, or a Hugging Face Llama folder).
struct LanguageModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "The pretrained causal language model: tokenize, sample",
        discussion: """
            --model DIR is a folder holding one .gguf file (default models/SmolLM2-135M-Instruct, which \
            scripts/setup.sh fetches, else ../shared/models/SmolLM2-135M-Instruct), or a Hugging Face folder with \
            config.json, model.safetensors and tokenizer.json.
            """,
        subcommands: [LanguageModelTokenize.self, LanguageModelSample.self])
}

struct LanguageModelSample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Continue a prompt with the model: greedy at --temperature 0, else seeded sampling.",
        discussion: """
            The prompt is tokenized as it is (write the chat markers yourself for an instruct model). \
            Generation stops at the model's end-of-sequence token or after --max-new-tokens. \
            With --json: one line {"prompt_ids": [...], "ids": [... new ids ...], "text": ...}.
            """)

    @Option(help: "A folder holding one .gguf file, or a Hugging Face folder (config.json, model.safetensors, tokenizer.json); default models/SmolLM2-135M-Instruct, else ../shared/models/SmolLM2-135M-Instruct.")
    var model: String?

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(help: "New tokens at most (default 64).")
    var maxNewTokens = 64

    @Option(help: "Softmax temperature; 0 is greedy (default 1).")
    var temperature: Float = 1

    @Option(help: "Nucleus sampling: only the likeliest tokens holding this share of the probability (default 1: all).")
    var topP: Float = 1

    @Option(help: "Only the K likeliest tokens (default 0: all).")
    var topK = 0

    @Option(help: "Seed of the sampling (default 0).")
    var seed: UInt64 = 0

    @OptionGroup var threads: ThreadOptions

    @Flag(help: "Print one JSON line instead of the text.")
    var json = false

    func validate() throws {
        guard (1...8192).contains(maxNewTokens) else { throw ValidationError("--max-new-tokens must be between 1 and 8192") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 (greedy) or positive") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            let pretrained = try PretrainedLanguageModel(folder: URL(fileURLWithPath: try model ?? defaultModelFolder("SmolLM2-135M-Instruct", option: "--model")))
            let promptIDs = pretrained.tokenizer.encode(prompt)
            guard !promptIDs.isEmpty else { throw ReptileError("--prompt is empty", fix: "give the text to continue") }
            let context = pretrained.model.configuration.contextLength
            guard promptIDs.count + maxNewTokens <= context else {
                throw ReptileError("the prompt's \(promptIDs.count) tokens and --max-new-tokens \(maxNewTokens) exceed the model's context of \(context)",
                                   fix: "shorten the prompt or lower --max-new-tokens")
            }
            let sampling = SamplingSettings(temperature: temperature, topP: topP, topK: topK)
            let continuation = pretrained.model.generate(prompts: [promptIDs], maxNewTokens: maxNewTokens, sampling: sampling,
                                                         seed: seed, stopTokens: pretrained.stopTokens)[0]
            let text = pretrained.tokenizer.decode(continuation.tokens)
            if json {
                print("{\"prompt_ids\":[" + promptIDs.map(String.init).joined(separator: ",") + "],\"ids\":["
                      + continuation.tokens.map(String.init).joined(separator: ",") + "],\"text\":" + jsonString(text) + "}")
            } else {
                print(text)
            }
        }
    }
}

struct LanguageModelTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "The model's token ids of texts (byte-level BPE), no special tokens added.",
        discussion: """
            Texts come as arguments, else as JSON Lines {"text": ...} on standard input (blank lines skipped). \
            Prints one JSON line per text: {"text": ..., "ids": [...]}. Special tokens written in a text \
            (<|im_start|>, <|im_end|>, ...) are kept whole.
            """)

    @Option(help: "A folder holding one .gguf file, or a Hugging Face folder (config.json, model.safetensors, tokenizer.json); default models/SmolLM2-135M-Instruct, else ../shared/models/SmolLM2-135M-Instruct.")
    var model: String?

    @Argument(help: "Texts to tokenize (default: JSON Lines {\"text\": ...} on standard input).")
    var texts: [String] = []

    func run() throws {
        try runReportingErrors {
            let source = try PretrainedLanguageModelSource(folder: URL(fileURLWithPath: try model ?? defaultModelFolder("SmolLM2-135M-Instruct", option: "--model")))
            // Read and check every input line before loading the model or printing anything.
            let inputs = texts.isEmpty ? try Self.readJSONLines(FileHandle.standardInput.readDataToEndOfFile()) : texts
            let tokenizer = try loadTokenizer(source)
            var output = ""
            for text in inputs {
                output += "{\"text\":\(jsonString(text)),\"ids\":[" + tokenizer.encode(text).map(String.init).joined(separator: ",") + "]}\n"
                if output.utf8.count > 1 << 20 {
                    FileHandle.standardOutput.write(Data(output.utf8))
                    output = ""
                }
            }
            FileHandle.standardOutput.write(Data(output.utf8))
        }
    }

    /// The "text" of each non-blank line; a line that is not `{"text": string}` is one error naming its number.
    static func readJSONLines(_ data: Data) throws -> [String] {
        var texts: [String] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let text = object["text"] as? String else {
                throw ReptileError(path: "standard input", location: "line \(lineNumber)",
                                   "is not a JSON object with a \"text\" string: \(quoted(String(decoding: line, as: UTF8.self)))",
                                   fix: "write one {\"text\": \"...\"} a line, or give the texts as arguments")
            }
            texts.append(text)
        }
        return texts
    }
}
