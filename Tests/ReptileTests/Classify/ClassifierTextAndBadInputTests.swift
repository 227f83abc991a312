import Foundation
import Testing
import ReptileCore
import ReptileFormats
import ReptileEngine
@testable import ReptileClassify

@Suite struct ClassifierTextTests {
    /// The native text CNN on 50 TREC questions a class beats always answering the commonest test
    /// class (DESC, 138 of 500 = 27.6 %); a second run with the same seed writes the same
    /// checkpoint bytes, the same report but for its timing, and the same metrics but for seconds.
    @Test func textPretrainOnTRECBeatsTheMajorityClassReproducibly() throws {
        let parent = try Support.makeTemporaryFolder("text-classifier")
        defer { Support.remove(parent) }
        let ingest = try IngestTesting.ingest(["ingest", "text", Support.sharedDataset("trec/train_5500.label"),
                                               "--test", Support.sharedDataset("trec/TREC_10.label"), "--encoding", "latin1",
                                               "--per-class", "50", "--name", "trec", "--seed", "2"], parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        let dataset = parent.appendingPathComponent("trec")
        var outputs: [URL] = []
        for run in ["a", "b"] {
            let output = parent.appendingPathComponent("classifier-\(run)")
            let result = try Support.reptile(["pretrain", "--dataset", dataset.path, "--out", output.path, "--epochs", "8",
                                              "--batch-size", "16", "--learning-rate", "0.003", "--seed", "4", "--threads", "1",
                                              "--max-length", "32"])
            try #require(result.status == 0, "\(result.standardError)")
            outputs.append(output)
        }
        let report = try ClassifierFixtures.json(outputs[0].appendingPathComponent("report.json"))
        let test = try #require(report["test"] as? [String: Any])
        let accuracy = try #require(test["accuracy"] as? Double)
        let majority = 138.0 / 500.0
        // Measured 54 % (batch 16, learning rate 3e-3, 8 epochs).
        #expect(accuracy > majority + 0.1, "test accuracy \(accuracy) vs majority \(majority)")
        let config = try ClassifierConfig.read(checkpoint: outputs[0].appendingPathComponent("classifier.h5").path)
        #expect(config.kind == "text" && config.architecture == "text-cnn")
        #expect(config.settings["vocabulary"]?.contains("\"what\"") == true)
        #expect((report["classifier"] as? [String: Any])?["vocabulary_size"] as? Int ?? 0 > 500)

        // Same seed, same thread count: identical files apart from timing.
        let checkpoints = try outputs.map { try Data(contentsOf: $0.appendingPathComponent("classifier.h5")) }
        #expect(checkpoints[0] == checkpoints[1])
        let reports = try outputs.map { output -> NSDictionary in
            var report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
            #expect(report.removeValue(forKey: "timing") != nil)
            report["command"] = nil  // holds the output path
            return report as NSDictionary
        }
        #expect(reports[0] == reports[1])
        let metrics = try outputs.map { output in
            try ClassifierFixtures.jsonLines(String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8)).map { line in
                line.filter { $0.key != "seconds" && $0.key != "records_per_second" } as NSDictionary
            }
        }
        #expect(metrics[0] == metrics[1])

        // classify reads a text file, one text a line.
        let questions = parent.appendingPathComponent("questions.txt")
        try "How far is it from Denver to Aspen ?\nWho wrote Hamlet ?\n".write(to: questions, atomically: true, encoding: .utf8)
        let classified = try Support.reptile(["classify", "--classifier", outputs[0].appendingPathComponent("classifier.h5").path, questions.path])
        try #require(classified.status == 0, "\(classified.standardError)")
        let lines = try ClassifierFixtures.jsonLines(classified.standardOutput)
        #expect(lines.map { $0["text"] as? String } == ["How far is it from Denver to Aspen ?", "Who wrote Hamlet ?"])
        #expect(lines.allSatisfy { config.classNames.contains($0["label"] as? String ?? "") })
    }
}

extension ClassifierFixtures {
    /// `tiny`: four film texts, two a class, no test split.
    static func ingestFourTexts(into parent: URL) throws -> URL {
        let texts = parent.appendingPathComponent("texts.tsv")
        try "text\tlabel\ngood film\tpos\nbad film\tneg\nfine film\tpos\nawful film\tneg\n".write(to: texts, atomically: true, encoding: .utf8)
        let ingest = try IngestTesting.ingest(["ingest", "text", texts.path, "--name", "tiny", "--test-fraction", "0"], parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        return parent.appendingPathComponent("tiny")
    }
}

extension ClassifierTextTests {
    /// On four texts pretrain holds nothing out by default: no validation in the report or the
    /// metrics, all four records trained on, and the report says why.
    @Test func pretrainOnAFewTextsKeepsEveryRecordForTraining() throws {
        let parent = try Support.makeTemporaryFolder("few-texts")
        defer { Support.remove(parent) }
        let tiny = try ClassifierFixtures.ingestFourTexts(into: parent)
        let output = parent.appendingPathComponent("classifier")
        let result = try Support.reptile(["pretrain", "--dataset", tiny.path, "--out", output.path,
                                          "--epochs", "2", "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
        let data = try #require(report["data"] as? [String: Any])
        let train = try #require(data["train"] as? [String: Any])
        #expect(data["validation"] == nil && train["records"] as? Int == 4)
        #expect((train["note"] as? String)?.contains("too few to stop early on") == true, "\(train)")
        #expect((report["training"] as? [String: Any])?["epochs_run"] as? Int == 2)
        let metrics = try ClassifierFixtures.jsonLines(String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8))
        #expect(metrics.count == 2 && metrics.allSatisfy { $0["validation_accuracy"] == nil && $0["train_loss"] is Double })
    }
}

/// Bad input to the classifier commands: exit 1, one line naming the file, nothing written.
@Suite struct ClassifierBadInputTests {
    func finetune(_ arguments: [String], mentions: [String]) throws {
        let parent = try Support.makeTemporaryFolder("classifier-bad")
        defer { Support.remove(parent) }
        let result = try Support.reptile(["finetune"] + arguments + ["--out", parent.appendingPathComponent("run").path, "--threads", "1"])
        try IngestTesting.expectCleanFailure(result, parent: parent, mentions: mentions)
    }

    /// A text classifier cannot read images: the error names the checkpoint.
    @Test func wrongKindCheckpointIsRefused() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let parent = try Support.makeTemporaryFolder("text-checkpoint")
        defer { Support.remove(parent) }
        let tiny = try ClassifierFixtures.ingestFourTexts(into: parent)
        let classifier = parent.appendingPathComponent("tiny-classifier")
        let pretrain = try Support.reptile(["pretrain", "--dataset", tiny.path, "--out", classifier.path,
                                            "--epochs", "1", "--threads", "1", "--val-fraction", "0.25"])
        try #require(pretrain.status == 0, "\(pretrain.standardError)")
        let checkpoint = classifier.appendingPathComponent("classifier.h5").path
        try finetune(["--classifier", checkpoint, "--train", dataset.path, "--eval", dataset.path],
                     mentions: [checkpoint, "text classifier", "images"])
    }

    /// The fixture classifier reads 14×14; a 28×28 dataset is refused naming its shard.
    @Test func imageSizeMismatchIsRefused() throws {
        let classifier = try ClassifierFixtures.classifier.get().appendingPathComponent("classifier.h5")
        let large = try ClassifierFixtures.ingestMNIST(name: "mnist28-tiny", ["--per-class", "2", "--test-fraction", "0.01", "--seed", "1"])
        try finetune(["--classifier", classifier.path, "--train", large.path, "--eval", large.path],
                     mentions: [large.appendingPathComponent("train-00000-of-00001.h5").path, "28×28×1", "14×14×1"])
    }

    /// Digits 0–4 only: a class set that differs from the classifier's ten, named by shard.
    @Test func classSetMismatchIsRefused() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let classifier = try ClassifierFixtures.classifier.get().appendingPathComponent("classifier.h5")
        let parent = try Support.makeTemporaryFolder("five-digits")
        defer { Support.remove(parent) }
        let pngs = parent.appendingPathComponent("pngs")
        let export = try Support.reptile(["export", "png", dataset.path, "--split", "train", "--out", pngs.path])
        try #require(export.status == 0, "\(export.standardError)")
        for digit in 5...9 { try FileManager.default.removeItem(at: pngs.appendingPathComponent(String(digit))) }
        let ingest = try IngestTesting.ingest(["ingest", "image", pngs.path, "--name", "five", "--test-fraction", "0.2"], parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        let five = parent.appendingPathComponent("five")
        try finetune(["--classifier", classifier.path, "--train", five.path, "--eval", dataset.path],
                     mentions: [five.appendingPathComponent("train-00000-of-00001.h5").path, "class set", "\"9\""])
    }

    @Test func missingDatasetIsRefused() throws {
        let parent = try Support.makeTemporaryFolder("missing")
        defer { Support.remove(parent) }
        let missing = parent.appendingPathComponent("no-such-dataset").path
        let output = try Support.makeTemporaryFolder("missing-out")
        defer { Support.remove(output) }
        let result = try Support.reptile(["pretrain", "--dataset", missing, "--out", output.appendingPathComponent("run").path])
        try IngestTesting.expectCleanFailure(result, parent: output, mentions: [missing, "no such dataset"])
        try finetune(["--train", missing, "--eval", missing], mentions: [missing])
    }
}
