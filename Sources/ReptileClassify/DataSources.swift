import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// A split of a dataset folder named on the command line as `FOLDER[:SPLIT]`
/// (`datasets/mnist-sample:train`, `outputs/run/synthetic`).
public struct ShardSource {
    public let argument: String
    public let folder: DatasetFolder
    public let split: String

    /// Without `:SPLIT`: `defaultSplit`, or the folder's only split (a synthetic folder's `synthetic`).
    public init(_ argument: String, defaultSplit: String) throws {
        self.argument = argument
        var path = argument, requestedSplit: String? = nil
        if !FileManager.default.fileExists(atPath: argument), let colon = argument.lastIndex(of: ":") {
            path = String(argument[..<colon])
            requestedSplit = String(argument[argument.index(after: colon)...])
        }
        folder = try DatasetFolder(path: path)
        if let requestedSplit {
            split = requestedSplit
        } else if folder.info.splits[defaultSplit] != nil {
            split = defaultSplit
        } else if folder.info.splits.count == 1 {
            split = folder.info.splits.keys.first!
        } else {
            throw ReptileError(path: path, "has no \(quoted(defaultSplit)) split (it has \(folder.info.splitNames.joined(separator: ", ")))",
                               fix: "name one as \(path):SPLIT")
        }
        guard let splitInfo = folder.info.splits[split] else {
            throw ReptileError(path: path, "has no \(quoted(split)) split (it has \(folder.info.splitNames.joined(separator: ", ")))",
                               fix: "choose one of those")
        }
        guard splitInfo.count > 0 else {
            throw ReptileError(path: path, "the \(quoted(split)) split is empty", fix: "choose a split with records")
        }
    }

    public var kind: DatasetKind { folder.info.kind }
    public var classNames: [String] { folder.info.classNames }
    public var count: Int { folder.info.splits[split]!.count }
    public var description: String { "\(folder.path):\(split)" }

    /// The first shard file of the split: what a compatibility error names.
    public var firstShardPath: String { folder.shardPath(folder.info.splits[split]!.shards[0]) }

    /// The split's shards as read now: file, count and sha256 of the bytes on disk.
    public func usedData(records: Int? = nil, note: String? = nil) throws -> UsedData {
        let shards = try folder.info.splits[split]!.shards.map { shard in
            UsedData.Shard(file: folder.shardPath(shard), count: shard.count, sha256: try SHA256.hex(ofFileAt: folder.shardPath(shard)))
        }
        return UsedData(dataset: folder.path, split: split, records: records ?? count, note: note, shards: shards)
    }

    /// Class index in this source → class index of the classifier, by name. Errors name the
    /// shard when the data cannot be fed to the classifier: another kind, image size or class set.
    public func labelMap(for config: ClassifierConfig, checkpoint: String?) throws -> [Int] {
        let owner = checkpoint.map { "the classifier \($0)" } ?? "the classifier"
        guard kind.rawValue == config.kind else {
            throw ReptileError(path: checkpoint ?? firstShardPath, "is \(withArticle(config.kind)) classifier but \(description) holds \(kind.rawValue)s",
                               fix: "pretrain \(withArticle(kind.rawValue)) classifier on this data, or give \(config.kind) shards")
        }
        if kind == .image, let shape = folder.info.imageShape {
            let expected = ImageShape(height: config.imageHeight ?? 0, width: config.imageWidth ?? 0, channels: config.imageChannels ?? 0)
            guard shape == expected else {
                throw ReptileError(path: firstShardPath, "images are \(shape) but \(owner) reads \(expected)",
                                   fix: "ingest the data with --resize \(expected.width)x\(expected.height) --channels \(expected.channels), or use a classifier trained on \(shape) images")
            }
        }
        guard Set(classNames) == Set(config.classNames), classNames.count == config.classNames.count else {
            let missing = config.classNames.filter { !classNames.contains($0) }
            let extra = classNames.filter { !config.classNames.contains($0) }
            var difference: [String] = []
            if !extra.isEmpty { difference.append("classes \(extra.map { quoted($0) }.joined(separator: ", ")) unknown to \(owner)") }
            if !missing.isEmpty { difference.append("lacks \(missing.map { quoted($0) }.joined(separator: ", "))") }
            throw ReptileError(path: firstShardPath, "class set differs from \(owner)'s (\(difference.joined(separator: "; ")))",
                               fix: "use data with the classifier's classes \(config.classNames.joined(separator: ","))")
        }
        return classNames.map { config.classNames.firstIndex(of: $0)! }
    }
}

/// "an image", "a text".
func withArticle(_ kind: String) -> String { (kind.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + kind }

/// A seed for one purpose of a run, independent of the others drawn from the same run seed.
func derivedSeed(_ seed: UInt64, _ purpose: String) -> UInt64 {
    var random = SeededRandom(seed: seed).derived(purpose)
    return random.next()
}

/// Exactly which data a run read, for its report.
public struct UsedData: Codable, Equatable, Sendable {
    public struct Shard: Codable, Equatable, Sendable {
        public var file: String
        public var count: Int
        public var sha256: String
    }
    public var dataset: String
    public var split: String
    /// Records used (a held-out slice leaves fewer than the split has).
    public var records: Int
    public var note: String?
    public var shards: [Shard]
}

/// A seeded share of a split's records held out for validation when a dataset has no `val` split:
/// the first `fraction · N` positions of a seeded permutation. Training reads the complement.
public struct HoldoutSlice: Sendable {
    public let heldOut: Set<Int>

    public init(count: Int, fraction: Double, seed: UInt64) {
        var order = Array(0..<count)
        var random = SeededRandom(seed: seed).derived("holdout")
        random.shuffle(&order)
        heldOut = Set(order.prefix(max(0, Self.size(count: count, fraction: fraction))))
    }

    /// How many of `count` records a slice of `fraction` holds: at least one, never all.
    public static func size(count: Int, fraction: Double) -> Int {
        min(count - 1, max(1, Int((Double(count) * fraction).rounded())))
    }

    public func isHeldOut(_ index: Int) -> Bool { heldOut.contains(index) }
}

/// One source of a batch stream: a split (or part of it) read in seeded shuffled order, with its
/// labels mapped to the classifier's classes.
public struct BatchSourceSpec {
    public var source: ShardSource
    public var labelMap: [Int]
    public var keep: ((Int) -> Bool)?
    public init(source: ShardSource, labelMap: [Int], keep: ((Int) -> Bool)? = nil) {
        self.source = source
        self.labelMap = labelMap
        self.keep = keep
    }
}

/// Training batches from one source, or from two with a fixed share of every batch drawn from the
/// second (`--mix`). An epoch is one pass over the first source (over the second when the share
/// is 1); the other source starts over whenever it runs out.
public final class MixedBatches {
    public let batchSize: Int
    public let shareOfSecond: Double
    public let recordsPerEpoch: Int
    /// Optimizer steps in one epoch (the last batch may be short).
    public var stepsPerEpoch: Int { max(1, (recordsPerEpoch + batchSize - 1) / batchSize) }
    private let readers: [ShardBatchReader?]
    private let labelMaps: [[Int]]
    private let leader: Int
    private var raw = ShardBatch()

    public init(_ sources: [BatchSourceSpec], shareOfSecond: Double?, batchSize: Int, seed: UInt64) throws {
        precondition((1...2).contains(sources.count), "one or two training sources")
        self.batchSize = batchSize
        func reader(_ spec: BatchSourceSpec, size: Int, index: Int) throws -> ShardBatchReader? {
            guard size > 0 else { return nil }
            return try ShardBatchReader(folder: spec.source.folder, split: spec.source.split, batchSize: size, shuffle: true,
                                        seed: derivedSeed(seed, "source/\(index)"),
                                        scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset, keep: spec.keep)
        }
        labelMaps = sources.map(\.labelMap)
        if sources.count == 1 {
            self.shareOfSecond = 0
            readers = [try reader(sources[0], size: batchSize, index: 0)]
            leader = 0
            recordsPerEpoch = readers[0]!.count
            return
        }
        // Without --mix, the share that reading both sources as one would give.
        let first = try reader(sources[0], size: 1, index: 0)!.count, second = try reader(sources[1], size: 1, index: 1)!.count
        let share = shareOfSecond ?? Double(second) / Double(first + second)
        self.shareOfSecond = share
        var secondSize = Int((share * Double(batchSize)).rounded())
        if share > 0 && share < 1 { secondSize = min(batchSize - 1, max(1, secondSize)) }
        readers = [try reader(sources[0], size: batchSize - secondSize, index: 0), try reader(sources[1], size: secondSize, index: 1)]
        leader = readers[0] != nil ? 0 : 1
        let leaderCount = leader == 0 ? first : second
        let leaderShare = leader == 0 ? Double(batchSize - secondSize) : Double(secondSize)
        recordsPerEpoch = Int((Double(leaderCount) * Double(batchSize) / leaderShare).rounded())
    }

    public func startEpoch() {
        // The leader's epoch; a follower keeps its place and wraps around by itself.
        readers[leader]?.startEpoch()
    }

    /// The next batch of this epoch, or false at its end.
    public func next(into batch: inout ClassifierBatch) throws -> Bool {
        batch.labels.removeAll(keepingCapacity: true)
        batch.images.removeAll(keepingCapacity: true)
        batch.texts.removeAll(keepingCapacity: true)
        for (index, reader) in readers.enumerated() {
            guard let reader else { continue }
            if try !reader.next(into: &raw) {
                if index == leader { return false }
                reader.startEpoch()
                guard try reader.next(into: &raw) else { continue }
            }
            batch.labels += raw.labels.map { labelMaps[index][Int($0)] }
            batch.images += raw.images
            batch.texts += raw.texts
        }
        return batch.count > 0
    }
}

/// Light augmentation for images: each image moves by a random whole-pixel shift of up to
/// `maximumShift` in each direction; uncovered pixels become black (−1), as zero padding plus a
/// random crop does in torchvision.
public func randomlyShift(_ images: inout [Float], count: Int, shape: ImageShape, maximumShift: Int, random: inout SeededRandom) {
    let height = shape.height, width = shape.width, channels = shape.channels
    let size = shape.pixelCount
    var shifted = [Float](repeating: ImageScaling.readerOffset, count: size)
    for image in 0..<count {
        let dy = random.nextIndex(below: 2 * maximumShift + 1) - maximumShift
        let dx = random.nextIndex(below: 2 * maximumShift + 1) - maximumShift
        if dx == 0 && dy == 0 { continue }
        images.withUnsafeMutableBufferPointer { pixels in
            let base = image * size
            for index in 0..<size { shifted[index] = ImageScaling.readerOffset }
            for row in max(0, dy)..<min(height, height + dy) {
                let sourceRow = row - dy
                let columns = max(0, dx)..<min(width, width + dx)
                guard !columns.isEmpty else { continue }
                for column in columns {
                    let target = (row * width + column) * channels, source = base + (sourceRow * width + column - dx) * channels
                    for channel in 0..<channels { shifted[target + channel] = pixels[source + channel] }
                }
            }
            for index in 0..<size { pixels[base + index] = shifted[index] }
        }
    }
}
