import Foundation
import ReptileCore

/// `dataset_info.json`: what a dataset folder holds and where it came from. A folder without it is not a dataset.
public struct DatasetInfo: Codable, Equatable, Sendable {
    public static let fileName = "dataset_info.json"

    public var schemaVersion: Int64 = ShardMetadata.schemaVersion
    public var name: String
    public var kind: DatasetKind
    /// [height, width, channels] for image datasets.
    public var imageShape: ImageShape?
    public var classNames: [String]
    /// Keyed by split name (`train`, `val`, `test`, `synthetic`).
    public var splits: [String: SplitInfo]
    public var source: SourceInfo
    public var provenance: Provenance

    public struct SplitInfo: Codable, Equatable, Sendable {
        public var count: Int
        /// Counts aligned with `class_names`.
        public var classCounts: [Int]
        public var shards: [ShardSummary]
        public init(count: Int, classCounts: [Int], shards: [ShardSummary]) {
            self.count = count
            self.classCounts = classCounts
            self.shards = shards
        }
    }

    public struct SourceFile: Codable, Equatable, Sendable {
        public var path: String
        public var role: String
        public var bytes: Int
        public var sha256: String
        public init(path: String, role: String, bytes: Int, sha256: String) {
            self.path = path
            self.role = role
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    public struct SourceInfo: Codable, Equatable, Sendable {
        public var format: String
        public var files: [SourceFile]
        /// Records read from the source, before deduplication and --per-class.
        public var records: Int
        /// Free-form facts about the processing (duplicates dropped, resizing, encoding, …).
        public var processing: [String: JSONValue]
        public init(format: String, files: [SourceFile], records: Int, processing: [String: JSONValue]) {
            self.format = format
            self.files = files
            self.records = records
            self.processing = processing
        }
    }

    public struct Provenance: Codable, Equatable, Sendable {
        public var toolVersion: String
        public var created: String
        public var seed: UInt64
        public var command: String
        public var config: JSONValue
        public var configSHA256: String

        // "configSha256" so that the snake_case key strategies turn it into config_sha256 and back.
        enum CodingKeys: String, CodingKey {
            case toolVersion, created, seed, command, config
            case configSHA256 = "configSha256"
        }

        public init(toolVersion: String = ReptileVersion.current, created: String, seed: UInt64, command: String, config: JSONValue, configSHA256: String) {
            self.toolVersion = toolVersion
            self.created = created
            self.seed = seed
            self.command = command
            self.config = config
            self.configSHA256 = configSHA256
        }
    }

    public init(name: String, kind: DatasetKind, imageShape: ImageShape?, classNames: [String], splits: [String: SplitInfo],
                source: SourceInfo, provenance: Provenance) {
        self.name = name
        self.kind = kind
        self.imageShape = imageShape
        self.classNames = classNames
        self.splits = splits
        self.source = source
        self.provenance = provenance
    }

    /// Splits in their natural order: train, val, test, synthetic, then any other.
    public var splitNames: [String] {
        let order = ["train", "val", "test", "synthetic"]
        return splits.keys.sorted { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
    }

    public func write(to path: String) throws {
        var data = try StableJSON.encode(self)
        data.append(0x0A)
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw ReptileError(path: path, "cannot write (\(error.localizedDescription))", fix: "check free disk space and permissions")
        }
    }
}

/// A dataset folder: `dataset_info.json` plus its shards, checked for presence on opening.
public struct DatasetFolder: Sendable {
    public let path: String
    public let info: DatasetInfo
    /// dataset_info.json as read, for the checksums below.
    private let infoData: Data

    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such dataset folder", fix: "run `reptile ingest` first or check the path")
        }
        guard isDirectory.boolValue else {
            throw ReptileError(path: path, "is a file, not a dataset folder", fix: "give the folder that holds dataset_info.json")
        }
        let infoPath = URL(fileURLWithPath: path).appendingPathComponent(DatasetInfo.fileName).path
        guard let data = FileManager.default.contents(atPath: infoPath) else {
            throw ReptileError(path: path, "is not a dataset: it has no \(DatasetInfo.fileName)",
                               fix: "give a folder made by `reptile ingest` (an unfinished one is never renamed into place)")
        }
        infoData = data
        do {
            info = try StableJSON.decode(DatasetInfo.self, from: data)
        } catch {
            throw ReptileError(path: infoPath, "is not a valid dataset description (\(error))", fix: "re-create the dataset with `reptile ingest`")
        }
        for split in info.splits.values {
            for shard in split.shards where !FileManager.default.fileExists(atPath: shardPath(shard)) {
                throw ReptileError(path: shardPath(shard), "is listed in \(DatasetInfo.fileName) but missing", fix: "re-create the dataset with `reptile ingest`")
            }
        }
    }

    /// The sha256 of dataset_info.json, which lists every shard's sha256: the dataset's identity.
    public var infoSHA256: String { SHA256.hex(of: infoData) }

    /// The same without the provenance (command line, creation time, tool version): what stays
    /// equal when a dataset is ingested again from the same sources with the same settings.
    public func contentSHA256() throws -> String {
        guard case .object(var fields) = try StableJSON.decode(JSONValue.self, from: infoData) else {
            throw ReptileError(path: path, "\(DatasetInfo.fileName) is not a JSON object", fix: "re-create the dataset with `reptile ingest`")
        }
        fields["provenance"] = nil
        return SHA256.hex(of: try StableJSON.encode(JSONValue.object(fields), pretty: false))
    }

    public func shardPath(_ shard: ShardSummary) -> String {
        URL(fileURLWithPath: path).appendingPathComponent(shard.file).path
    }

    /// Readers for every shard of a split, in order.
    public func shards(of split: String) throws -> [ShardReader] {
        guard let splitInfo = info.splits[split] else {
            throw ReptileError(path: path, "has no \(quoted(split)) split (it has \(info.splitNames.joined(separator: ", ")))",
                               fix: "choose one of those")
        }
        return try splitInfo.shards.map { try ShardReader(path: shardPath($0)) }
    }
}
