import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats
@testable import ReptileIngest

/// `reptile ingest image` end to end on the real MNIST sample and on PNG trees made by Pillow.
@Suite struct IngestImageTests {
    static let mnistFolder = Support.packageRoot.appendingPathComponent("datasets/samples/mnist")
    static let mnistCounts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

    @Test func gzipDecompressesTheSampleToItsPublishedChecksums() throws {
        for (file, sha256) in [("t10k-images-idx3-ubyte.gz", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                               ("t10k-labels-idx1-ubyte.gz", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")] {
            let source = try ByteSource(path: Self.mnistFolder.appendingPathComponent(file).path)
            #expect(source.isGzip)
            var hasher = SHA256()
            while true {
                let piece = try source.read(upTo: 300_001)
                if piece.isEmpty { break }
                hasher.update(piece)
            }
            #expect(hasher.finalizeHex() == sha256)
        }
    }

    @Test func mnistIngestsWithThePublishedCountsAndExactPixels() throws {
        let parent = try Support.makeTemporaryFolder("mnist-all")
        defer { Support.remove(parent) }
        let result = try IngestTesting.ingest(["ingest", "image", Self.mnistFolder.path, "--name", "mnist", "--test-fraction", "0"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let dataset = parent.appendingPathComponent("mnist")
        let info = try DatasetFolder(path: dataset.path).info
        #expect(info.classNames == (0...9).map(String.init))
        #expect(info.imageShape == ImageShape(height: 28, width: 28, channels: 1))
        #expect(info.splits["train"]?.classCounts == Self.mnistCounts)
        #expect(info.splits["test"] == nil)

        // Byte for byte: every stored image and label equals the source record it came from.
        let images = try IDXFile.readImages(at: Self.mnistFolder.appendingPathComponent("t10k-images-idx3-ubyte.gz").path)
        let labels = try IDXFile.readLabels(at: Self.mnistFolder.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path)
        let stored = try IngestTesting.readSplit(dataset, "train")
        #expect(stored.labels.count == 10_000)
        #expect(Set(stored.sourceIndices).count == 10_000)
        var mismatches = 0
        for (position, sourceIndex) in stored.sourceIndices.enumerated() {
            let source = Int(sourceIndex)
            if stored.labels[position] != Int64(labels[source]) { mismatches += 1 }
            if stored.images[(position * 784)..<(position * 784 + 784)] != images.pixels[(source * 784)..<(source * 784 + 784)] { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func splitsAreStratifiedSeededAndPerClassNeverShrinksTest() throws {
        let parent = try Support.makeTemporaryFolder("mnist-split")
        defer { Support.remove(parent) }
        let first = try IngestTesting.ingest(["ingest", "image", Self.mnistFolder.path, "--name", "a", "--test-fraction", "0.2",
                                              "--val-fraction", "0.1", "--seed", "7", "--shard-size", "3000"], parent: parent)
        try #require(first.status == 0, "\(first.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("a").path).info
        #expect(info.splits["train"]?.count == 7000)
        #expect(info.splits["val"]?.count == 1000)
        #expect(info.splits["test"]?.count == 2000)
        #expect(info.splits["train"]?.shards.map(\.file) == ["train-00000-of-00003.h5", "train-00001-of-00003.h5", "train-00002-of-00003.h5"])
        #expect(info.splits["train"]?.shards.map(\.count) == [3000, 3000, 1000])
        // Stratified: each class's test share is within one record of 20 % of that class.
        for (label, count) in Self.mnistCounts.enumerated() {
            #expect(abs(Double(info.splits["test"]?.classCounts[label] ?? 0) - Double(count) * 0.2) < 1)
            #expect(abs(Double(info.splits["val"]?.classCounts[label] ?? 0) - Double(count) * 0.1) < 1)
        }
        // Disjoint and complete.
        let dataset = parent.appendingPathComponent("a")
        let all = try ["train", "val", "test"].flatMap { try IngestTesting.readSplit(dataset, $0).sourceIndices }
        #expect(Set(all).count == 10_000)

        let low = try IngestTesting.ingest(["ingest", "image", Self.mnistFolder.path, "--name", "low", "--test-fraction", "0.2",
                                            "--per-class", "10", "--seed", "7"], parent: parent)
        try #require(low.status == 0, "\(low.standardError)")
        let lowInfo = try DatasetFolder(path: parent.appendingPathComponent("low").path).info
        #expect(lowInfo.splits["train"]?.classCounts == [Int](repeating: 10, count: 10))
        #expect(lowInfo.splits["test"]?.count == 2000)
        // The same seed gives the same test split with or without --per-class.
        let testA = try IngestTesting.readSplit(dataset, "test").sourceIndices
        let testLow = try IngestTesting.readSplit(parent.appendingPathComponent("low"), "test").sourceIndices
        #expect(Set(testA) == Set(testLow))
    }

    @Test func sameSeedGivesByteIdenticalShardsAndAnotherSeedDoesNot() throws {
        let parent = try Support.makeTemporaryFolder("mnist-repro")
        defer { Support.remove(parent) }
        for (name, seed) in [("one", "3"), ("two", "3"), ("three", "4")] {
            let result = try IngestTesting.ingest(["ingest", "image", Self.mnistFolder.path, "--name", name, "--seed", seed], parent: parent)
            try #require(result.status == 0, "\(result.standardError)")
        }
        for file in ["train-00000-of-00001.h5", "test-00000-of-00001.h5"] {
            let one = try Data(contentsOf: parent.appendingPathComponent("one/\(file)"))
            let two = try Data(contentsOf: parent.appendingPathComponent("two/\(file)"))
            let three = try Data(contentsOf: parent.appendingPathComponent("three/\(file)"))
            #expect(one == two)
            #expect(one != three)
        }
    }

    @Test func existingDatasetIsKeptWithoutForceAndReplacedWithIt() throws {
        let parent = try Support.makeTemporaryFolder("mnist-force")
        defer { Support.remove(parent) }
        let arguments = ["ingest", "image", Self.mnistFolder.path, "--name", "m", "--per-class", "5"]
        try #require(try IngestTesting.ingest(arguments, parent: parent).status == 0)
        let infoPath = parent.appendingPathComponent("m/dataset_info.json")
        let before = try Data(contentsOf: infoPath)
        let again = try IngestTesting.ingest(arguments + ["--seed", "9"], parent: parent)
        #expect(again.status == 1)
        #expect(again.standardError.contains("already exists") && again.standardError.contains("--force"))
        #expect(try Data(contentsOf: infoPath) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["m"])
        let forced = try IngestTesting.ingest(arguments + ["--seed", "9", "--force"], parent: parent)
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(try Data(contentsOf: infoPath) != before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["m"])
    }

    @Test func explicitImagesAndLabelsAndATrainTestPairFolder() throws {
        let parent = try Support.makeTemporaryFolder("mnist-explicit")
        defer { Support.remove(parent) }
        let images = Self.mnistFolder.appendingPathComponent("t10k-images-idx3-ubyte.gz").path
        let labels = Self.mnistFolder.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path
        let explicit = try IngestTesting.ingest(["ingest", "image", "--images", images, "--labels", labels, "--name", "e", "--json"], parent: parent)
        try #require(explicit.status == 0, "\(explicit.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(explicit.standardOutput.utf8)) as? [String: Any]
        #expect(report?["kind"] as? String == "image")

        // A folder with train-* and t10k-* pairs (raw, not gzipped) gives train and test splits.
        let source = try Support.makeTemporaryFolder("idx-pair")
        defer { Support.remove(source) }
        let all = try IDXFile.readImages(at: images)
        let allLabels = try IDXFile.readLabels(at: labels)
        try IngestTesting.write(IngestTesting.idxBytes(dimensions: [300, 28, 28], data: Array(all.pixels[0..<(300 * 784)])),
                                to: source.appendingPathComponent("train-images-idx3-ubyte"))
        try IngestTesting.write(IngestTesting.idxBytes(dimensions: [300], data: Array(allLabels[0..<300])), to: source.appendingPathComponent("train-labels-idx1-ubyte"))
        try IngestTesting.write(IngestTesting.idxBytes(dimensions: [100, 28, 28], data: Array(all.pixels[(300 * 784)..<(400 * 784)])),
                                to: source.appendingPathComponent("t10k-images-idx3-ubyte"))
        try IngestTesting.write(IngestTesting.idxBytes(dimensions: [100], data: Array(allLabels[300..<400])), to: source.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let paired = try IngestTesting.ingest(["ingest", "image", source.path, "--name", "p"], parent: parent)
        try #require(paired.status == 0, "\(paired.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("p").path).info
        #expect(info.splits["train"]?.count == 300)
        #expect(info.splits["test"]?.count == 100)
    }
}
