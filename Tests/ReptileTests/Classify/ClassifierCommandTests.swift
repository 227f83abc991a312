import Foundation
import Testing
import ReptileCore
import ReptileFormats
import ReptileEngine
@testable import ReptileClassify

/// Data and a pretrained classifier several classifier tests share, made once per test process
/// by the real binary: the bundled MNIST sample at 14×14 (the debug build trains W4's CNN at
/// ~150 images/s at that size), 20 training images a class, 500 test images.
enum ClassifierFixtures {
    static let root: URL = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("reptile-classifier-fixtures-\(getpid())")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: ClassifierFixtures.root) }
        return folder
    }()

    static let mnistSample = Support.packageRoot.appendingPathComponent("datasets/samples/mnist").path

    /// `mnist14`: 14×14 MNIST, 20 a class for training, 5 % of the sample (500) for test.
    static let mnist: Result<URL, Error> = Result {
        try ingestMNIST(name: "mnist14", ["--per-class", "20", "--resize", "14x14", "--test-fraction", "0.05", "--seed", "1"])
    }

    /// A classifier pretrained on `mnist14` (batch 16, 6 epochs, one thread, a tenth held out for
    /// early stopping, which the default would not hold out of 200 images).
    static let classifier: Result<URL, Error> = Result {
        let dataset = try mnist.get()
        let output = root.appendingPathComponent("mnist14-classifier")
        let result = try Support.reptile(["pretrain", "--dataset", dataset.path, "--out", output.path, "--epochs", "6",
                                          "--batch-size", "16", "--seed", "3", "--threads", "1", "--val-fraction", "0.1"])
        try #require(result.status == 0, "\(result.standardError)")
        return output
    }

    static func ingestMNIST(name: String, _ arguments: [String]) throws -> URL {
        let result = try IngestTesting.ingest(["ingest", "image", mnistSample, "--name", name] + arguments, parent: root)
        try #require(result.status == 0, "\(result.standardError)")
        return root.appendingPathComponent(name)
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any])
    }

    static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }
}

@Suite struct ClassifierCommandTests {
    /// pretrain on 180 MNIST images (20 of each class held out for early stopping) learns far
    /// beyond chance (10 %) and writes the checkpoint, report and per-epoch metrics.
    @Test func pretrainOnAnMNISTSliceLearnsAndWritesCheckpointReportAndMetrics() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let output = try ClassifierFixtures.classifier.get()
        let report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
        let test = try #require(report["test"] as? [String: Any])
        let accuracy = try #require(test["accuracy"] as? Double)
        // Measured: 73 % (seed 3, one thread); anything near chance means training is broken.
        #expect(accuracy >= 0.5, "test accuracy \(accuracy)")
        #expect(test["count"] as? Int == 500)
        #expect((test["confusion_matrix"] as? [[Int]])?.count == 10)
        #expect((test["per_class"] as? [[String: Any]])?.count == 10)
        #expect(test["macro_f1"] is Double)

        let training = try #require(report["training"] as? [String: Any])
        let epochsRun = try #require(training["epochs_run"] as? Int)
        #expect((1...6).contains(epochsRun))
        #expect((1...epochsRun).contains(training["best_epoch"] as? Int ?? 0))
        let metricsText = try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let epochs = try ClassifierFixtures.jsonLines(metricsText)
        #expect(epochs.count == epochsRun)
        for key in ["train_loss", "validation_loss", "validation_accuracy", "seconds", "records_per_second"] {
            #expect(epochs.allSatisfy { $0[key] is Double }, "metrics.jsonl lacks \(key)")
        }

        // Data used: the shard sha256s dataset_info.json lists; 10 % of the 200 held out for validation.
        let data = try #require(report["data"] as? [String: Any])
        let info = try DatasetFolder(path: dataset.path).info
        let trainData = try #require(data["train"] as? [String: Any])
        #expect(trainData["records"] as? Int == 180)
        #expect((trainData["shards"] as? [[String: Any]])?.first?["sha256"] as? String == info.splits["train"]!.shards[0].sha256)
        #expect((data["validation"] as? [String: Any])?["records"] as? Int == 20)

        // The checkpoint is self-describing: the image contract's loader reads it.
        let config = try ClassifierConfig.read(checkpoint: output.appendingPathComponent("classifier.h5").path)
        #expect(config.kind == "image" && config.architecture == "cnn")
        #expect(config.classNames == info.classNames)
        #expect([config.imageHeight, config.imageWidth, config.imageChannels] == [14, 14, 1])
        _ = try ImageClassifierCheckpoint.load(from: output.appendingPathComponent("classifier.h5").path)
    }

    /// Same seed and thread count → the same checkpoint bytes and report but for `timing`, with
    /// augmentation on (its shifts are seeded too); another seed → other weights.
    @Test func sameSeedGivesIdenticalImageCheckpointAndReport() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let parent = try Support.makeTemporaryFolder("image-reproducible")
        defer { Support.remove(parent) }
        var outputs: [URL] = []
        for (run, seed) in [("a", "9"), ("b", "9"), ("c", "10")] {
            let output = parent.appendingPathComponent(run)
            let result = try Support.reptile(["pretrain", "--dataset", dataset.path, "--out", output.path, "--epochs", "2",
                                              "--batch-size", "32", "--augment", "--seed", seed, "--threads", "1", "--json"])
            try #require(result.status == 0, "\(result.standardError)")
            #expect(result.standardOutput.contains("\"test\""))  // --json prints the report
            outputs.append(output)
        }
        let checkpoints = try outputs.map { try Data(contentsOf: $0.appendingPathComponent("classifier.h5")) }
        #expect(checkpoints[0] == checkpoints[1])
        #expect(checkpoints[0] != checkpoints[2])
        let reports = try outputs.map { output -> NSDictionary in
            var report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
            #expect(report.removeValue(forKey: "timing") != nil)
            report["command"] = nil  // holds the output path
            return report as NSDictionary
        }
        #expect(reports[0] == reports[1])
    }

    /// Two training sources with --mix 0.5: each batch of 16 takes 8 from each, so an epoch over the
    /// first source's 200 training images (too few to hold a validation slice out of by default) is
    /// ⌈200 / 8⌉ = 25 steps; before and after are reported.
    @Test func finetuneReportsBeforeAndAfterAndMixesTwoSources() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let classifier = try ClassifierFixtures.classifier.get().appendingPathComponent("classifier.h5")
        let second = try ClassifierFixtures.ingestMNIST(name: "mnist14-second", ["--per-class", "10", "--resize", "14x14",
                                                                                 "--test-fraction", "0.01", "--seed", "7"])
        let parent = try Support.makeTemporaryFolder("finetune")
        defer { Support.remove(parent) }
        let output = parent.appendingPathComponent("run")
        let result = try Support.reptile(["finetune", "--classifier", classifier.path, "--train", dataset.path,
                                          "--train", second.path + ":train", "--mix", "0.5", "--eval", dataset.path + ":test",
                                          "--out", output.path, "--epochs", "1", "--batch-size", "16", "--threads", "1", "--seed", "5"])
        try #require(result.status == 0, "\(result.standardError)")
        let report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
        let before = try #require(report["before"] as? [String: Any])
        let after = try #require(report["after"] as? [String: Any])
        // Before is the pretrained classifier on the same test split: its pretrain report's figure.
        let pretrained = try ClassifierFixtures.json(classifier.deletingLastPathComponent().appendingPathComponent("report.json"))
        #expect(before["accuracy"] as? Double == (pretrained["test"] as? [String: Any])?["accuracy"] as? Double)
        for metrics in [before, after] {
            #expect(metrics["accuracy"] is Double && metrics["macro_f1"] is Double)
            #expect((metrics["per_class"] as? [[String: Any]])?.allSatisfy { $0["precision"] is Double && $0["recall"] is Double } == true)
            #expect((metrics["confusion_matrix"] as? [[Int]])?.joined().reduce(0, +) == 500)
        }
        let data = try #require(report["data"] as? [String: Any])
        #expect(data["mix"] as? Double == 0.5)
        let train = try #require(data["train"] as? [[String: Any]])
        #expect(train.count == 2 && train[0]["records"] as? Int == 200 && data["validation"] == nil)
        #expect((train[0]["note"] as? String)?.contains("a tenth would be 20 records, under 200") == true, "\(train[0])")
        let secondInfo = try DatasetFolder(path: second.path).info
        #expect((train[1]["shards"] as? [[String: Any]])?.first?["sha256"] as? String == secondInfo.splits["train"]!.shards[0].sha256)
        #expect((report["start"] as? [String: Any])?["sha256"] as? String == (try SHA256.hex(ofFileAt: classifier.path)))
        let epochs = try ClassifierFixtures.jsonLines(try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8))
        #expect(epochs.first?["steps"] as? Int == 25)
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("classifier.h5").path))
    }

    /// --repeats 2 from scratch (the Classification Accuracy Score set-up): two seeds, mean ± std of
    /// their accuracies, no "before".
    @Test func finetuneRepeatsReportMeanAndStandardDeviation() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let parent = try Support.makeTemporaryFolder("repeats")
        defer { Support.remove(parent) }
        let output = parent.appendingPathComponent("cas")
        let result = try Support.reptile(["finetune", "--train", dataset.path, "--eval", dataset.path, "--out", output.path,
                                          "--repeats", "2", "--epochs", "2", "--batch-size", "16", "--threads", "1", "--seed", "11"])
        try #require(result.status == 0, "\(result.standardError)")
        let report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
        #expect(report["before"] == nil || report["before"] is NSNull)
        let runs = try #require(report["runs"] as? [[String: Any]])
        #expect(runs.map { $0["seed"] as? Int } == [11, 12])
        let accuracies = runs.compactMap { $0["accuracy"] as? Double }
        #expect(accuracies.count == 2)
        let summary = try #require((report["summary"] as? [String: Any])?["accuracy"] as? [String: Any])
        let mean = (accuracies[0] + accuracies[1]) / 2
        #expect(abs((summary["mean"] as? Double ?? -1) - mean) < 1e-12)
        #expect(abs((summary["std"] as? Double ?? -1) - abs(accuracies[0] - accuracies[1]) / 2.0.squareRoot()) < 1e-12)
        #expect((report["after"] as? [String: Any])?["accuracy"] as? Double == accuracies[0])
        #expect((report["start"] as? [String: Any])?["scratch"] as? Bool == true)
    }

    /// classify on an exported PNG folder gives, file for file, the predictions it gives for the
    /// dataset records the PNGs came from; a PNG of the wrong size is an error naming it.
    @Test func classifyPNGFolderAndDatasetAgree() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let classifier = try ClassifierFixtures.classifier.get().appendingPathComponent("classifier.h5")
        let parent = try Support.makeTemporaryFolder("classify")
        defer { Support.remove(parent) }
        let pngs = parent.appendingPathComponent("pngs")
        let export = try Support.reptile(["export", "png", dataset.path, "--split", "test", "--out", pngs.path])
        try #require(export.status == 0, "\(export.standardError)")

        let fromDataset = try Support.reptile(["classify", "--classifier", classifier.path, dataset.path + ":test", "--threads", "1"])
        try #require(fromDataset.status == 0, "\(fromDataset.standardError)")
        let records = try ClassifierFixtures.jsonLines(fromDataset.standardOutput)
        #expect(records.count == 500)
        #expect(records.allSatisfy { ($0["probability"] as? Double).map { $0 > 0 && $0 <= 1 } ?? false })
        let correct = records.filter { $0["label"] as? String == $0["true_label"] as? String }.count
        let pretrained = try ClassifierFixtures.json(classifier.deletingLastPathComponent().appendingPathComponent("report.json"))
        #expect((pretrained["test"] as? [String: Any])?["correct"] as? Int == correct)

        let predictions = parent.appendingPathComponent("predictions.jsonl")
        let fromFolder = try Support.reptile(["classify", "--classifier", classifier.path, pngs.path, "--out", predictions.path, "--threads", "1"])
        try #require(fromFolder.status == 0, "\(fromFolder.standardError)")
        #expect(fromFolder.standardOutput.isEmpty)
        let files = try ClassifierFixtures.jsonLines(try String(contentsOf: predictions, encoding: .utf8))
        #expect(files.count == 500)
        var mismatches = 0
        for line in files {
            let file = try #require(line["file"] as? String)  // "<class>/<index>.png"
            let index = try #require(Int(URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent))
            if records[index]["label"] as? String != line["label"] as? String { mismatches += 1 }
            #expect(file.hasPrefix((records[index]["true_label"] as? String ?? "?") + "/"))
        }
        #expect(mismatches == 0)

        // Wrong size: one line naming the file, and no output file.
        let odd = pngs.appendingPathComponent("odd")
        try FileManager.default.createDirectory(at: odd, withIntermediateDirectories: true)
        try PNGFile.write(PixelImage(width: 10, height: 14, channels: 1, pixels: [UInt8](repeating: 9, count: 140)),
                          to: odd.appendingPathComponent("narrow.png").path)
        let badOutput = parent.appendingPathComponent("bad.jsonl")
        let bad = try Support.reptile(["classify", "--classifier", classifier.path, pngs.path, "--out", badOutput.path])
        #expect(bad.status == 1)
        #expect(bad.standardError.split(separator: "\n").count == 1)
        #expect(bad.standardError.contains("narrow.png") && bad.standardError.contains("10×14"))
        #expect(!FileManager.default.fileExists(atPath: badOutput.path))
    }
}
