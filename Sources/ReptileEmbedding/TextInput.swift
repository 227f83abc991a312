import Foundation
import ReptileCore
import ReptileFormats

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
