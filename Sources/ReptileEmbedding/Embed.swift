import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileText

/// What `reptile embed` does, without the command line.
public struct EmbedOptions: Sendable {
    public var encoderFolder: String
    /// A text file (one text a line) or a text dataset folder.
    public var input: String
    /// The dataset split to read (dataset input only).
    public var split: String = "test"
    /// nil: JSON Lines on standard output; `.jsonl` or `.h5` by extension otherwise.
    public var output: String?
    public var force = false
    public var normalize = false
    public var batchSize = 32
    /// Tokens per text, [CLS] and [SEP] included; nil: 256, or the encoder's positions if fewer.
    public var maximumLength: Int?
    /// Embedding draws no random numbers (evaluation mode, no dropout); the seed is recorded in
    /// HDF5 output so every command's files say how they were made.
    public var seed: UInt64 = 0
    public var showProgress = true

    public init(encoderFolder: String, input: String) {
        self.encoderFolder = encoderFolder
        self.input = input
    }
}

public struct EmbedSummary: Sendable {
    public var count: Int
    public var hiddenSize: Int
    public var output: String?
}

/// Embeds every text of `options.input` with the pretrained encoder: mean pooling over real
/// tokens, optionally L2-normalised. Memory is bounded by the batch; the output appears only
/// complete (temporary name, fsync, rename).
@discardableResult
public func embedTexts(_ options: EmbedOptions, writeToStandardOutput: @escaping (String) -> Void) throws -> EmbedSummary {
    guard options.batchSize >= 1 else { throw ReptileError("--batch-size must be at least 1", fix: "use e.g. 32") }
    if let length = options.maximumLength, length < 2 {
        throw ReptileError("--max-length must be at least 2 ([CLS] and [SEP])", fix: "use e.g. 256")
    }
    let format = try options.output.map(EmbeddingOutputFormat.init(path:))
    if let output = options.output, FileManager.default.fileExists(atPath: output), !options.force {
        throw ReptileError(path: output, "already exists", fix: "give --force to replace it, or another --out")
    }
    // The input is checked first (every line's UTF-8 included): its errors need no model loaded.
    let input = try TextInput.open(options.input, split: options.split)
    let pretrained = try PretrainedTextEncoder.load(folder: options.encoderFolder)
    let encoder = pretrained.encoder
    let positions = encoder.config.maxPositionEmbeddings
    let maximumLength = options.maximumLength ?? min(WordPieceTokenizer.defaultMaximumLength, positions)
    guard maximumLength <= positions else {
        throw ReptileError("--max-length \(maximumLength) exceeds the encoder's \(positions) positions", fix: "use at most \(positions)")
    }
    encoder.prepareForInference()
    let hidden = encoder.config.hiddenSize

    let writer: EmbeddingWriter
    switch format {
    case nil: writer = JSONLinesEmbeddingWriter(path: nil, write: writeToStandardOutput)
    case .jsonLines: writer = try JSONLinesEmbeddingWriter(temporaryFor: options.output!)
    case .hdf5:
        writer = try HDF5EmbeddingWriter(path: options.output!, count: input.count, hiddenSize: hidden, withLabels: input.hasLabels,
                                         attributes: ["encoder": pretrained.folder, "normalized": options.normalize ? "true" : "false",
                                                      "max_length": String(maximumLength), "seed": String(options.seed),
                                                      "tool_version": ReptileVersion.current])
    }
    defer { writer.discard() }

    let progress = ProgressBar("embed", total: input.count, unit: "texts", enabled: options.showProgress && ProgressBar.terminalAttached)
    // A private pool: batches of different lengths leave blocks of different sizes behind, so it
    // is emptied whenever it holds more than a few batches' worth (memory bounded by the batch).
    let pool = StoragePool()
    let poolLimit = 4 * options.batchSize * maximumLength * (hidden + encoder.config.intermediateSize)
    try StoragePool.$current.withValue(pool) {
        // Texts are read a window of batches at a time and batched by length within it, so a batch
        // pads short texts to a similar length rather than to the window's longest; the output
        // keeps the input's order. The window bounds memory.
        try input.forEachBatch(size: options.batchSize * lengthSortingWindowBatches) { texts, labels in
            let encoded = texts.map { pretrained.tokenizer.encode($0, maximumLength: maximumLength) }
            let order = encoded.indices.sorted { (encoded[$0].count, $0) < (encoded[$1].count, $1) }
            var pooled = [Float](repeating: 0, count: texts.count * hidden)
            for start in stride(from: 0, to: order.count, by: options.batchSize) {
                let rows = Array(order[start..<min(order.count, start + options.batchSize)])
                let batch = pretrained.tokenizer.padBatch(rows.map { encoded[$0] })
                let hiddenStates = encoder(ids: batch.ids, mask: batch.attentionMask, batch: batch.count, sequence: batch.sequenceLength)
                maskedMeanPooling(hiddenStates, mask: batch.attentionMask).value.withUnsafeBufferPointer { values in
                    for (slot, row) in rows.enumerated() {
                        for index in 0..<hidden { pooled[row * hidden + index] = values[slot * hidden + index] }
                    }
                }
                progress.advance(by: rows.count)
                if pool.pooledElementCount > poolLimit { pool.releaseFreeBlocks() }
            }
            if options.normalize { normalizeRows(&pooled, width: hidden) }
            try writer.append(texts: texts, ids: encoded, embeddings: pooled, labels: labels)
        }
    }
    progress.finish()
    try writer.finish()
    return EmbedSummary(count: input.count, hiddenSize: hidden, output: options.output)
}

/// Batches per window of texts sorted by length (see embedTexts).
let lengthSortingWindowBatches = 8

/// Each row divided by its L2 norm (at least 1e-12, as torch's F.normalize).
func normalizeRows(_ values: inout [Float], width: Int) {
    values.withUnsafeMutableBufferPointer { buffer in
        for row in 0..<(buffer.count / width) {
            var squares: Float = 0
            for index in (row * width)..<((row + 1) * width) { squares += buffer[index] * buffer[index] }
            let scale = 1 / max(squares.squareRoot(), 1e-12)
            for index in (row * width)..<((row + 1) * width) { buffer[index] *= scale }
        }
    }
}
