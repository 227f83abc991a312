import Foundation
import ReptileCore
import Testing

/// `pretrain --resume` and `finetune --resume` through the real binary: a run killed (SIGKILL) or
/// interrupted (Ctrl-C) part-way and resumed ends with the files an uninterrupted run writes, and the resume state is
/// neither lost nor silently reused. TREC with 30 questions a class, the text-cnn, one thread.
@Suite struct ClassifierResumeTests {
    /// Runs `common` uninterrupted into `whole`, and into `cut` cut by `signal` once `marker` exists
    /// in its resume folder; returns both folders and what the cut run wrote on standard error.
    static func wholeAndCut(_ common: [String], in parent: URL, when marker: String,
                            signal: Int32 = SIGKILL) throws -> (whole: URL, cut: URL, standardError: String) {
        let whole = parent.appendingPathComponent("whole"), cut = parent.appendingPathComponent("cut")
        let uninterrupted = try Support.reptile(common + ["--out", whole.path])
        try #require(uninterrupted.status == 0, "\(uninterrupted.standardError)")
        let standardError = try Support.reptileKilled(common + ["--out", cut.path],
                                                      once: resumeFolder(of: cut).appendingPathComponent(marker).path, signal: signal)
        return (whole, cut, standardError)
    }

    static func resumeFolder(of out: URL) -> URL {
        out.deletingLastPathComponent().appendingPathComponent(".\(out.lastPathComponent).resume")
    }

    /// metrics.jsonl without its wall-clock fields.
    static func metrics(_ run: URL) throws -> [String] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").map { line in
            String(line.split(separator: ",").filter { !$0.contains("\"seconds\"") && !$0.contains("records_per_second") }.joined(separator: ","))
        }
    }

    /// report.json without what differs between any two runs (command line, timing).
    static func report(_ run: URL) throws -> NSDictionary {
        let data = try Data(contentsOf: run.appendingPathComponent("report.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return object.filter { $0.key != "command" && $0.key != "timing" } as NSDictionary
    }

    static func expectSameRun(_ resumed: URL, _ whole: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try SHA256.hex(ofFileAt: resumed.appendingPathComponent("classifier.h5").path)
                == SHA256.hex(ofFileAt: whole.appendingPathComponent("classifier.h5").path), sourceLocation: sourceLocation)
        #expect(try metrics(resumed) == metrics(whole), sourceLocation: sourceLocation)
        #expect(try report(resumed) == report(whole), sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: resumeFolder(of: resumed).path), "the resume state outlived the run", sourceLocation: sourceLocation)
    }

    @Test func aKilledPretrainResumesToTheUninterruptedResult() throws {
        let parent = try Support.makeTemporaryFolder("classifier-resume")
        defer { Support.remove(parent) }
        let dataset = try TextSynthesisCommandTests.ingestTREC(into: parent)
        // A fifth held out, so early stopping's counters and the best epoch's weights are resumed too.
        let common = ["pretrain", "--dataset", dataset.path, "--epochs", "12", "--patience", "12", "--val-fraction", "0.2",
                      "--max-length", "24", "--threads", "1", "--seed", "4"]
        // Ctrl-C: the unfinished output goes, the saved epochs stay, and the message says how to go on.
        let (whole, killed, interrupted) = try Self.wholeAndCut(common, in: parent, when: "state.h5", signal: SIGINT)
        #expect(interrupted.contains("interrupted") && interrupted.contains("--resume"), "\(interrupted)")
        #expect(FileManager.default.fileExists(atPath: Self.resumeFolder(of: killed).appendingPathComponent("state.h5").path))
        let fresh = try Support.reptile(common + ["--out", killed.path])
        #expect(fresh.status == 1 && fresh.standardError.contains("--resume") && fresh.standardError.contains("--force"), "\(fresh.standardError)")
        let other = try Support.reptile(common.map { $0 == "12" ? "13" : $0 } + ["--out", killed.path, "--resume"])
        #expect(other.status == 1 && other.standardError.contains("other settings") && other.standardError.contains("settings"),
                "\(other.standardError)")
        let resumed = try Support.reptile(common + ["--out", killed.path, "--resume"])
        try #require(resumed.status == 0, "\(resumed.standardError)")
        try Self.expectSameRun(killed, whole)

        let again = try Support.reptile(common + ["--out", killed.path, "--resume"])
        #expect(again.status == 1 && again.standardError.contains("no unfinished run") && again.standardError.contains("complete"),
                "\(again.standardError)")
    }

    /// The image CNN: batch-norm statistics, random shifts and a held-out slice resume too.
    @Test func aKilledImagePretrainWithShiftsResumesToTheUninterruptedResult() throws {
        let parent = try Support.makeTemporaryFolder("image-resume")
        defer { Support.remove(parent) }
        let dataset = try ClassifierFixtures.mnist.get()
        let common = ["pretrain", "--dataset", dataset.path, "--epochs", "5", "--patience", "5", "--val-fraction", "0.2", "--augment",
                      "--batch-size", "16", "--threads", "1", "--seed", "6"]
        let (whole, killed, _) = try Self.wholeAndCut(common, in: parent, when: "state.h5")
        let resumed = try Support.reptile(common + ["--out", killed.path, "--resume"])
        try #require(resumed.status == 0, "\(resumed.standardError)")
        try Self.expectSameRun(killed, whole)
    }

    /// Killed once the first of two repeats has finished: that repeat is read back, the second trained.
    @Test func aKilledFinetuneWithRepeatsResumesToTheUninterruptedResult() throws {
        let parent = try Support.makeTemporaryFolder("finetune-resume")
        defer { Support.remove(parent) }
        let dataset = try TextSynthesisCommandTests.ingestTREC(into: parent)
        let common = ["finetune", "--scratch", "--train", dataset.path, "--eval", dataset.path + ":test", "--repeats", "2",
                      "--epochs", "10", "--val-fraction", "0", "--max-length", "24", "--threads", "1", "--seed", "5"]
        let (whole, killed, _) = try Self.wholeAndCut(common, in: parent, when: "state-1.h5")
        let resumed = try Support.reptile(common + ["--out", killed.path, "--resume"])
        try #require(resumed.status == 0, "\(resumed.standardError)")
        try Self.expectSameRun(killed, whole)
    }
}
