import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// Issue 21, items 1, 2 and 9: outputs are never lost to a second run, `--force` replaces only
/// what Reptile wrote, and a replace or a write cut by a kill leaves nothing behind.
@Suite struct HardeningOutputTests {
    static let trec = Support.sharedDataset("trec/TREC_10.label")

    /// A slow ingest (SST-2, 67k texts) into `parent/name`, returned once its staging folder exists.
    static func startSlowIngest(name: String, parent: URL) throws -> Process {
        let process = Process()
        process.executableURL = Support.reptileExecutable
        process.arguments = ["ingest", "text", Support.sharedDataset("sst2/train.tsv"), "--name", name, "--shard-size", "2000", "--out", parent.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning,
              !((try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []).contains(where: { $0.hasPrefix(".\(name).partial-") }) {
            usleep(10_000)
        }
        try #require(process.isRunning, "the ingest finished before the test could act")
        return process
    }

    @Test func aSecondWriterOfTheSameOutputIsRefusedWithThePIDOfTheFirst() throws {
        let parent = try Support.makeTemporaryFolder("two-writers")
        defer { Support.remove(parent) }
        let first = try Self.startSlowIngest(name: "same", parent: parent)
        let second = try Support.reptile(["ingest", "text", Self.trec, "--name", "same", "--out", parent.path])
        first.waitUntilExit()
        #expect(second.status == 1)
        #expect(second.standardError.contains("in use by PID \(first.processIdentifier)"), "\(second.standardError)")
        #expect(second.standardError.split(separator: "\n").count == 1)
        #expect(first.terminationStatus == 0)
        // The first run's dataset, whole, and no lock or staging file left.
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["same"])
        #expect(try DatasetFolder(path: parent.appendingPathComponent("same").path).info.splits["train"]!.count > 1000)
    }

    @Test func anOutputThatAppearsDuringTheRunIsKept() throws {
        let parent = try Support.makeTemporaryFolder("appeared")
        defer { Support.remove(parent) }
        let run = try Self.startSlowIngest(name: "taken", parent: parent)
        // Another program makes the folder while the ingest runs.
        try FileManager.default.createDirectory(at: parent.appendingPathComponent("taken"), withIntermediateDirectories: false)
        try Data("precious".utf8).write(to: parent.appendingPathComponent("taken/keep.txt"))
        run.waitUntilExit()
        #expect(run.terminationStatus == 1)
        #expect(try String(contentsOfFile: parent.appendingPathComponent("taken/keep.txt").path, encoding: .utf8) == "precious")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["taken"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.appendingPathComponent("taken").path) == ["keep.txt"])
    }

    @Test func forceReplacesOnlyWhatReptileWrote() throws {
        let parent = try Support.makeTemporaryFolder("force")
        defer { Support.remove(parent) }
        // A folder of the user's own: refused, untouched.
        let mine = parent.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: mine, withIntermediateDirectories: false)
        try Data("notes".utf8).write(to: mine.appendingPathComponent("notes.txt"))
        let refused = try Support.reptile(["ingest", "text", Self.trec, "--name", "mine", "--force", "--out", parent.path])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("not an output of Reptile") && refused.standardError.contains(mine.path), "\(refused.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mine.path) == ["notes.txt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["mine"])

        // A dataset Reptile made is replaced by --force.
        let ingest = ["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--per-class", "2", "--out", parent.path]
        try #require(try Support.reptile(ingest).status == 0)
        #expect(try Support.reptile(ingest + ["--force"]).status == 0)
        let dataset = parent.appendingPathComponent("m").path

        // An export Reptile made is replaced; `.`, `..` and the user's folder are not.
        let export = parent.appendingPathComponent("export").path
        #expect(try Support.reptile(["export", "png", dataset, "--out", export]).status == 0)
        #expect(try Support.reptile(["export", "png", dataset, "--out", export, "--force"]).status == 0)
        for out in [".", "..", mine.path] {
            let result = try Support.reptile(["export", "png", dataset, "--out", out, "--force"], currentDirectory: mine)
            #expect(result.status == 1, "--out \(out): \(result.standardError)")
            #expect(result.standardError.split(separator: "\n").count == 1)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: mine.path) == ["notes.txt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path).sorted() == ["export", "m", "mine"])
    }

    @Test func aReplaceCutBetweenItsTwoRenamesIsRecoveredByTheNextRun() throws {
        let parent = try Support.makeTemporaryFolder("replaced")
        defer { Support.remove(parent) }
        // What a run killed between "move the old one aside" and "move the new one in" leaves (a PID that cannot exist).
        let aside = parent.appendingPathComponent(".d.replaced-999999999")
        try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: false)
        try Data("old".utf8).write(to: aside.appendingPathComponent("dataset_info.json"))
        let result = try Support.reptile(["ingest", "text", Self.trec, "--name", "d", "--out", parent.path])
        #expect(result.status == 1 && result.standardError.contains("already exists"), "\(result.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["d"])
        #expect(try String(contentsOfFile: parent.appendingPathComponent("d/dataset_info.json").path, encoding: .utf8) == "old")
    }

    @Test func temporaryFilesOfAKilledRunAreRemovedByTheNextOne() throws {
        let folder = try Support.makeTemporaryFolder("partials")
        defer { Support.remove(folder) }
        // A checkpoint save and a JSON Lines export killed before their rename (PIDs that cannot exist).
        try Data("x".utf8).write(to: folder.appendingPathComponent(".checkpoint.h5.partial-999999999-42"))
        try Data("x".utf8).write(to: folder.appendingPathComponent(".out.jsonl.partial-999999999"))
        try CheckpointFile.write(to: folder.appendingPathComponent("checkpoint.h5").path,
                                 tensors: [NamedTensor(name: "w", shape: [2], values: [1, 2])])
        let dataset = try Support.makeTemporaryFolder("partials-dataset")
        defer { Support.remove(dataset) }
        try #require(try Support.reptile(["ingest", "text", Self.trec, "--name", "t", "--out", dataset.path]).status == 0)
        let export = try Support.reptile(["export", "jsonl", dataset.appendingPathComponent("t").path, "--out", folder.appendingPathComponent("out.jsonl").path])
        #expect(export.status == 0, "\(export.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["checkpoint.h5", "out.jsonl"])
    }
}
