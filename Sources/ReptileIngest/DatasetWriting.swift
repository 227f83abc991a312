import Foundation
import ReptileCore
import ReptileFormats

/// Where a new dataset goes and how its files are stamped.
public struct OutputOptions: Sendable, Equatable {
    public var name: String
    /// The parent folder (`datasets/` by default; `--out`).
    public var parent: String = "datasets"
    public var force = false
    /// The `created` stamp; nil means now, or `$SOURCE_DATE_EPOCH` when set.
    public var created: String? = nil
    /// The command line, recorded in provenance.
    public var command: String = ""
    public init(name: String) { self.name = name }

    public var destination: String {
        URL(fileURLWithPath: parent).appendingPathComponent(name).path
    }
}

/// A dataset name is one plain folder name: nothing that could point elsewhere.
func validateDatasetName(_ name: String) throws {
    let problem: String?
    if name.isEmpty { problem = "is empty" }
    else if name == "." || name == ".." || name.contains("/") || name.contains("\\") { problem = "is a path, not a name" }
    else if name.hasPrefix(".") { problem = "starts with a dot (hidden, and reserved for unfinished outputs)" }
    else if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { problem = "holds control characters" }
    else if name.utf8.count > 200 { problem = "is longer than 200 bytes" }
    else { problem = nil }
    if let problem {
        throw ReptileError("the dataset name \(quoted(name)) \(problem)", fix: "use a plain name such as mnist-small; --out chooses the parent folder")
    }
}

/// One split to write: its records in final order and how to put a range of them into a shard.
struct SplitRecords {
    var name: String
    var labels: [Int]
    /// Writes records [range] of this split (positions in `labels`) into the shard.
    var writeBatch: (ShardWriter, Range<Int>) throws -> Void
}

/// Everything about a new dataset except its records.
struct DatasetDescription {
    var kind: DatasetKind
    var imageShape: ImageShape?
    var classNames: [String]
    var source: DatasetInfo.SourceInfo
    var seed: UInt64
    var config: JSONValue
}

/// Writes shards and dataset_info.json into a staging folder and renames it into place (callers
/// have validated the name before reading any source, so bad names fail fast):
/// the dataset appears complete or not at all.
func writeDataset(_ description: DatasetDescription, splits: [SplitRecords], output: OutputOptions,
                  shardSize: Int, progressEnabled: Bool) throws -> (path: String, info: DatasetInfo) {
    let staging = try StagingFolder(destination: output.destination, force: output.force)
    let created = output.created ?? creationTimestamp()
    let configSHA256 = SHA256.hex(of: try StableJSON.string(description.config))
    let total = splits.reduce(0) { $0 + $1.labels.count }
    let progress = ProgressBar("writing \(output.name)", total: total, unit: description.kind == .image ? "images" : "texts",
                               enabled: progressEnabled && ProgressBar.terminalAttached)
    var splitInfos: [String: DatasetInfo.SplitInfo] = [:]
    let columns = [ShardColumn("source_index", .int64)]
    for split in splits where !split.labels.isEmpty {
        let shardCount = (split.labels.count + shardSize - 1) / shardSize
        var summaries: [ShardSummary] = []
        for shardIndex in 0..<shardCount {
            let range = (shardIndex * shardSize)..<min(split.labels.count, (shardIndex + 1) * shardSize)
            let fileName = shardFileName(split: split.name, index: shardIndex, count: shardCount)
            let metadata = ShardMetadata(kind: description.kind, split: split.name, classNames: description.classNames,
                                         seed: description.seed, configSHA256: configSHA256, created: created)
            let writer = try ShardWriter(path: staging.path(fileName), metadata: metadata, count: range.count,
                                         imageShape: description.imageShape, columns: columns)
            // Batches of 512 keep memory bounded by the batch, not the dataset.
            for batchStart in stride(from: range.lowerBound, to: range.upperBound, by: 512) {
                let batch = batchStart..<min(range.upperBound, batchStart + 512)
                try split.writeBatch(writer, batch)
                progress.advance(by: batch.count)
            }
            summaries.append(try writer.finish())
        }
        var classCounts = [Int](repeating: 0, count: description.classNames.count)
        for label in split.labels { classCounts[label] += 1 }
        splitInfos[split.name] = .init(count: split.labels.count, classCounts: classCounts, shards: summaries)
    }
    progress.finish()
    let info = DatasetInfo(
        name: output.name, kind: description.kind, imageShape: description.imageShape, classNames: description.classNames,
        splits: splitInfos, source: description.source,
        provenance: .init(created: created, seed: description.seed, command: output.command,
                          config: description.config, configSHA256: configSHA256))
    try info.write(to: staging.path(DatasetInfo.fileName))
    try staging.commit()
    return (staging.destination.path, info)
}

/// Fingerprints of the files a dataset was made from.
func describeSourceFiles(_ files: [(path: String, role: String)]) throws -> [DatasetInfo.SourceFile] {
    try files.map { file in
        let attributes = try? FileManager.default.attributesOfItem(atPath: file.path)
        let bytes = (attributes?[.size] as? NSNumber)?.intValue ?? 0
        return .init(path: file.path, role: file.role, bytes: bytes, sha256: try SHA256.hex(ofFileAt: file.path))
    }
}

/// The split options as they are recorded in provenance and hashed into config_sha256.
func splitConfig(_ options: SplitOptions, separateTest: Bool) -> [String: JSONValue] {
    var config: [String: JSONValue] = [
        "seed": .integer(Int64(bitPattern: options.seed)),
        "shard_size": .integer(Int64(options.shardSize)),
        "val_fraction": .number(options.validationFraction),
    ]
    config["test_fraction"] = separateTest ? .null : .number(options.testFraction)
    config["per_class"] = options.perClass.map { .integer(Int64($0)) } ?? .null
    if options.perClass != nil && options.allowFewer { config["allow_fewer"] = .bool(true) }
    return config
}

/// Checks that shared by every kind of ingest: at least two classes and none empty.
func checkClasses(_ classNames: [String], counts: [Int], sourcePath: String) throws {
    guard classNames.count >= 2 else {
        throw ReptileError(path: sourcePath, "holds a single class (\(classNames.first.map { quoted($0) } ?? "none"))",
                           fix: "a classifier needs at least two classes; add the other classes' records")
    }
    if let empty = counts.firstIndex(of: 0) {
        throw ReptileError(path: sourcePath, "class \(quoted(classNames[empty])) has no records", fix: "add records for it or remove it from --classes")
    }
}

/// Checks split options before any work.
func validateSplitOptions(_ options: SplitOptions, separateTest: Bool) throws {
    guard (0..<1).contains(options.testFraction) else {
        throw ReptileError("--test-fraction \(options.testFraction) is outside [0, 1)", fix: "use e.g. 0.2")
    }
    guard (0..<1).contains(options.validationFraction),
          options.validationFraction + (separateTest ? 0 : options.testFraction) < 1 else {
        throw ReptileError("--val-fraction \(options.validationFraction) leaves no training data", fix: "use e.g. 0.1")
    }
    if let perClass = options.perClass, perClass < 1 {
        throw ReptileError("--per-class must be at least 1", fix: "use e.g. 10")
    }
    if options.allowFewer && options.perClass == nil {
        throw ReptileError("--allow-fewer only applies with --per-class", fix: "add --per-class N or drop --allow-fewer")
    }
    guard options.shardSize >= 1 else { throw ReptileError("--shard-size must be at least 1", fix: "use e.g. 10000") }
}
