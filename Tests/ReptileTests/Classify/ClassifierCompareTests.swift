import Foundation
import Testing
import ReptileCore
@testable import ReptileClassify

/// `reptile compare` reads pretrain and finetune reports into one table whose numbers are the
/// reports' own, and refuses what is not a report.
@Suite struct ClassifierCompareTests {
    @Test func compareTabulatesPretrainAndRepeatedFinetuneReports() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let pretrained = try ClassifierFixtures.classifier.get()
        let parent = try Support.makeTemporaryFolder("compare")
        defer { Support.remove(parent) }
        let scratch = parent.appendingPathComponent("scratch")
        let trained = try Support.reptile(["finetune", "--train", dataset.path, "--eval", dataset.path, "--out", scratch.path,
                                           "--repeats", "2", "--epochs", "1", "--batch-size", "16", "--threads", "1", "--seed", "4"])
        try #require(trained.status == 0, "\(trained.standardError)")

        let table = try Support.reptile(["compare", "real=\(pretrained.path)", "scratch=\(scratch.path)/report.json"])
        try #require(table.status == 0, "\(table.standardError)")
        let pretrainReport = try ClassifierFixtures.json(pretrained.appendingPathComponent("report.json"))
        let accuracy = try #require((pretrainReport["test"] as? [String: Any])?["accuracy"] as? Double)
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("| real | \(String(format: "%.2f", accuracy * 100)) |") })
        let scratchReport = try ClassifierFixtures.json(scratch.appendingPathComponent("report.json"))
        let summary = try #require((scratchReport["summary"] as? [String: Any])?["accuracy"] as? [String: Any])
        let mean = try #require(summary["mean"] as? Double), std = try #require(summary["std"] as? Double)
        let difference = String(format: "%+.2f", (mean - accuracy) * 100)
        #expect(lines.contains { $0.hasPrefix("| scratch | \(String(format: "%.2f ± %.2f", mean * 100, std * 100)) |") && $0.contains("| \(difference) |") })
        #expect(table.standardOutput.contains("All evaluated on \(dataset.path):test"))

        let json = try Support.reptile(["compare", "real=\(pretrained.path)", "--json"])
        let rows = try #require(JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [[String: Any]])
        #expect(((rows.first?["accuracy"] as? [String: Any])?["mean"] as? Double) == accuracy)

        let notAReport = try Support.reptile(["compare", "x=\(dataset.path)/dataset_info.json"])
        #expect(notAReport.status == 1)
        #expect(notAReport.standardError.contains("dataset_info.json: is not a pretrain or finetune report"))
        #expect(try Support.reptile(["compare", "nolabel"]).status == 1)
    }

    /// A finetune that continued a classifier shows what that classifier was trained on first, read
    /// from the report next to its checkpoint, and says so when the checkpoint was replaced since.
    @Test func continuedClassifiersShowTheirEarlierTraining() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let pretrained = try ClassifierFixtures.classifier.get()
        let parent = try Support.makeTemporaryFolder("compare-stages")
        defer { Support.remove(parent) }
        let start = parent.appendingPathComponent("start")
        try FileManager.default.copyItem(at: pretrained, to: start)
        let continued = parent.appendingPathComponent("continued")
        let trained = try Support.reptile(["finetune", "--classifier", start.appendingPathComponent("classifier.h5").path,
                                           "--train", "\(dataset.path):train", "--eval", dataset.path, "--out", continued.path,
                                           "--epochs", "1", "--batch-size", "16", "--threads", "1", "--seed", "4"])
        try #require(trained.status == 0, "\(trained.standardError)")
        let pretrainReport = try ClassifierFixtures.json(start.appendingPathComponent("report.json"))
        let pretrainTrain = try #require(((pretrainReport["data"] as? [String: Any])?["train"] as? [String: Any])?["records"] as? Int)

        let table = try Support.reptile(["compare", "start=\(start.path)", "continued=\(continued.path)"])
        try #require(table.status == 0, "\(table.standardError)")
        let row = try #require(table.standardOutput.split(separator: "\n").first { $0.hasPrefix("| continued |") })
        // The pretrain held a tenth out (180 trained on); the continuation holds none out of 200 by default.
        #expect(pretrainTrain == 180)
        #expect(row.hasSuffix("| \(dataset.path):train (180), then \(dataset.path):train (200) |"), "\(row)")

        // The starting checkpoint overwritten: its report no longer describes what the finetune began from.
        let handle = try FileHandle(forWritingTo: start.appendingPathComponent("classifier.h5"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        let replaced = try Support.reptile(["compare", "continued=\(continued.path)"])
        try #require(replaced.status == 0, "\(replaced.standardError)")
        #expect(replaced.standardOutput.contains("| from \(start.path)/classifier.h5 (replaced since), then \(dataset.path):train"))
    }

    /// A difference between rows with repeats carries its standard error, and one under twice that
    /// is marked as noise; a row of one run gets the plain difference.
    @Test func differencesCarryTheirStandardErrorAndNoiseIsMarked() {
        func row(_ label: String, _ accuracies: [Double]) -> ComparisonRow {
            ComparisonRow(label: label, report: "r", accuracy: MeanAndDeviation(accuracies), macroF1: MeanAndDeviation(accuracies),
                          evaluatedOn: "d:test", trainedOn: ["d:train (10)"], earlierStages: [])
        }
        let table = comparisonTable([row("base", [0.95, 0.96, 0.97]), row("close", [0.96, 0.97, 0.98]),
                                     row("far", [0.989, 0.99, 0.991]), row("single", [0.99])])
        let lines = table.split(separator: "\n").map(String.init)
        // SE = √(0.01²/3 + 0.01²/3) = 0.816 points; +1.00 is under twice that.
        #expect(lines.contains { $0.hasPrefix("| close |") && $0.contains("| +1.00 ± 0.82 (within noise) |") }, "\(table)")
        // SE = √(0.01²/3 + 0.001²/3) = 0.580 points; +3.00 is over five times that.
        #expect(lines.contains { $0.hasPrefix("| far |") && $0.contains("| +3.00 ± 0.58 |") }, "\(table)")
        #expect(lines.contains { $0.hasPrefix("| single |") && $0.contains("| +3.00 |") }, "\(table)")
        #expect(table.contains("within noise\": the difference is smaller than twice that"))
    }
}
