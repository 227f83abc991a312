import Foundation
import ReptileCore

/// What a dataset holds: images or texts.
public enum DatasetKind: String, Codable, Sendable {
    case image, text
}

/// Height × width × channels of every image in a dataset.
public struct ImageShape: Codable, Equatable, Sendable, CustomStringConvertible {
    public var height: Int
    public var width: Int
    public var channels: Int
    public init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
    }
    public var pixelCount: Int { height * width * channels }
    /// 1–4 channels, at least 1×1 and at most `DatasetFolder.maximumImageValues` values, computed without overflow.
    public static func isSane(_ shape: ImageShape) -> Bool {
        guard shape.height >= 1, shape.width >= 1, (1...4).contains(shape.channels) else { return false }
        let (area, overflow) = shape.height.multipliedReportingOverflow(by: shape.width)
        return !overflow && area <= DatasetFolder.maximumImageValues / shape.channels
    }
    public var description: String { "\(height)×\(width)×\(channels)" }
}

/// The root attributes every shard carries (the shard contract in DESIGN.md).
public struct ShardMetadata: Equatable, Sendable {
    public static let schemaVersion: Int64 = 1
    public var kind: DatasetKind
    public var split: String
    public var classNames: [String]
    public var seed: UInt64
    public var configSHA256: String
    public var toolVersion: String = ReptileVersion.current
    public var created: String
    /// Synthetic shards: the sha256 of the generator checkpoint they came from.
    public var generatorSHA256: String? = nil

    public init(kind: DatasetKind, split: String, classNames: [String], seed: UInt64, configSHA256: String,
                created: String, generatorSHA256: String? = nil) {
        self.kind = kind
        self.split = split
        self.classNames = classNames
        self.seed = seed
        self.configSHA256 = configSHA256
        self.created = created
        self.generatorSHA256 = generatorSHA256
    }
}

/// A named per-sample column besides images/texts and labels (`d_score`, `confidence`, `source_index`).
public struct ShardColumn: Sendable, Equatable {
    public var name: String
    public var type: HDF5ElementType
    public init(_ name: String, _ type: HDF5ElementType) {
        self.name = name
        self.type = type
    }
}

/// `train-00000-of-00003.h5`: the split, the shard's index and the number of shards.
public func shardFileName(split: String, index: Int, count: Int) -> String {
    func fiveDigits(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }
    return "\(split)-\(fiveDigits(index))-of-\(fiveDigits(count)).h5"
}

/// One shard as `dataset_info.json` lists it.
public struct ShardSummary: Codable, Equatable, Sendable {
    public var file: String
    public var count: Int
    public var sha256: String
}

/// The time stamp written into files: now, or `$SOURCE_DATE_EPOCH` (the reproducible-builds
/// convention) so that the same input gives byte-identical files.
public func creationTimestamp(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    if let epoch = environment["SOURCE_DATE_EPOCH"].flatMap(TimeInterval.init) {
        return formatter.string(from: Date(timeIntervalSince1970: epoch))
    }
    return formatter.string(from: Date())
}

/// Writes one shard of a known number of records, batch by batch, so memory is bounded by the batch.
public final class ShardWriter {
    /// Images are chunked in about this many bytes (contract: 256 KiB – 1 MiB).
    static let targetChunkBytes = 512 * 1024
    static let maximumChunkBytes = 1 << 20

    public let path: String
    public let count: Int
    public let metadata: ShardMetadata
    private var file: HDF5File?
    private var samples: HDF5Dataset?
    private var labels: HDF5Dataset?
    private var columns: [String: HDF5Dataset] = [:]
    private let imageShape: ImageShape?
    public private(set) var written = 0

    public init(path: String, metadata: ShardMetadata, count: Int, imageShape: ImageShape?, columns extraColumns: [ShardColumn] = []) throws {
        precondition((metadata.kind == .image) == (imageShape != nil), "an image shard needs an image shape, a text shard none")
        self.path = path
        self.count = count
        self.metadata = metadata
        self.imageShape = imageShape
        let file = try HDF5File.create(at: path)
        self.file = file
        if let shape = imageShape {
            samples = try file.createDataset("images", type: .uint8, shape: [count, shape.height, shape.width, shape.channels],
                                             chunkShape: Self.imageChunkShape(count: count, shape: shape))
        } else {
            samples = try file.createDataset("texts", type: .string, shape: [count])
        }
        let columnChunk = [min(max(count, 1), 65_536)]
        labels = try file.createDataset("labels", type: .int64, shape: [count], chunkShape: columnChunk)
        for column in extraColumns {
            columns[column.name] = try file.createDataset(column.name, type: column.type, shape: [count], chunkShape: columnChunk)
        }
        try file.setAttribute("schema_version", ShardMetadata.schemaVersion)
        try file.setAttribute("kind", metadata.kind.rawValue)
        try file.setAttribute("split", metadata.split)
        try file.setAttribute("class_names", try StableJSON.string(metadata.classNames))
        try file.setAttribute("seed", Int64(bitPattern: metadata.seed))
        try file.setAttribute("config_sha256", metadata.configSHA256)
        try file.setAttribute("tool_version", metadata.toolVersion)
        try file.setAttribute("created", metadata.created)
        if let generator = metadata.generatorSHA256 { try file.setAttribute("generator_sha256", generator) }
    }

    /// Rows per chunk so that a chunk holds about `targetChunkBytes`; very large images are chunked within the image.
    static func imageChunkShape(count: Int, shape: ImageShape) -> [Int] {
        let rowBytes = shape.pixelCount
        if rowBytes <= maximumChunkBytes {
            let rows = max(1, min(max(count, 1), targetChunkBytes / rowBytes))
            return [rows, shape.height, shape.width, shape.channels]
        }
        let imageRows = max(1, maximumChunkBytes / (shape.width * shape.channels))
        return [1, min(imageRows, shape.height), shape.width, shape.channels]
    }

    public func appendImages(_ pixels: [UInt8], labels batchLabels: [Int64], columns values: [String: [Float]] = [:], integerColumns: [String: [Int64]] = [:]) throws {
        guard let shape = imageShape, let samples else { preconditionFailure("appendImages on a text shard") }
        precondition(pixels.count == batchLabels.count * shape.pixelCount, "pixels do not match \(batchLabels.count) images of \(shape)")
        try appendRows(batchLabels.count) { rows in
            try samples.write(rows: rows, pixels)
            try appendLabelsAndColumns(rows, batchLabels, values, integerColumns)
        }
    }

    public func appendTexts(_ texts: [String], labels batchLabels: [Int64], columns values: [String: [Float]] = [:], integerColumns: [String: [Int64]] = [:]) throws {
        guard imageShape == nil, let samples else { preconditionFailure("appendTexts on an image shard") }
        precondition(texts.count == batchLabels.count, "\(texts.count) texts but \(batchLabels.count) labels")
        try appendRows(texts.count) { rows in
            try samples.writeStrings(rows: rows, texts)
            try appendLabelsAndColumns(rows, batchLabels, values, integerColumns)
        }
    }

    private func appendRows(_ batchCount: Int, _ body: (Range<Int>) throws -> Void) throws {
        guard written + batchCount <= count else {
            throw ReptileError(path: path, "more records than the \(count) this shard was made for")
        }
        try body(written..<(written + batchCount))
        written += batchCount
    }

    private func appendLabelsAndColumns(_ rows: Range<Int>, _ batchLabels: [Int64], _ values: [String: [Float]], _ integerValues: [String: [Int64]]) throws {
        try labels?.write(rows: rows, batchLabels)
        precondition(Set(values.keys).union(integerValues.keys) == Set(columns.keys), "every declared column needs values in every batch")
        // In name order: a dictionary's order changes from process to process, and the order in
        // which chunks are written decides where HDF5 puts them, so it must be fixed for two runs
        // (synthetic shards with d_score and confidence) to give byte-identical files.
        for name in values.keys.sorted() { try columns[name]?.write(rows: rows, values[name]!) }
        for name in integerValues.keys.sorted() { try columns[name]?.write(rows: rows, integerValues[name]!) }
    }

    /// Closes the file and returns its summary for dataset_info.json (the caller's staging folder flushes and renames).
    public func finish() throws -> ShardSummary {
        guard written == count else {
            throw ReptileError(path: path, "only \(written) of \(count) records were written")
        }
        try file?.flush()
        samples = nil
        labels = nil
        columns = [:]
        file = nil
        return ShardSummary(file: URL(fileURLWithPath: path).lastPathComponent, count: count, sha256: try SHA256.hex(ofFileAt: path))
    }
}

/// Reads a shard and checks it against the contract on opening.
public final class ShardReader {
    public let path: String
    public let metadata: ShardMetadata
    public let count: Int
    public let imageShape: ImageShape?
    private let file: HDF5File
    private let samples: HDF5Dataset
    private let labelsDataset: HDF5Dataset

    public init(path: String) throws {
        self.path = path
        let file = try HDF5File.open(at: path)
        self.file = file
        func requiredString(_ name: String) throws -> String {
            guard let value = try file.stringAttribute(name) else {
                throw ReptileError(path: path, "lacks the root attribute \(quoted(name))", fix: "write shards with Reptile (schema version \(ShardMetadata.schemaVersion))")
            }
            return value
        }
        guard let kind = DatasetKind(rawValue: try requiredString("kind")) else {
            throw ReptileError(path: path, "root attribute \"kind\" is neither image nor text", fix: "rewrite the shard with Reptile")
        }
        let classNamesJSON = try requiredString("class_names")
        guard let classNames = try? JSONDecoder().decode([String].self, from: Data(classNamesJSON.utf8)), !classNames.isEmpty else {
            throw ReptileError(path: path, "root attribute \"class_names\" is not a JSON list of names", fix: "rewrite the shard with Reptile")
        }
        metadata = ShardMetadata(kind: kind, split: try requiredString("split"), classNames: classNames,
                                 seed: UInt64(bitPattern: try file.integerAttribute("seed") ?? 0),
                                 configSHA256: try requiredString("config_sha256"), created: try requiredString("created"),
                                 generatorSHA256: try file.stringAttribute("generator_sha256"))
        let labelsDataset = try file.dataset("labels")
        let samples = try file.dataset(kind == .image ? "images" : "texts")
        self.labelsDataset = labelsDataset
        self.samples = samples
        count = labelsDataset.rowCount
        guard labelsDataset.type == .int64, labelsDataset.shape.count == 1 else {
            throw ReptileError(path: path, "\"labels\" must be int64 of shape (N)", fix: "rewrite the shard with Reptile")
        }
        guard samples.rowCount == count else {
            throw ReptileError(path: path, "\(samples.rowCount) \(samples.name) but \(count) labels", fix: "the shard is damaged; re-create it")
        }
        if kind == .image {
            guard samples.type == .uint8, samples.shape.count == 4 else {
                throw ReptileError(path: path, "\"images\" must be uint8 of shape (N, H, W, C)", fix: "rewrite the shard with Reptile")
            }
            let shape = ImageShape(height: samples.shape[1], width: samples.shape[2], channels: samples.shape[3])
            guard ImageShape.isSane(shape) else {
                throw ReptileError(path: path, "\"images\" has shape \(samples.shape), not a usable image size (1–4 channels, at most \(DatasetFolder.maximumImageValues) values)",
                                   fix: "rewrite the shard with Reptile")
            }
            imageShape = shape
        } else {
            guard samples.type == .string, samples.shape.count == 1 else {
                throw ReptileError(path: path, "\"texts\" must be strings of shape (N)", fix: "rewrite the shard with Reptile")
            }
            imageShape = nil
        }
    }

    public var classNames: [String] { metadata.classNames }

    /// Labels as class indices, checked to be in range.
    public func labels(_ rows: Range<Int>? = nil) throws -> [Int64] {
        let rows = rows ?? 0..<count
        let values = try labelsDataset.read(rows: rows, as: Int64.self)
        if let bad = values.firstIndex(where: { $0 < 0 || $0 >= Int64(classNames.count) }) {
            throw ReptileError(path: path, location: "record \(rows.lowerBound + bad)",
                               "label \(values[bad]) is outside the \(classNames.count) classes", fix: "the shard is damaged; re-create it")
        }
        return values
    }

    /// uint8 pixels, rows × H × W × C.
    public func images(_ rows: Range<Int>) throws -> [UInt8] {
        guard imageShape != nil else {
            throw ReptileError(path: path, "is a text shard where images are needed", fix: "give an image dataset")
        }
        return try samples.read(rows: rows, as: UInt8.self)
    }

    public func texts(_ rows: Range<Int>) throws -> [String] {
        guard imageShape == nil else {
            throw ReptileError(path: path, "is an image shard where texts are needed", fix: "give a text dataset")
        }
        return try samples.readStrings(rows: rows)
    }

    public func hasColumn(_ name: String) -> Bool { file.hasDataset(name) }

    public func floatColumn(_ name: String, _ rows: Range<Int>? = nil) throws -> [Float] {
        try file.dataset(name).read(rows: rows ?? 0..<count, as: Float.self)
    }

    public func integerColumn(_ name: String, _ rows: Range<Int>? = nil) throws -> [Int64] {
        try file.dataset(name).read(rows: rows ?? 0..<count, as: Int64.self)
    }
}
