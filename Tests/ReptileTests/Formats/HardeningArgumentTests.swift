import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// Issue 21, items 5, 7 and 9: extreme arguments and a full disk give one line and exit 1, not a
/// trap; zero epochs are refused up front; JSON never holds a non-finite number.
@Suite struct HardeningArgumentTests {
    static let intMax = String(Int.max)

    /// A tiny image dataset and a one-epoch run on it, made once.
    static let fixtures: (dataset: String, run: String) = {
        // Under .build, made again by each test run (a static fixture has no teardown to remove it from /tmp).
        let parent = Support.packageRoot.appendingPathComponent(".build/test-fixtures/hardening-arguments")
        try? FileManager.default.removeItem(at: parent)
        try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let dataset = parent.appendingPathComponent("m").path
        let run = parent.appendingPathComponent("run").path
        _ = try? Support.reptile(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--per-class", "3",
                                  "--test-fraction", "0", "--out", parent.path])
        _ = try? Support.reptile(["train", "image", "--dataset", dataset, "--out", run, "--epochs", "1", "--min-epoch-steps", "2", "--threads", "1"])
        return (dataset, run)
    }()

    static func expectOneLineFailure(_ result: Support.Result, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "exit \(result.status): \(result.standardError.prefix(300))", sourceLocation: sourceLocation)
        #expect(result.standardError.hasPrefix("reptile: error: ") && result.standardError.split(separator: "\n").count == 1,
                "\(result.standardError.prefix(300))", sourceLocation: sourceLocation)
        for word in mentions {
            #expect(result.standardError.contains(word), "should mention \(word): \(result.standardError.prefix(300))", sourceLocation: sourceLocation)
        }
    }

    @Test func countArgumentsOfIntMaxFailInOneLine() throws {
        let (dataset, run) = Self.fixtures
        try #require(FileManager.default.fileExists(atPath: run + "/checkpoint.h5"), "the fixture run was not trained")
        let scratch = try Support.makeTemporaryFolder("intmax")
        defer { Support.remove(scratch) }
        let commands: [(arguments: [String], option: String)] = [
            (["generate", "--run", run, "--per-class", Self.intMax, "--force"], "--per-class"),
            (["generate", "--run", run, "--per-class", "2", "--shard-size", Self.intMax, "--force"], "--shard-size"),
            (["train", "image", "--dataset", dataset, "--out", scratch.appendingPathComponent("r").path, "--epochs", "1",
              "--min-epoch-steps", Self.intMax], "--min-epoch-steps"),
            (["pretrain", "--dataset", dataset, "--out", scratch.appendingPathComponent("c").path, "--epochs", "1", "--batch-size", Self.intMax], "--batch-size"),
            (["ingest", "text", Support.sharedDataset("trec/TREC_10.label"), "--name", "t", "--out", scratch.path, "--shard-size", Self.intMax], "--shard-size"),
            (["ingest", "text", Support.sharedDataset("trec/TREC_10.label"), "--name", "t", "--out", scratch.path, "--per-class", Self.intMax], "--per-class"),
        ]
        for command in commands {
            let result = try Support.reptile(command.arguments)
            Self.expectOneLineFailure(result, mentions: [command.option, Self.intMax])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
        // The run's synthetic folder was not touched by the refused generates.
        #expect(!FileManager.default.fileExists(atPath: run + "/synthetic"))
    }

    @Test func zeroOrNegativeEpochsAreRefusedUpFront() throws {
        let (dataset, _) = Self.fixtures
        let scratch = try Support.makeTemporaryFolder("zero-epochs")
        defer { Support.remove(scratch) }
        let text = scratch.appendingPathComponent("t").path
        try #require(try Support.reptile(["ingest", "text", Support.sharedDataset("trec/TREC_10.label"), "--name", "t", "--out", scratch.path]).status == 0)
        for epochs in ["0", "-1"] {
            let image = try Support.reptile(["train", "image", "--dataset", dataset, "--out", scratch.appendingPathComponent("ri").path, "--epochs", epochs])
            Self.expectOneLineFailure(image, mentions: ["--epochs must be at least 1", "got \(epochs)"])
            let textRun = try Support.reptile(["train", "text", "--dataset", text, "--out", scratch.appendingPathComponent("rt").path, "--epochs", epochs])
            Self.expectOneLineFailure(textRun, mentions: ["--epochs must be at least 1", "got \(epochs)"])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["t"])
    }

    /// A full disk, as `ulimit -f` makes it (writes fail with EFBIG once the file reaches 1 KiB).
    @Test func exportJSONLOnAFullDiskFailsInOneLine() throws {
        let scratch = try Support.makeTemporaryFolder("full-disk")
        defer { Support.remove(scratch) }
        try #require(try Support.reptile(["ingest", "text", Support.sharedDataset("trec/TREC_10.label"), "--name", "t", "--out", scratch.path]).status == 0)
        let out = scratch.appendingPathComponent("out.jsonl").path
        let result = try Support.run(URL(fileURLWithPath: "/bin/bash"),
                                     ["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" export jsonl \"$1\" --out \"$2\"",
                                      Support.reptileExecutable.path, scratch.appendingPathComponent("t").path, out])
        Self.expectOneLineFailure(result, mentions: [out, "cannot write"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["t"])
    }

    @Test func nonFiniteNumbersNeverReachJSON() throws {
        // Free-form metrics: inf and nan are written as null.
        let metrics: JSONValue = ["val_perplexity": .number(.infinity), "loss": .number(.nan), "ok": .number(1.5)]
        #expect(try StableJSON.string(metrics) == #"{"loss":null,"ok":1.5,"val_perplexity":null}"#)
        // A typed value holding inf is one Reptile line, not Foundation's EncodingError.
        #expect(throws: ReptileError.self) { try StableJSON.string(["x": Double.infinity]) }
    }
}
