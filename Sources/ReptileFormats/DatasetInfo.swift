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
        try checkDescription(infoPath: infoPath)
        let root = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for split in info.splits.values {
            for shard in split.shards {
                // A shard is a file of this folder: `../../etc/passwd`, or a symbolic link leading
                // out of the folder, would make every reader read another file.
                let resolved = URL(fileURLWithPath: shardPath(shard)).resolvingSymlinksInPath()
                guard !shard.file.contains("/"), shard.file != ".", shard.file != "..",
                      resolved.deletingLastPathComponent().path == root else {
                    throw ReptileError(path: infoPath, location: "shard \(quoted(shard.file))", "leaves the dataset folder",
                                       fix: "list shard files by their name inside the folder; re-create the dataset with `reptile ingest`")
                }
                guard FileManager.default.fileExists(atPath: shardPath(shard)) else {
                    throw ReptileError(path: shardPath(shard), "is listed in \(DatasetInfo.fileName) but missing", fix: "re-create the dataset with `reptile ingest`")
                }
            }
        }
    }

    /// Largest image Reptile reads: 64 Mi values (e.g. 4096×4096×3), so one image never asks for
    /// gigabytes because a file says so.
    public static let maximumImageValues = 1 << 26

    /// What dataset_info.json says, checked before anything is allocated from it: unique class
    /// names, a sane image shape, and per-split counts that add up.
    private func checkDescription(infoPath: String) throws {
        func refuse(_ problem: String) -> ReptileError {
            ReptileError(path: infoPath, problem, fix: "re-create the dataset with `reptile ingest`")
        }
        guard !info.classNames.isEmpty else { throw refuse("lists no class names") }
        var seen = Set<String>()
        for name in info.classNames where !seen.insert(name).inserted {
            throw ReptileError(path: infoPath, "class name \(quoted(name)) is listed twice",
                               fix: "give every class a distinct name and re-create the dataset")
        }
        switch (info.kind, info.imageShape) {
        case (.image, let shape?):
            guard ImageShape.isSane(shape) else {
                throw refuse("image shape \(shape.height)×\(shape.width)×\(shape.channels) is not a usable image size (1–4 channels, at most \(Self.maximumImageValues) values)")
            }
        case (.image, nil): throw refuse("describes images but gives no image_shape")
        case (.text, _): break
        }
        for (name, split) in info.splits {
            guard split.count >= 0, split.classCounts.count == info.classNames.count, split.classCounts.allSatisfy({ $0 >= 0 }),
                  split.classCounts.reduce(0, { $0.addingReportingOverflow($1).partialValue }) == split.count,
                  split.shards.allSatisfy({ $0.count >= 0 }),
                  split.shards.reduce(0, { $0.addingReportingOverflow($1.count).partialValue }) == split.count else {
                throw refuse("the counts of split \(quoted(name)) do not add up (split, per class, per shard)")
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
        return try splitInfo.shards.map { summary in
            let shard = try ShardReader(path: shardPath(summary))
            try check(shard, against: summary)
            return shard
        }
    }

    /// Every shard of a split agrees with dataset_info.json (kind, image shape, classes, count):
    /// readers size their buffers from the description, so a shard that differs is refused here.
    private func check(_ shard: ShardReader, against summary: ShardSummary) throws {
        let fix = "the shard does not belong to this dataset; re-create the dataset with `reptile ingest`"
        guard shard.metadata.kind == info.kind else {
            throw ReptileError(path: shard.path, "holds \(shard.metadata.kind.rawValue)s but \(DatasetInfo.fileName) says \(info.kind.rawValue)s", fix: fix)
        }
        guard shard.imageShape == info.imageShape || info.kind == .text else {
            throw ReptileError(path: shard.path, "holds \(shard.imageShape.map(\.description) ?? "no") images but \(DatasetInfo.fileName) says \(info.imageShape.map(\.description) ?? "none")", fix: fix)
        }
        guard shard.classNames == info.classNames else {
            throw ReptileError(path: shard.path, "lists other class names than \(DatasetInfo.fileName)", fix: fix)
        }
        guard shard.count == summary.count else {
            throw ReptileError(path: shard.path, "holds \(shard.count) records but \(DatasetInfo.fileName) says \(summary.count)", fix: fix)
        }
    }
}
