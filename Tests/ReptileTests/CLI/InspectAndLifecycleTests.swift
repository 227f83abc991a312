import Foundation
import Testing
import ReptileCore
@testable import ReptileDatasetTools
@testable import ReptileFormats

/// `inspect` on datasets and shards, quiet output in pipes, and interrupted runs leaving nothing behind.
@Suite struct InspectAndLifecycleTests {
    @Test func inspectDescribesDatasetsAndShardsForPeopleAndMachines() throws {
        let parent = try Support.makeTemporaryFolder("inspect")
        defer { Support.remove(parent) }
        let ingest = try IngestTesting.ingest(["ingest", "text", Support.sharedDataset("trec/TREC_10.label"), "--name", "trec",
                                               "--val-fraction", "0.1"], parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        // In a pipe, success prints the summary on stdout and nothing on stderr (no progress bar).
        #expect(ingest.standardError.isEmpty, "\(ingest.standardError)")
        #expect(ingest.standardOutput.contains("ABBR") && ingest.standardOutput.contains("total"))

        let dataset = parent.appendingPathComponent("trec")
        let human = try Support.reptile(["inspect", dataset.path, "--samples", "2"])
        #expect(human.status == 0)
        #expect(human.standardOutput.contains("6 classes") && human.standardOutput.contains("[train]"))
        let machine = try Support.reptile(["inspect", dataset.path, "--json"])
        #expect(machine.status == 0)
        let report = try StableJSON.decode(InspectReport.self, from: Data(machine.standardOutput.utf8))
        #expect(report.target == "dataset")
        #expect(report.classNames == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"])
        #expect(report.splits.map(\.split) == ["train", "val", "test"])
        #expect(report.splits.map(\.count).reduce(0, +) == 500)
        #expect(report.splits.first { $0.split == "test" }?.count == 100)
        #expect(report.splits.first { $0.split == "val" }?.count == 50)

        let shard = dataset.appendingPathComponent("test-00000-of-00001.h5")
        let shardReport = try StableJSON.decode(InspectReport.self, from: Data(try Support.reptile(["inspect", shard.path, "--json"]).standardOutput.utf8))
        #expect(shardReport.target == "shard")
        #expect(shardReport.attributes?["split"] == "test")
        #expect(shardReport.attributes?["schema_version"] == "1")
        #expect(shardReport.datasets?.map(\.name) == ["texts", "labels", "source_index"])
        #expect(shardReport.splits.first?.count == 100)
    }

    @Test func imageInspectionGivesPixelStatisticsAndPreviews() throws {
        let parent = try Support.makeTemporaryFolder("inspect-image")
        defer { Support.remove(parent) }
        let ingest = try IngestTesting.ingest(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--per-class", "3"], parent: parent)
        try #require(ingest.status == 0)
        let report = try inspect(path: parent.appendingPathComponent("m").path, sampleCount: 1, previews: true)
        let train = try #require(report.pixelStatistics.first { $0.split == "train" })
        #expect(train.minimum == 0 && train.maximum == 255)
        #expect(train.mean > 10 && train.mean < 80)
        // A digit drawn in characters has ink in the middle and none in the corners.
        let preview = try #require(report.samples.first?.preview)
        #expect(preview.count == 14 && preview.allSatisfy { $0.count == 28 })
        #expect(preview[0].allSatisfy { $0 == " " })
        #expect(preview[5...9].contains { $0.contains { $0 != " " } })
    }

    @Test func anInterruptedIngestLeavesNothingBehind() throws {
        let parent = try Support.makeTemporaryFolder("interrupt")
        defer { Support.remove(parent) }
        let process = Process()
        process.executableURL = Support.reptileExecutable
        // SST-2 (67k texts) takes seconds in a debug build: long enough to interrupt mid-way.
        process.arguments = ["ingest", "text", Support.sharedDataset("sst2/train.tsv"), "--name", "sst2", "--shard-size", "2000", "--out", parent.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the staging folder exists, then interrupt.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning,
              ((try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []).isEmpty {
            usleep(20_000)
        }
        try #require(process.isRunning, "the ingest finished before it could be interrupted")
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path).isEmpty)
    }

    @Test func classFolderNamesAreSafeAndReversible() {
        #expect(folderName(forClass: "cat") == "cat")
        #expect(folderName(forClass: "../../etc") == "%2E.%2F..%2Fetc")
        #expect(folderName(forClass: "50% off") == "50%25 off")
        #expect(folderName(forClass: ".hidden") == "%2Ehidden")
        #expect(folderName(forClass: "") == "%00")
        #expect(!folderName(forClass: "a/b\\c\u{1}").contains("/"))
        #expect(folderName(forClass: "café 日本") == "café 日本")
        #expect(imageFileName(index: 42) == "00042.png")
    }
}
