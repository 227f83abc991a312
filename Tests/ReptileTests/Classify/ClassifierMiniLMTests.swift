import Foundation
import Testing
import ReptileCore
import ReptileEmbedding
import ReptileEngine
@testable import ReptileClassify

/// The minilm classifier (pretrained encoder + mean pooling + head) through `pretrain`,
/// `finetune` and `classify`, on the tiny random BERT of `TinyBERT` (16 positions) for speed.
enum MiniLMFixtures {
    /// 160 texts in two classes told apart by one word the tiny vocabulary knows ("cat" or "mat")
    /// among one to three words common to both; 25 % (40) for test.
    static func makeDataset(in parent: URL) throws -> URL {
        var random = SeededRandom(seed: 9)
        let filler = ["the", "sat", "on", ".", "the"]
        var lines = ["text\tlabel"]
        for index in 0..<160 {
            let label = index % 2 == 0 ? "cat" : "mat"
            var words = (0..<(1 + random.nextIndex(below: 3))).map { _ in filler[random.nextIndex(below: filler.count)] }
            words.insert(label, at: random.nextIndex(below: words.count + 1))
            lines.append(words.joined(separator: " ") + "\t" + label)
        }
        let texts = parent.appendingPathComponent("texts.tsv")
        try (lines.joined(separator: "\n") + "\n").write(to: texts, atomically: true, encoding: .utf8)
        let ingest = try IngestTesting.ingest(["ingest", "text", texts.path, "--name", "cats", "--test-fraction", "0.25", "--seed", "1"],
                                              parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        return parent.appendingPathComponent("cats")
    }

    static func pretrain(dataset: URL, encoder: URL, output: URL, _ extra: [String] = []) throws -> Support.Result {
        try Support.reptile(["pretrain", "--dataset", dataset.path, "--encoder", encoder.path, "--out", output.path, "--epochs", "6",
                             "--batch-size", "8", "--learning-rate", "0.005", "--head-learning-rate", "0.05", "--max-length", "16",
                             "--val-fraction", "0.2", "--seed", "4", "--threads", "1"] + extra)
    }

    /// The encoder's weights in a classifier checkpoint, by Hugging Face name (without `encoder.`).
    static func encoderWeights(_ checkpoint: String) throws -> [String: [Float]] {
        let model = try TextClassifierCheckpoint.load(from: checkpoint).model
        return Dictionary(uniqueKeysWithValues: model.encoder.parameters.map {
            (String($0.name!.dropFirst(SentenceClassifier.encoderName.count + 1)), $0.value.scalars)
        })
    }
}

@Suite struct ClassifierMiniLMTests {
    /// Full fine-tuning: a checkpoint, report and metrics; the same seed gives the same bytes; the
    /// encoder moved; `classify` on the test split agrees with the report; `finetune` continues it.
    @Test func pretrainWithAnEncoderIsReproducibleAndClassifies() throws {
        let parent = try Support.makeTemporaryFolder("minilm")
        defer { Support.remove(parent) }
        let encoder = try TinyBERT.makeFolder(in: parent)
        let dataset = try MiniLMFixtures.makeDataset(in: parent)
        var outputs: [URL] = []
        for run in ["a", "b"] {
            let output = parent.appendingPathComponent("classifier-\(run)")
            let result = try MiniLMFixtures.pretrain(dataset: dataset, encoder: encoder, output: output)
            try #require(result.status == 0, "\(result.standardError)")
            outputs.append(output)
        }
        let checkpoint = outputs[0].appendingPathComponent("classifier.h5").path
        let config = try ClassifierConfig.read(checkpoint: checkpoint)
        #expect(config.kind == "text" && config.architecture == "minilm" && config.classNames == ["cat", "mat"])
        #expect(config.settings[TextClassifierCheckpoint.SettingKey.maximumLength] == "16")

        let report = try ClassifierFixtures.json(outputs[0].appendingPathComponent("report.json"))
        let classifier = try #require(report["classifier"] as? [String: Any])
        #expect(classifier["architecture"] as? String == "minilm")
        #expect(classifier["vocabulary_size"] as? Int == TinyBERT.vocabulary.count)
        let settings = try #require(report["settings"] as? [String: Any])
        let recipe = try #require(settings["encoder"] as? [String: Any])
        #expect(recipe["head_learning_rate"] as? Double == 0.05 && recipe["freeze_encoder"] as? Bool == false)
        #expect(settings["batch_size"] as? Int == 8)
        let test = try #require(report["test"] as? [String: Any])
        let accuracy = try #require(test["accuracy"] as? Double)
        // Measured 100 % (three seeds tried).
        #expect(accuracy >= 0.9, "test accuracy \(accuracy) on two classes told apart by one word")
        let metrics = try ClassifierFixtures.jsonLines(String(contentsOf: outputs[0].appendingPathComponent("metrics.jsonl"), encoding: .utf8))
        #expect(metrics.count >= 2 && metrics.allSatisfy { $0["validation_accuracy"] != nil })
        // Linear warm-up then linear decay: the last epoch ends near a zero rate.
        #expect((metrics.last?["learning_rate"] as? Double ?? 1) < 0.005 / 4)

        // Same seed and threads: the same checkpoint bytes, report (but timing) and metrics (but time).
        let checkpoints = try outputs.map { try Data(contentsOf: $0.appendingPathComponent("classifier.h5")) }
        #expect(checkpoints[0] == checkpoints[1])
        let reports = try outputs.map { output -> NSDictionary in
            var report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
            report["timing"] = nil
            report["command"] = nil
            return report as NSDictionary
        }
        #expect(reports[0] == reports[1])

        // All weights were fine-tuned: the encoder is no longer the one loaded.
        let original = Dictionary(uniqueKeysWithValues: TinyBERT.weights().map { ($0.name, $0.values) })
        let tuned = try MiniLMFixtures.encoderWeights(checkpoint)
        #expect(tuned.keys.sorted() == original.keys.sorted())
        #expect(tuned["encoder.layer.0.attention.self.query.weight"] != original["encoder.layer.0.attention.self.query.weight"])

        // classify on the test split agrees with the report's accuracy; a text file works too.
        let classified = try Support.reptile(["classify", "--classifier", checkpoint, dataset.path + ":test", "--threads", "1"])
        try #require(classified.status == 0, "\(classified.standardError)")
        let lines = try ClassifierFixtures.jsonLines(classified.standardOutput)
        #expect(lines.count == 40)
        let agreeing = Double(lines.filter { $0["label"] as? String == $0["true_label"] as? String }.count) / Double(lines.count)
        #expect(abs(agreeing - accuracy) < 1e-9, "classify \(agreeing) vs report \(accuracy)")
        let texts = parent.appendingPathComponent("texts.txt")
        try "the cat sat .\non the mat\n".write(to: texts, atomically: true, encoding: .utf8)
        let fromFile = try Support.reptile(["classify", "--classifier", checkpoint, texts.path, "--threads", "1"])
        try #require(fromFile.status == 0, "\(fromFile.standardError)")
        let predictions = try ClassifierFixtures.jsonLines(fromFile.standardOutput)
        #expect(predictions.map { $0["text"] as? String } == ["the cat sat .", "on the mat"])
        #expect(predictions.allSatisfy { ["cat", "mat"].contains($0["label"] as? String ?? "") && ($0["probability"] as? Double ?? 0) >= 0.5 })

        // finetune continues the checkpoint: "before" is the pretrained classifier's test accuracy.
        let continued = parent.appendingPathComponent("continued")
        let finetune = try Support.reptile(["finetune", "--classifier", checkpoint, "--train", dataset.path, "--eval", dataset.path,
                                            "--out", continued.path, "--epochs", "1", "--batch-size", "8", "--threads", "1"])
        try #require(finetune.status == 0, "\(finetune.standardError)")
        let finetuneReport = try ClassifierFixtures.json(continued.appendingPathComponent("report.json"))
        #expect((finetuneReport["before"] as? [String: Any])?["accuracy"] as? Double == accuracy)
        #expect(try ClassifierConfig.read(checkpoint: continued.appendingPathComponent("classifier.h5").path).architecture == "minilm")
    }

    /// Without --epochs, a small training set gets more than the 3 default epochs: at least 200
    /// optimizer steps (BERT fine-tuning needs some hundreds), and the report says how many epochs.
    @Test func withoutEpochsASmallSetTrainsForAtLeastTwoHundredSteps() throws {
        let parent = try Support.makeTemporaryFolder("minilm-steps")
        defer { Support.remove(parent) }
        let encoder = try TinyBERT.makeFolder(in: parent)
        let dataset = try MiniLMFixtures.makeDataset(in: parent)
        let output = parent.appendingPathComponent("classifier")
        let result = try Support.reptile(["pretrain", "--dataset", dataset.path, "--encoder", encoder.path, "--out", output.path,
                                          "--batch-size", "8", "--max-length", "16", "--patience", "50", "--seed", "4", "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let report = try ClassifierFixtures.json(output.appendingPathComponent("report.json"))
        let settings = try #require(report["settings"] as? [String: Any])
        let training = try #require(report["training"] as? [String: Any])
        let records = try #require((report["data"] as? [String: Any])?["train"] as? [String: Any])["records"] as? Int
        let stepsPerEpoch = (try #require(records) + 7) / 8
        let epochs = (200 + stepsPerEpoch - 1) / stepsPerEpoch
        #expect(epochs > 3)
        #expect(settings["epochs"] as? Int == epochs)
        #expect((settings["encoder"] as? [String: Any])?["minimum_steps"] as? Int == 200)
        #expect(training["epochs_run"] as? Int == epochs && training["steps"] as? Int == epochs * stepsPerEpoch)
    }

    /// --freeze-encoder trains the head only: the encoder's weights come out bit-identical.
    /// `finetune --scratch --encoder` starts over from the pretrained encoder with a fresh head.
    @Test func aFrozenEncoderStaysAsLoadedAndScratchStartsFromTheEncoder() throws {
        let parent = try Support.makeTemporaryFolder("minilm-frozen")
        defer { Support.remove(parent) }
        let encoder = try TinyBERT.makeFolder(in: parent)
        let dataset = try MiniLMFixtures.makeDataset(in: parent)
        let output = parent.appendingPathComponent("frozen")
        let result = try MiniLMFixtures.pretrain(dataset: dataset, encoder: encoder, output: output, ["--freeze-encoder", "--epochs", "2"])
        try #require(result.status == 0, "\(result.standardError)")
        let checkpoint = output.appendingPathComponent("classifier.h5").path
        let original = Dictionary(uniqueKeysWithValues: TinyBERT.weights().map { ($0.name, $0.values) })
        #expect(try MiniLMFixtures.encoderWeights(checkpoint) == original)

        let scratch = parent.appendingPathComponent("scratch")
        let finetune = try Support.reptile(["finetune", "--classifier", checkpoint, "--scratch", "--encoder", encoder.path,
                                            "--train", dataset.path, "--eval", dataset.path, "--out", scratch.path, "--epochs", "1",
                                            "--batch-size", "8", "--freeze-encoder", "--threads", "1"])
        try #require(finetune.status == 0, "\(finetune.standardError)")
        let report = try ClassifierFixtures.json(scratch.appendingPathComponent("report.json"))
        #expect(report["before"] == nil && (report["start"] as? [String: Any])?["scratch"] as? Bool == true)
        let scratchCheckpoint = scratch.appendingPathComponent("classifier.h5").path
        #expect(try MiniLMFixtures.encoderWeights(scratchCheckpoint) == original)
        #expect(try ClassifierConfig.read(checkpoint: scratchCheckpoint).settings[TextClassifierCheckpoint.SettingKey.maximumLength] == "16")
    }
}

/// Bad input with an encoder: exit 1, one line naming the file, nothing written.
@Suite struct ClassifierMiniLMBadInputTests {
    @Test func anEncoderFolderMissingAFileIsNamed() throws {
        let parent = try Support.makeTemporaryFolder("minilm-missing")
        defer { Support.remove(parent) }
        let encoder = try TinyBERT.makeFolder(in: parent)
        let dataset = try MiniLMFixtures.makeDataset(in: parent)
        let vocabulary = encoder.appendingPathComponent("vocab.txt")
        try FileManager.default.removeItem(at: vocabulary)
        let outputs = try Support.makeTemporaryFolder("minilm-missing-out")
        defer { Support.remove(outputs) }
        let result = try MiniLMFixtures.pretrain(dataset: dataset, encoder: encoder, output: outputs.appendingPathComponent("run"))
        try IngestTesting.expectCleanFailure(result, parent: outputs, mentions: [vocabulary.path, "no such file"])
    }

    @Test func anEncoderForImageDataIsRefused() throws {
        let images = try ClassifierFixtures.mnist.get()
        let parent = try Support.makeTemporaryFolder("minilm-images")
        defer { Support.remove(parent) }
        let encoder = try TinyBERT.makeFolder(in: parent)
        let outputs = try Support.makeTemporaryFolder("minilm-images-out")
        defer { Support.remove(outputs) }
        let shard = images.appendingPathComponent("train-00000-of-00001.h5").path
        let pretrain = try MiniLMFixtures.pretrain(dataset: images, encoder: encoder, output: outputs.appendingPathComponent("run"))
        try IngestTesting.expectCleanFailure(pretrain, parent: outputs, mentions: [shard, "images", "text encoder"])
        let finetune = try Support.reptile(["finetune", "--encoder", encoder.path, "--train", images.path, "--eval", images.path,
                                            "--out", outputs.appendingPathComponent("run").path, "--threads", "1"])
        try IngestTesting.expectCleanFailure(finetune, parent: outputs, mentions: [shard, "images", "text encoder"])
    }

    /// A minilm checkpoint for image data names the checkpoint; --scratch on it without --encoder
    /// asks for the encoder.
    @Test func aMiniLMCheckpointForImagesOrWithoutItsEncoderIsRefused() throws {
        let images = try ClassifierFixtures.mnist.get()
        let parent = try Support.makeTemporaryFolder("minilm-checkpoint")
        defer { Support.remove(parent) }
        let encoder = try TinyBERT.makeFolder(in: parent)
        let dataset = try MiniLMFixtures.makeDataset(in: parent)
        let output = parent.appendingPathComponent("classifier")
        let result = try MiniLMFixtures.pretrain(dataset: dataset, encoder: encoder, output: output, ["--epochs", "1", "--freeze-encoder"])
        try #require(result.status == 0, "\(result.standardError)")
        let checkpoint = output.appendingPathComponent("classifier.h5").path
        let outputs = try Support.makeTemporaryFolder("minilm-checkpoint-out")
        defer { Support.remove(outputs) }
        let run = outputs.appendingPathComponent("run").path
        let onImages = try Support.reptile(["finetune", "--classifier", checkpoint, "--train", images.path, "--eval", images.path,
                                            "--out", run, "--threads", "1"])
        try IngestTesting.expectCleanFailure(onImages, parent: outputs, mentions: [checkpoint, "text classifier", "images"])
        let withoutEncoder = try Support.reptile(["finetune", "--classifier", checkpoint, "--scratch", "--train", dataset.path,
                                                  "--eval", dataset.path, "--out", run, "--threads", "1"])
        try IngestTesting.expectCleanFailure(withoutEncoder, parent: outputs, mentions: [checkpoint, "--encoder"])
    }
}
