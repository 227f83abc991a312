import ArgumentParser
import Foundation
import ReptileCore
import ReptileEmbedding
import ReptileEngine

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sentence embeddings from a pretrained BERT encoder (all-MiniLM-L6-v2): mean pooling over the real tokens.",
        discussion: """
            INPUT is a text file (one text a line, UTF-8) or a text dataset folder (datasets/NAME, --split). \
            Output: JSON Lines {"text", "input_ids", "embedding"} ("label" too from a dataset) on standard output \
            or --out FILE.jsonl, or HDF5 with --out FILE.h5 (datasets embeddings float32 [N, H], texts, labels).
            """)

    @Option(help: "A Hugging Face model folder: config.json, model.safetensors, vocab.txt (default models/all-MiniLM-L6-v2, which scripts/setup.sh fetches, else ../shared/models/all-MiniLM-L6-v2).")
    var encoder: String?

    @Argument(help: "A text file (one text a line) or a text dataset folder.")
    var input: String

    @Option(help: "The split to embed when INPUT is a dataset.")
    var split: String = "test"

    @Option(help: "Write FILE.jsonl or FILE.h5 instead of JSON Lines on standard output.")
    var out: String?

    @Flag(help: "Replace an existing --out file (only once the new one is complete).")
    var force = false

    @Flag(help: "L2-normalise each embedding.")
    var normalize = false

    @Option(parsing: .unconditional, help: "Texts per forward pass (memory grows with it).")
    var batchSize: Int = 32

    @Option(parsing: .unconditional, help: "Tokens per text, [CLS] and [SEP] included; longer texts are cut (default 256, or the encoder's positions if fewer).")
    var maxLength: Int?

    @Option(help: "Recorded in HDF5 output; embedding itself draws no random numbers, so the output never depends on it.")
    var seed: UInt64 = 0

    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try runReportingErrors {
            try checkCounts([("--batch-size", batchSize, 1), ("--max-length", maxLength, 1)])
            // Without --threads the engine keeps its own default (OPENBLAS_NUM_THREADS, else the cores).
            if let count = threads.given { BLAS.setThreadCount(count) }
            let encoderFolder = try encoder ?? defaultModelFolder("all-MiniLM-L6-v2", option: "--encoder")
            var options = EmbedOptions(encoderFolder: encoderFolder, input: input)
            options.split = split
            options.output = out
            options.force = force
            options.normalize = normalize
            options.batchSize = batchSize
            options.maximumLength = maxLength
            options.seed = seed
            let standardOutput = FileHandle.standardOutput
            let summary = try embedTexts(options) { standardOutput.write(Data($0.utf8)) }
            if let output = summary.output {
                FileHandle.standardError.write(Data("embedded \(summary.count) texts (\(summary.hiddenSize) values each) into \(output)\n".utf8))
            }
        }
    }
}
