import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileEvaluation

/// `reptile evaluate` end to end through the real binary, on small slices of real datasets: a real
/// split stands in for the synthetic shards, so the right answers are known (train against itself
/// is all copies; the test split against itself has BLEU 1 and full precision and recall).
@Suite struct EvaluateCommandTests {
    static func decodeReport(_ json: String) throws -> EvaluationReport {
        try StableJSON.decode(EvaluationReport.self, from: Data(json.utf8))
    }

    static func evaluate(_ arguments: [String]) throws -> EvaluationReport {
        let result = try Support.reptile(["evaluate", "--json", "--threads", "1"] + arguments)
        try #require(result.status == 0, "\(result.standardError)")
        return try decodeReport(result.standardOutput)
    }

    /// The first `lines` lines of a shared text file, ingested as datasets/NAME (30 % test).
    static func ingestTextSlice(_ file: String, lines: Int, format: String, name: String, parent: URL) throws -> URL {
        let content = try String(contentsOfFile: Support.sharedDataset(file), encoding: .utf8)
        let slice = parent.appendingPathComponent("\(name).txt")
        try (content.split(separator: "\n").prefix(lines).joined(separator: "\n") + "\n").write(to: slice, atomically: true, encoding: .utf8)
        let result = try IngestTesting.ingest(["ingest", "text", slice.path, "--format", format, "--name", name, "--test-fraction", "0.3", "--seed", "1"],
                                              parent: parent.appendingPathComponent("datasets"))
        try #require(result.status == 0, "\(result.standardError)")
        return parent.appendingPathComponent("datasets/\(name)")
    }

    /// Share of `reptile classify` predictions that equal the stored label: what the classifier
    /// agreement of a real split must be.
    static func classifyAgreement(classifier: String, split: String) throws -> Double {
        let result = try Support.reptile(["classify", "--classifier", classifier, split, "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let predictions = try result.standardOutput.split(separator: "\n").map {
            try JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8))
        }
        return Double(predictions.filter { $0["label"] == $0["true_label"] }.count) / Double(predictions.count)
    }

    @Test func textSplitsEvaluatedAgainstThemselvesGiveTheKnownAnswers() throws {
        let parent = try Support.makeTemporaryFolder("evaluate-text")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestTextSlice("sms-spam/SMSSpamCollection", lines: 300, format: "label-tab", name: "sms", parent: parent)
        let info = try DatasetFolder(path: dataset.path).info

        // The train split as "synthetic": every text is a copy, no 4-gram is new.
        let train = try Self.evaluate(["--synthetic", dataset.path + ":train", "--dataset", dataset.path])
        #expect(train.kind == "text" && train.classifier == nil)
        #expect(train.overall.records == info.splits["train"]!.count)
        #expect(train.overall.copyShare == 1 && train.overall.novelFourGramShare == 0)
        #expect(train.classes.map(\.records) == info.splits["train"]!.classCounts)
        for row in [train.overall] + train.classes {
            for value in [row.bleu2, row.bleu3, row.bleu4, row.selfBleu2, row.selfBleu4, row.distinct1, row.distinct2] {
                #expect(value.map { (0...1).contains($0) } == true, "\(row.class): \(String(describing: value))")
            }
            #expect(row.bleu2! >= row.bleu3! && row.bleu3! >= row.bleu4!)
        }

        // The test split as "synthetic" (all of it sampled): each text is among its references, so
        // its BLEU-n is 1 when it has n tokens or more, and 0.1^((n−L)/n) with L < n tokens (all
        // L-gram precisions 1, the others smoothed to 0.1/1, no brevity penalty); its Self-BLEU
        // and distinct-n equal the real test split's own.
        let test = try Self.evaluate(["--synthetic", dataset.path + ":test", "--dataset", dataset.path, "--sample", "1000"])
        let lengths = try IngestTesting.readSplit(dataset, "test").texts.map { MetricTokenizer().tokens($0).count }
        for (order, value) in [(2, test.overall.bleu2), (3, test.overall.bleu3), (4, test.overall.bleu4)] {
            let expected = lengths.map { $0 == 0 ? 0 : pow(0.1, Double(max(0, order - $0)) / Double(order)) }.reduce(0, +) / Double(lengths.count)
            #expect(abs(value! - expected) < 1e-12, "BLEU-\(order) \(value!) vs \(expected)")
        }
        #expect(test.overall.bleu4! < 1, "the slice has texts shorter than 4 tokens")
        let real = try #require(test.realTest)
        #expect(real.count == 3 && real[0].class == "all")
        for (mine, theirs) in zip([test.overall] + test.classes, real) {
            #expect(abs(mine.selfBleu4! - theirs.selfBleu4!) < 1e-12 && mine.distinct2 == theirs.distinct2, "\(mine.class)")
            #expect(theirs.bleu2 == nil)
        }
        #expect(test.overall.copyShare! < 0.2)

        // With a text classifier: agreement is what `reptile classify` says, per record.
        let classifierFolder = parent.appendingPathComponent("classifier")
        let pretrain = try Support.reptile(["pretrain", "--dataset", dataset.path, "--out", classifierFolder.path, "--epochs", "2", "--threads", "1", "--json"])
        try #require(pretrain.status == 0, "\(pretrain.standardError)")
        let checkpoint = classifierFolder.appendingPathComponent("classifier.h5").path
        let judged = try Self.evaluate(["--synthetic", dataset.path + ":train", "--dataset", dataset.path, "--classifier", checkpoint])
        let agreement = try Self.classifyAgreement(classifier: checkpoint, split: dataset.path + ":train")
        #expect(abs(judged.overall.classifierAgreement! - agreement) < 1e-12)
        #expect(judged.classifier?.architecture == "text-cnn")
        for row in [judged.overall] + judged.classes {
            #expect(row.meanIntendedConfidence.map { $0 > 0 && $0 < 1 } == true)
        }

        // The same seed gives the same report; `--out` writes it (timing aside) and refuses to overwrite.
        let out = parent.appendingPathComponent("report.json")
        let again = try Support.reptile(["evaluate", "--synthetic", dataset.path + ":train", "--dataset", dataset.path, "--out", out.path])
        try #require(again.status == 0, "\(again.standardError)")
        #expect(again.standardOutput.contains("| all |") && again.standardOutput.contains("Self-BLEU-4"))
        var written = try Self.decodeReport(try String(contentsOf: out, encoding: .utf8))
        written.timing = train.timing
        #expect(try StableJSON.string(written) == StableJSON.string(train))
        let refused = try Support.reptile(["evaluate", "--synthetic", dataset.path + ":train", "--dataset", dataset.path, "--out", out.path])
        #expect(refused.status == 1 && refused.standardError.contains("already exists") && refused.standardError.contains("--force"))
    }

    @Test func imageSplitsEvaluatedAgainstThemselvesGiveTheKnownAnswers() throws {
        let parent = try Support.makeTemporaryFolder("evaluate-image")
        defer { Support.remove(parent) }
        // 100 train images, 300 test images of the MNIST sample.
        let dataset = try SynthesisCommandTests.ingestSample(into: parent, extra: ["--test-fraction", "0.03"])
        let checkpoint = parent.appendingPathComponent("classifier.h5").path
        try SynthesisTesting.toyClassifier(at: checkpoint, classNames: SynthesisCommandTests.digits)

        let train = try Self.evaluate(["--synthetic", dataset.path + ":train", "--dataset", dataset.path])
        #expect(train.kind == "image" && train.overall.records == 100)
        #expect(train.overall.copyShare == 1 && train.overall.duplicateShare == 0 && train.overall.precision == nil)

        // The test split against itself in the classifier's features: every point is inside its
        // own ball, so precision, recall and coverage are 1, and the distances are the same.
        let test = try Self.evaluate(["--synthetic", dataset.path + ":test", "--dataset", dataset.path, "--classifier", checkpoint])
        #expect(test.overall.records == 300 && test.overall.copyShare! < 0.05)
        for row in [test.overall] + test.classes {
            #expect(row.precision == 1 && row.recall == 1 && row.coverage == 1, "\(row.class)")
            #expect(row.density! >= 1, "\(row.class)")
            #expect(row.meanPairwiseDistanceSynthetic == row.meanPairwiseDistanceReal && row.meanPairwiseDistanceReal! > 0, "\(row.class)")
        }
        let agreement = try Self.classifyAgreement(classifier: checkpoint, split: dataset.path + ":test")
        #expect(abs(test.overall.classifierAgreement! - agreement) < 1e-12)

        // The 100 train images as "synthetic" against the 300 test images: a smaller, different
        // set covers less of the real one.
        let small = try Self.evaluate(["--synthetic", dataset.path + ":train", "--dataset", dataset.path, "--classifier", checkpoint])
        #expect(small.overall.recall! < 1 && small.overall.coverage! < 1 && small.overall.sampled == 100)
        #expect(small.classes.allSatisfy { $0.sampled == 10 })
    }

    /// `--html`: one page whose tables carry the report's figures and whose examples are the split's
    /// own records: Pillow decodes every embedded PNG, and each image cut from a strip is one of
    /// that class's images in the shard (h5py); the texts are that class's texts.
    @Test func theHTMLPageShowsTheFiguresAndRecordsOfEveryClass() throws {
        let parent = try Support.makeTemporaryFolder("evaluate-html")
        defer { Support.remove(parent) }
        let dataset = try SynthesisCommandTests.ingestSample(into: parent, extra: ["--test-fraction", "0.03"])
        let page = parent.appendingPathComponent("report.html"), json = parent.appendingPathComponent("report.json")
        let result = try Support.reptile(["evaluate", "--synthetic", dataset.path + ":train", "--dataset", dataset.path,
                                          "--html", page.path, "--out", json.path, "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let report = try Self.decodeReport(try String(contentsOf: json, encoding: .utf8))
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        // The table rows: class, records, copies %, duplicates % as the report has them.
        for row in [report.overall] + report.classes {
            let cells = "<tr><td>\(row.class)</td><td>\(row.records)</td><td>" + String(format: "%.1f", row.copyShare! * 100)
            #expect(html.contains(cells), "\(row.class)")
        }
        let check = try Support.python("""
            import base64, html.parser, io, json, sys
            import h5py, numpy as np
            from PIL import Image
            page, folder = sys.argv[1], sys.argv[2]
            class Parser(html.parser.HTMLParser):
                def __init__(self):
                    super().__init__(); self.images = []
                def handle_starttag(self, tag, attributes):
                    attributes = dict(attributes)
                    if tag == "img":
                        self.images.append((attributes["alt"], attributes["src"]))
            parser = Parser(); parser.feed(open(page, encoding="utf-8").read())
            def split(name):
                with h5py.File(f"{folder}/{name}-00000-of-00001.h5") as f:
                    return f["images"][:], f["labels"][:]
            sets = {"synthetic": split("train"), "real": split("test")}
            with h5py.File(f"{folder}/train-00000-of-00001.h5") as f:
                names = json.loads(f.attrs["class_names"])
            checked = 0
            for alt, source in parser.images:
                role, name = alt.split(" ", 1)
                strip = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
                strip.load()
                pixels = np.asarray(strip)
                count = (strip.width - 2) // 30
                assert strip.height == 32 and strip.width == count * 30 + 2, (alt, strip.size)
                images, labels = sets[role]
                mine = {images[i, :, :, 0].tobytes() for i in np.flatnonzero(labels == names.index(name))}
                assert count == min(10, len(mine)), (alt, count, len(mine))
                for k in range(count):
                    cut = pixels[2:30, 2 + 30 * k: 30 + 30 * k]
                    assert cut.tobytes() in mine, (alt, k)
                    checked += 1
            print(len(parser.images), checked)
            """, arguments: [page.path, dataset.path])
        try #require(check.status == 0, "\(check.standardError)")
        let counts = check.standardOutput.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(counts.first == 2 * report.classes.count && (counts.last ?? 0) >= 150, "\(check.standardOutput)")

        // Texts: every listed synthetic text is a text of its class (escaped for HTML), and an existing
        // page is kept without --force.
        let sms = try Self.ingestTextSlice("sms-spam/SMSSpamCollection", lines: 120, format: "label-tab", name: "sms", parent: parent)
        let textPage = parent.appendingPathComponent("sms.html")
        let text = try Support.reptile(["evaluate", "--synthetic", sms.path + ":train", "--dataset", sms.path, "--html", textPage.path])
        try #require(text.status == 0, "\(text.standardError)")
        let textHTML = try String(contentsOf: textPage, encoding: .utf8)
        let train = try IngestTesting.readSplit(sms, "train")
        let spam = Int64(try DatasetFolder(path: sms.path).info.classNames.firstIndex(of: "spam")!)
        let spamTexts = zip(train.texts, train.labels).filter { $0.1 == spam }.map { escaped($0.0) }
        // The last spam row is the examples table's (the first ones are the figures').
        let spamRow = textHTML.components(separatedBy: "<tr><td>spam</td>").last!.components(separatedBy: "</tr>")[0]
        let items = spamRow.components(separatedBy: "</td>")[0].components(separatedBy: "<li>").dropFirst()
            .map { $0.components(separatedBy: "</li>")[0] }
        #expect(items.count == min(10, spamTexts.count) && items.allSatisfy { spamTexts.contains($0) })
        #expect(!textHTML.contains("<script"))
        let refused = try Support.reptile(["evaluate", "--synthetic", sms.path + ":train", "--dataset", sms.path, "--html", textPage.path])
        #expect(refused.status == 1 && refused.standardError.contains("already exists"))
        #expect(try String(contentsOf: textPage, encoding: .utf8) == textHTML)
    }

    @Test func badInputFailsInOneLineNamingTheFileAndTheFix() throws {
        let parent = try Support.makeTemporaryFolder("evaluate-bad")
        defer { Support.remove(parent) }
        let sms = try Self.ingestTextSlice("sms-spam/SMSSpamCollection", lines: 60, format: "label-tab", name: "sms", parent: parent)
        let trec = try Self.ingestTextSlice("trec/TREC_10.label", lines: 80, format: "trec", name: "trec", parent: parent)
        let images = try SynthesisCommandTests.ingestSample(into: parent, extra: ["--test-fraction", "0.01"])
        let scratch = parent.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)

        func expectFailure(_ arguments: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try Support.reptile(["evaluate"] + arguments + ["--out", scratch.appendingPathComponent("report.json").path])
            try IngestTesting.expectCleanFailure(result, parent: scratch, mentions: mentions, sourceLocation: sourceLocation)
        }
        let missing = parent.appendingPathComponent("no-such-run/synthetic").path
        try expectFailure(["--synthetic", missing, "--dataset", sms.path], mentions: [missing, "no such dataset folder"])
        try expectFailure(["--synthetic", sms.path + ":train", "--dataset", trec.path], mentions: ["sms", "class set differs", "trec"])
        try expectFailure(["--synthetic", images.path + ":train", "--dataset", sms.path], mentions: ["holds images", "texts"])
        try expectFailure(["--synthetic", sms.path + ":train", "--dataset", sms.path, "--sample", "1"], mentions: ["--sample"])
        let imageClassifier = parent.appendingPathComponent("classifier.h5").path
        try SynthesisTesting.toyClassifier(at: imageClassifier, classNames: SynthesisCommandTests.digits)
        try expectFailure(["--synthetic", sms.path + ":train", "--dataset", sms.path, "--classifier", imageClassifier],
                          mentions: [imageClassifier, "image classifier"])
    }
}
