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

/// Where the texts come from: a text file, or a dataset split (with labels).
enum TextInput {
    case lines(path: String, count: Int)
    case dataset(folder: DatasetFolder, split: String, shards: [ShardReader], count: Int)

    var count: Int {
        switch self {
        case .lines(_, let count), .dataset(_, _, _, let count): count
        }
    }

    var hasLabels: Bool {
        if case .dataset = self { return true }
        return false
    }

    static func open(_ path: String, split: String) throws -> TextInput {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such file or folder", fix: "give a text file (one text a line) or a dataset folder")
        }
        if isDirectory.boolValue {
            let folder = try DatasetFolder(path: path)
            guard folder.info.kind == .text else {
                throw ReptileError(path: path, "is an \(folder.info.kind.rawValue) dataset, not a text one", fix: "give a text dataset")
            }
            let shards = try folder.shards(of: split)
            return .dataset(folder: folder, split: split, shards: shards, count: shards.reduce(0) { $0 + $1.count })
        }
        return .lines(path: path, count: try validateLines(path))
    }

    /// One pass over the file before anything is written: every line must be UTF-8. Returns the
    /// number of lines (a final line without "\n" counts; an empty file has none).
    static func validateLines(_ path: String) throws -> Int {
        let reader = try LineReader(path: path)
        var count = 0
        while try reader.nextLine() != nil { count += 1 }
        return count
    }

    /// Calls `body` with each batch of texts (and labels for a dataset), in order.
    func forEachBatch(size: Int, _ body: (_ texts: [String], _ labels: [Int64]?) throws -> Void) throws {
        switch self {
        case .lines(let path, _):
            let reader = try LineReader(path: path)
            var texts: [String] = []
            while let line = try reader.nextLine() {
                texts.append(line)
                if texts.count == size { try body(texts, nil); texts.removeAll(keepingCapacity: true) }
            }
            if !texts.isEmpty { try body(texts, nil) }
        case .dataset(_, _, let shards, _):
            for shard in shards {
                for start in stride(from: 0, to: shard.count, by: size) {
                    let rows = start..<min(shard.count, start + size)
                    try body(try shard.texts(rows), try shard.labels(rows))
                }
            }
        }
    }
}

/// Reads a file line by line (split on "\n" only, a trailing "\r" dropped) in 1 MiB pieces, each
/// line strictly UTF-8; a bad byte is an error naming the line.
final class LineReader {
    let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var lineNumber = 0

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReptileError(path: path, "cannot open the file", fix: "check its permissions")
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    func nextLine() throws -> String? {
        while true {
            if let newline = buffer[position...].firstIndex(of: 0x0A) {
                let line = buffer[position..<newline]
                position = newline + 1
                return try decode(line)
            }
            if atEnd {
                guard position < buffer.count else { return nil }
                let line = buffer[position...]
                position = buffer.count
                return try decode(line)
            }
            buffer.removeFirst(position)
            position = 0
            let piece = try handle.read(upToCount: 1 << 20) ?? Data()
            if piece.isEmpty { atEnd = true } else { buffer += piece }
        }
    }

    private func decode(_ bytes: ArraySlice<UInt8>) throws -> String {
        lineNumber += 1
        let line = bytes.last == 0x0D ? bytes.dropLast() : bytes
        guard let text = String(validating: line, as: UTF8.self) else {
            let offset = firstInvalidUTF8Offset(line)
            throw ReptileError(path: path, location: "line \(lineNumber)",
                               "not valid UTF-8 (byte 0x\(String(format: "%02X", line[line.startIndex + offset])) at column \(offset + 1))",
                               fix: "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
        }
        return text
    }

    /// The offset of the first byte where UTF-8 decoding fails.
    private func firstInvalidUTF8Offset(_ bytes: ArraySlice<UInt8>) -> Int {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput, .error: return min(offset, max(bytes.count - 1, 0))
            }
        }
    }
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

enum EmbeddingOutputFormat {
    case jsonLines, hdf5

    init(path: String) throws {
        switch (path as NSString).pathExtension.lowercased() {
        case "jsonl": self = .jsonLines
        case "h5", "hdf5": self = .hdf5
        default: throw ReptileError(path: path, "unknown output format", fix: "name the output FILE.jsonl (JSON Lines) or FILE.h5 (HDF5)")
        }
    }
}

protocol EmbeddingWriter {
    func append(texts: [String], ids: [[Int]], embeddings: [Float], labels: [Int64]?) throws
    /// Makes the output visible (rename into place).
    func finish() throws
    /// Removes an unfinished output (after an error); does nothing once finished.
    func discard()
}

/// A temporary name beside `path`, registered for removal on interrupt.
func temporaryPath(for path: String) -> String {
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
    InterruptCleanup.register(temporary)
    return temporary
}

/// fsync, then rename over `destination`.
func moveIntoPlace(_ temporary: String, _ destination: String) throws {
    try synchronizeToDisk(temporary)
    guard rename(temporary, destination) == 0 else {
        throw ReptileError(path: destination, "cannot move the finished output into place (\(String(cString: strerror(errno))))",
                           fix: "check the permissions of the folder")
    }
    InterruptCleanup.unregister(temporary)
    try? synchronizeToDisk(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
}

/// `{"text": …, "input_ids": […], "embedding": […]}` (plus `"label"` from a dataset), one a line.
final class JSONLinesEmbeddingWriter: EmbeddingWriter {
    private let destination: String?
    private let temporary: String?
    private let handle: FileHandle?
    private let write: (String) -> Void
    private var finished = false

    init(path: String?, write: @escaping (String) -> Void) {
        destination = path
        temporary = nil
        handle = nil
        self.write = write
    }

    init(temporaryFor path: String) throws {
        let temporary = temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            InterruptCleanup.unregister(temporary)
            throw ReptileError(path: path, "cannot create the output file", fix: "check that its folder exists and is writable")
        }
        destination = path
        self.temporary = temporary
        self.handle = handle
        write = { handle.write(Data($0.utf8)) }
    }

    func append(texts: [String], ids: [[Int]], embeddings: [Float], labels: [Int64]?) throws {
        let width = embeddings.count / max(texts.count, 1)
        var lines = ""
        for (row, text) in texts.enumerated() {
            lines += "{\"text\":\(jsonString(text)),"
            if let labels { lines += "\"label\":\(labels[row])," }
            lines += "\"input_ids\":[" + ids[row].map(String.init).joined(separator: ",") + "],"
            // Swift prints the shortest text that reads back as the same Float.
            lines += "\"embedding\":[" + embeddings[(row * width)..<((row + 1) * width)].map { "\($0)" }.joined(separator: ",") + "]}\n"
        }
        write(lines)
    }

    func finish() throws {
        guard let handle, let temporary, let destination else { finished = true; return }
        try handle.close()
        try moveIntoPlace(temporary, destination)
        finished = true
    }

    func discard() {
        guard !finished, let temporary else { return }
        try? handle?.close()
        try? FileManager.default.removeItem(atPath: temporary)
        InterruptCleanup.unregister(temporary)
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += String(format: "\\u%04x", scalar.value)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// HDF5: `embeddings` float32 [N, H], `texts` variable-length UTF-8 [N], `labels` int64 [N]
/// (dataset input), root attributes describing the run.
final class HDF5EmbeddingWriter: EmbeddingWriter {
    private struct OpenFile {
        var file: HDF5File
        var embeddings: HDF5Dataset
        var texts: HDF5Dataset
        var labels: HDF5Dataset?
    }
    private let destination: String
    private let temporary: String
    /// nil once closed: the datasets hold the file open, so all of them go together.
    private var open: OpenFile?
    private var written = 0
    private var finished = false

    init(path: String, count: Int, hiddenSize: Int, withLabels: Bool, attributes: [String: String]) throws {
        destination = path
        temporary = temporaryPath(for: path)
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            let file = try HDF5File.create(at: temporary)
            for key in attributes.keys.sorted() { try file.setAttribute(key, attributes[key]!) }
            open = OpenFile(file: file,
                            embeddings: try file.createDataset("embeddings", type: .float32, shape: [count, hiddenSize]),
                            texts: try file.createDataset("texts", type: .string, shape: [count]),
                            labels: withLabels ? try file.createDataset("labels", type: .int64, shape: [count]) : nil)
        } catch {
            open = nil
            try? FileManager.default.removeItem(atPath: temporary)
            InterruptCleanup.unregister(temporary)
            throw error
        }
    }

    func append(texts: [String], ids: [[Int]], embeddings: [Float], labels: [Int64]?) throws {
        guard let open else { preconditionFailure("HDF5EmbeddingWriter.append after finish") }
        let rows = written..<(written + texts.count)
        try open.embeddings.write(rows: rows, embeddings)
        try open.texts.writeStrings(rows: rows, texts)
        if let datasetLabels = open.labels, let labels { try datasetLabels.write(rows: rows, labels) }
        written = rows.upperBound
    }

    func finish() throws {
        try open?.file.flush()
        // The file must be closed (every id with it) before it is renamed.
        open = nil
        try moveIntoPlace(temporary, destination)
        finished = true
    }

    func discard() {
        guard !finished else { return }
        open = nil
        try? FileManager.default.removeItem(atPath: temporary)
        InterruptCleanup.unregister(temporary)
    }
}
