import Foundation
import Testing
import ReptileCore
@testable import ReptileBench
@testable import ReptileFormats

/// The training data path: every record once an epoch, in a seeded shuffled order, as floats.
@Suite struct ShardBatchReaderTests {
    @Test func everyRecordOnceAnEpochShuffledReproduciblyAndScaled() throws {
        let parent = try Support.makeTemporaryFolder("batches")
        defer { Support.remove(parent) }
        let ingest = try IngestTesting.ingest(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--shard-size", "1500",
                                               "--test-fraction", "0.5"], parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        let folder = try DatasetFolder(path: parent.appendingPathComponent("m").path)
        let stored = try IngestTesting.readSplit(parent.appendingPathComponent("m"), "train")
        let total = stored.labels.count
        #expect(total == 5000)

        func epochs(seed: UInt64, shuffle: Bool, count: Int) throws -> [[Int]] {
            let reader = try ShardBatchReader(folder: folder, split: "train", batchSize: 128, shuffle: shuffle, seed: seed,
                                              bufferBlocks: 2, scale: 2, offset: -1)
            var batch = ShardBatch()
            var result: [[Int]] = []
            for _ in 0..<count {
                var order: [Int] = []
                while try reader.next(into: &batch) {
                    #expect(batch.count == 128 || order.count + batch.count == total)
                    // Identify each image by its pixels and check the float scaling on the way.
                    for slot in 0..<batch.count {
                        let floats = batch.images[(slot * 784)..<((slot + 1) * 784)]
                        let pixels = floats.map { UInt8((($0 + 1) / 2 * 255).rounded()) }
                        #expect(floats.allSatisfy { $0 >= -1 && $0 <= 1 })
                        order.append(Self.key(pixels, label: batch.labels[slot]))
                    }
                }
                reader.startEpoch()
                result.append(order)
            }
            return result
        }
        var keys: [Int: Int] = [:]
        for position in 0..<total {
            keys[Self.key(Array(stored.images[(position * 784)..<((position + 1) * 784)]), label: stored.labels[position]), default: 0] += 1
        }
        let shuffled = try epochs(seed: 5, shuffle: true, count: 2)
        for order in shuffled {
            var seen: [Int: Int] = [:]
            for key in order { seen[key, default: 0] += 1 }
            #expect(seen == keys)
        }
        #expect(shuffled[0] != shuffled[1])
        #expect(try epochs(seed: 5, shuffle: true, count: 2) == shuffled)
        #expect(try epochs(seed: 6, shuffle: true, count: 1)[0] != shuffled[0])
        let ordered = try epochs(seed: 5, shuffle: false, count: 1)[0]
        #expect(ordered == (0..<total).map { Self.key(Array(stored.images[($0 * 784)..<(($0 + 1) * 784)]), label: stored.labels[$0]) })
    }

    static func key(_ pixels: [UInt8], label: Int64) -> Int {
        var hasher = Hasher()
        hasher.combine(pixels)
        hasher.combine(label)
        return hasher.finalize()
    }

    @Test func benchPrintsTheDataPathWorkloadAsJSONLines() throws {
        let result = try Support.reptile(["bench", "W6", "--repeats", "1"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            #expect(line.hasPrefix("{\"workload\":\"W6\",\"metric\":\""))
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect((object?["value"] as? Double ?? 0) > 0)
            #expect((object?["peak_rss_mb"] as? Double ?? 0) > 0)
        }
    }
}
