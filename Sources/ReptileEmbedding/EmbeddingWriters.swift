import Foundation
import ReptileCore
import ReptileFormats

/// Where `reptile embed` writes: JSON Lines or HDF5, chosen by the output's extension.
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
    removeAbandonedPartials(of: url.lastPathComponent, in: url.deletingLastPathComponent())
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
