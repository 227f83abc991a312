import Foundation
import ReptileCore
import ReptileFormats

/// What `reptile inspect` reports, for a dataset folder or a single shard.
public struct InspectReport: Codable, Sendable {
    public var path: String
    /// "dataset" or "shard".
    public var target: String
    public var kind: DatasetKind
    public var imageShape: ImageShape?
    public var classNames: [String]
    /// Per split: counts aligned with class names.
    public var splits: [SplitReport]
    public var samples: [Sample]
    public var pixelStatistics: [PixelStatistics]
    /// dataset_info.json for a dataset; the root attributes for a shard.
    public var info: DatasetInfo?
    public var attributes: [String: String]?
    public var datasets: [DatasetDescription]?
    /// With `--verify`: shards whose sha256 matched dataset_info.json (all of them, or inspect fails).
    public var verifiedShards: Int?

    public struct SplitReport: Codable, Sendable {
        public var split: String
        public var count: Int
        public var classCounts: [Int]
        public var shards: Int
    }

    public struct Sample: Codable, Sendable {
        public var split: String
        public var label: String
        public var text: String?
        /// A character-art rendering of an image (for terminals).
        public var preview: [String]?
    }

    public struct PixelStatistics: Codable, Sendable {
        public var split: String
        public var channel: Int
        public var mean: Double
        public var standardDeviation: Double
        public var minimum: Int
        public var maximum: Int
    }

    public struct DatasetDescription: Codable, Sendable {
        public var name: String
        public var type: String
        public var shape: [Int]
        public var chunks: [Int]?
    }
}

/// Inspects a dataset folder (dataset_info.json + shards) or one `.h5` shard. Streams shards in
/// batches, so memory stays bounded whatever the dataset's size.
public func inspect(path: String, sampleCount: Int = 5, previews: Bool = false, verify: Bool = false) throws -> InspectReport {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ReptileError(path: path, "no such file or folder", fix: "give a dataset folder or a .h5 shard")
    }
    if isDirectory.boolValue {
        let folder = try DatasetFolder(path: path)
        var report = InspectReport(path: path, target: "dataset", kind: folder.info.kind, imageShape: folder.info.imageShape,
                                   classNames: folder.info.classNames, splits: [], samples: [], pixelStatistics: [], info: folder.info)
        for split in folder.info.splitNames {
            let shards = try folder.shards(of: split)
            try add(shards: shards, split: split, to: &report, sampleCount: sampleCount, previews: previews)
            // The labels were all read: the per-class counts of dataset_info.json must be theirs.
            if let counted = report.splits.last?.classCounts, let declared = folder.info.splits[split]?.classCounts, counted != declared {
                throw ReptileError(path: URL(fileURLWithPath: path).appendingPathComponent(DatasetInfo.fileName).path,
                                   "split \(quoted(split)) declares per-class counts \(declared) but its shards hold \(counted)",
                                   fix: "re-create the dataset with `reptile ingest`")
            }
        }
        if verify {
            var verified = 0
            for split in folder.info.splitNames {
                for shard in folder.info.splits[split]?.shards ?? [] {
                    let actual = try SHA256.hex(ofFileAt: folder.shardPath(shard))
                    guard actual == shard.sha256 else {
                        throw ReptileError(path: folder.shardPath(shard), "sha256 is \(actual) but \(DatasetInfo.fileName) records \(shard.sha256)",
                                           fix: "the shard was changed or damaged; re-create the dataset with `reptile ingest`")
                    }
                    verified += 1
                }
            }
            report.verifiedShards = verified
        }
        return report
    }
    if verify {
        throw ReptileError(path: path, "is a single shard; --verify checks a dataset folder's shards against its dataset_info.json",
                           fix: "give the dataset folder")
    }
    let shard = try ShardReader(path: path)
    let file = try HDF5File.open(at: path)
    var attributes: [String: String] = [:]
    for name in file.attributeNames() {
        attributes[name] = try file.attributeText(name)
    }
    var datasets: [InspectReport.DatasetDescription] = []
    for name in ["images", "texts", "labels", "source_index", "d_score", "confidence"] where file.hasDataset(name) {
        let dataset = try file.dataset(name)
        let type: String = switch dataset.type {
        case .uint8: "uint8"
        case .int64: "int64"
        case .float32: "float32"
        case .string: "string (variable-length UTF-8)"
        }
        datasets.append(.init(name: name, type: type, shape: dataset.shape, chunks: dataset.chunkShape()))
    }
    var report = InspectReport(path: path, target: "shard", kind: shard.metadata.kind, imageShape: shard.imageShape,
                               classNames: shard.classNames, splits: [], samples: [], pixelStatistics: [], info: nil,
                               attributes: attributes, datasets: datasets)
    try add(shards: [shard], split: shard.metadata.split, to: &report, sampleCount: sampleCount, previews: previews)
    return report
}

private func add(shards: [ShardReader], split: String, to report: inout InspectReport, sampleCount: Int, previews: Bool) throws {
    var classCounts = [Int](repeating: 0, count: report.classNames.count)
    var count = 0
    let channels = report.imageShape?.channels ?? 0
    var sums = [Double](repeating: 0, count: channels), squares = [Double](repeating: 0, count: channels)
    var minimums = [Int](repeating: 255, count: channels), maximums = [Int](repeating: 0, count: channels)
    var pixelsPerChannel = 0
    for shard in shards {
        for batchStart in stride(from: 0, to: shard.count, by: 1024) {
            let rows = batchStart..<min(shard.count, batchStart + 1024)
            let labels = try shard.labels(rows)
            for label in labels { classCounts[Int(label)] += 1 }
            if let shape = shard.imageShape {
                let pixels = try shard.images(rows)
                pixels.withUnsafeBufferPointer { buffer in
                    for channel in 0..<channels {
                        var sum = 0, square = 0, low = 255, high = 0
                        for index in stride(from: channel, to: buffer.count, by: channels) {
                            let value = Int(buffer[index])
                            sum += value
                            square += value * value
                            low = min(low, value)
                            high = max(high, value)
                        }
                        sums[channel] += Double(sum)
                        squares[channel] += Double(square)
                        minimums[channel] = min(minimums[channel], low)
                        maximums[channel] = max(maximums[channel], high)
                    }
                }
                pixelsPerChannel += pixels.count / channels
                if previews, report.samples.filter({ $0.split == split }).count < sampleCount {
                    for (offset, label) in labels.enumerated().prefix(sampleCount) {
                        let start = offset * shape.pixelCount
                        report.samples.append(.init(split: split, label: report.classNames[Int(label)], text: nil,
                                                    preview: characterArt(Array(pixels[start..<(start + shape.pixelCount)]), shape: shape)))
                    }
                }
            } else if report.samples.filter({ $0.split == split }).count < sampleCount {
                let texts = try shard.texts(rows.lowerBound..<min(rows.upperBound, rows.lowerBound + sampleCount))
                for (text, label) in zip(texts, labels) {
                    report.samples.append(.init(split: split, label: report.classNames[Int(label)], text: text, preview: nil))
                }
            }
            count += rows.count
        }
    }
    report.splits.append(.init(split: split, count: count, classCounts: classCounts, shards: shards.count))
    if channels > 0, pixelsPerChannel > 0 {
        for channel in 0..<channels {
            let mean = sums[channel] / Double(pixelsPerChannel)
            let variance = max(squares[channel] / Double(pixelsPerChannel) - mean * mean, 0)
            report.pixelStatistics.append(.init(split: split, channel: channel, mean: mean, standardDeviation: variance.squareRoot(),
                                                minimum: minimums[channel], maximum: maximums[channel]))
        }
    }
}

/// An image as lines of characters, darkest to brightest, at most 32 columns (two pixel rows a line).
func characterArt(_ pixels: [UInt8], shape: ImageShape) -> [String] {
    let ramp = Array(" .:-=+*#%@")
    let columns = min(shape.width, 32)
    let rows = max(1, min(shape.height / 2, 16))
    var lines: [String] = []
    for row in 0..<rows {
        var line = ""
        for column in 0..<columns {
            let y = row * shape.height / rows, x = column * shape.width / columns
            var value = 0
            for channel in 0..<shape.channels { value += Int(pixels[(y * shape.width + x) * shape.channels + channel]) }
            value /= shape.channels
            line.append(ramp[min(ramp.count - 1, value * ramp.count / 256)])
        }
        lines.append(line)
    }
    return lines
}

/// The report as a person reads it on a terminal.
public func renderReport(_ report: InspectReport) -> String {
    var lines: [String] = []
    let shapeText = report.imageShape.map { "images \($0.height)×\($0.width)×\($0.channels)" } ?? "texts"
    lines.append("\(report.path): \(report.target), \(report.kind.rawValue) (\(shapeText)), \(report.classNames.count) classes")
    if let info = report.info {
        lines.append("source: \(info.source.format), \(info.source.records) records from \(summariseSources(info.source.files.map(\.path)))")
        lines.append("made by reptile \(info.provenance.toolVersion) on \(info.provenance.created), seed \(info.provenance.seed)")
        if case .object(let dropped)? = info.source.processing["duplicates_dropped"] {
            let counts = dropped.keys.sorted().reversed().compactMap { split -> String? in
                guard case .integer(let count)? = dropped[split] else { return nil }
                return "\(split) \(count)"
            }
            lines.append("duplicates dropped: " + counts.joined(separator: ", "))
        }
    }
    if let verified = report.verifiedShards {
        lines.append("verified: the sha256 of all \(verified) shards matches dataset_info.json")
    }
    if let attributes = report.attributes {
        for key in attributes.keys.sorted() { lines.append("  @\(key) = \(attributes[key]!)") }
    }
    if let datasets = report.datasets {
        for dataset in datasets {
            let chunks = dataset.chunks.map { ", chunks \($0)" } ?? ""
            lines.append("  \(dataset.name): \(dataset.type) \(dataset.shape)\(chunks)")
        }
    }
    // Class × split table.
    let nameWidth = min(max(5, report.classNames.map(\.count).max() ?? 5), 30)
    func cell(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
    var header = "class".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
    for split in report.splits { header += cell(split.split, 10) }
    lines.append(header)
    for (index, name) in report.classNames.enumerated() {
        let shown = name.count > nameWidth ? String(name.prefix(nameWidth - 1)) + "…" : name
        var line = shown.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
        for split in report.splits { line += cell(String(split.classCounts[index]), 10) }
        lines.append(line)
    }
    var total = "total".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
    for split in report.splits { total += cell(String(split.count), 10) }
    lines.append(total)
    for statistic in report.pixelStatistics {
        lines.append(String(format: "pixels %@ channel %d: mean %.2f, std %.2f, min %d, max %d", statistic.split, statistic.channel,
                            statistic.mean, statistic.standardDeviation, statistic.minimum, statistic.maximum))
    }
    for sample in report.samples {
        if let text = sample.text {
            lines.append("[\(sample.split)] \(sample.label): \(quoted(text, limit: 100))")
        } else if let preview = sample.preview {
            lines.append("[\(sample.split)] \(sample.label):")
            lines += preview.map { "  |" + $0 + "|" }
        }
    }
    return lines.joined(separator: "\n")
}

/// Source paths for one line: up to three by name, more as a count and the folder they share
/// (an ImageFolder source has one path per image).
func summariseSources(_ paths: [String]) -> String {
    guard paths.count > 3 else { return paths.joined(separator: ", ") }
    var common = paths[0].split(separator: "/", omittingEmptySubsequences: false).dropLast()
    for path in paths.dropFirst() {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        var shared = 0
        while shared < min(common.count, parts.count - 1), common[common.startIndex + shared] == parts[shared] { shared += 1 }
        common = common.prefix(shared)
    }
    let folder = common.joined(separator: "/")
    return "\(paths.count) files" + (folder.isEmpty ? " (\(paths[0]), …)" : " under \(folder)/")
}
