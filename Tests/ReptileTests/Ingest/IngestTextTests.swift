import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats
@testable import ReptileIngest

/// `reptile ingest text` end to end on every shared text dataset: the published counts, and what
/// is read back from the shards equals the source, string for string.
@Suite struct IngestTextTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var arguments: [String]
        var classNames: [String]
        var train: [Int]
        var test: [Int]?
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "sms", arguments: [Support.sharedDataset("sms-spam/SMSSpamCollection"), "--test-fraction", "0"],
             classNames: ["ham", "spam"], train: [4827, 747]),
        Case(name: "trec", arguments: [Support.sharedDataset("trec/train_5500.label"), "--test", Support.sharedDataset("trec/TREC_10.label"), "--encoding", "latin1"],
             classNames: ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"], train: [86, 1162, 1250, 1223, 835, 896], test: [9, 138, 94, 65, 81, 113]),
        Case(name: "mr", arguments: ["--class-file", "pos=" + Support.sharedDataset("mr/rt-polarity.pos"), "--class-file", "neg=" + Support.sharedDataset("mr/rt-polarity.neg"),
                                     "--encoding", "cp1252", "--test-fraction", "0"],
             classNames: ["neg", "pos"], train: [5331, 5331]),
        Case(name: "sst2", arguments: [Support.sharedDataset("sst2/train.tsv"), "--test", Support.sharedDataset("sst2/dev.tsv")],
             classNames: ["0", "1"], train: [29780, 37569], test: [428, 444]),
    ]

    @Test(arguments: cases) func sharedDatasetIngestsWithPublishedCountsAndExactTexts(_ testCase: Case) throws {
        let parent = try Support.makeTemporaryFolder("text-\(testCase.name)")
        defer { Support.remove(parent) }
        let result = try IngestTesting.ingest(["ingest", "text"] + testCase.arguments + ["--name", testCase.name], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let dataset = parent.appendingPathComponent(testCase.name)
        let info = try DatasetFolder(path: dataset.path).info
        #expect(info.kind == .text)
        #expect(info.classNames == testCase.classNames)
        #expect(info.splits["train"]?.classCounts == testCase.train)
        #expect(info.splits["test"]?.classCounts == testCase.test)

        // String for string against the source as the reader decodes it.
        var options = TextSourceOptions()
        if let encoding = testCase.arguments.firstIndex(of: "--encoding") { options.encoding = TextEncoding(rawValue: testCase.arguments[encoding + 1])! }
        if testCase.name == "mr" {
            options.classFiles = [ClassFile(label: "pos", path: Support.sharedDataset("mr/rt-polarity.pos")),
                                  ClassFile(label: "neg", path: Support.sharedDataset("mr/rt-polarity.neg"))]
        }
        let source = try readTextSource(at: testCase.name == "mr" ? nil : testCase.arguments[0], options: options)
        let stored = try IngestTesting.readSplit(dataset, "train")
        #expect(stored.texts.count == source.records.count)
        var mismatches = 0
        for (position, sourceIndex) in stored.sourceIndices.enumerated() {
            let record = source.records[Int(sourceIndex)]
            if stored.texts[position] != record.text || info.classNames[Int(stored.labels[position])] != record.label { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func dedupDropsExactDuplicatesBeforeSplittingAndRecordsHowMany() throws {
        let parent = try Support.makeTemporaryFolder("text-dedup")
        defer { Support.remove(parent) }
        let result = try IngestTesting.ingest(["ingest", "text", Support.sharedDataset("sms-spam/SMSSpamCollection"), "--name", "sms",
                                               "--dedup", "--json"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("sms").path).info
        // 403 raw duplicate lines, 414 once surrounding spaces are trimmed (11 differ only in trailing spaces).
        #expect(info.source.processing["duplicates_dropped"]?["train"] == .integer(414))
        let total = (info.splits["train"]?.count ?? 0) + (info.splits["test"]?.count ?? 0)
        #expect(total == 5574 - 414)
        let texts = try IngestTesting.readSplit(parent.appendingPathComponent("sms"), "train").texts
            + IngestTesting.readSplit(parent.appendingPathComponent("sms"), "test").texts
        let labels = try IngestTesting.readSplit(parent.appendingPathComponent("sms"), "train").labels
            + IngestTesting.readSplit(parent.appendingPathComponent("sms"), "test").labels
        #expect(Set(zip(texts, labels).map { "\($1)\t\($0)" }).count == total)
    }

    @Test func explicitClassesOrderAndRejectUnknownLabels() throws {
        let parent = try Support.makeTemporaryFolder("text-classes")
        defer { Support.remove(parent) }
        let source = try Support.makeTemporaryFolder("text-classes-source")
        defer { Support.remove(source) }
        let file = source.appendingPathComponent("data.csv")
        try "text,label\nhello there,greeting\nbye now,farewell\nhi,greeting\nsee you,farewell\nwhat?,question\n".write(to: file, atomically: true, encoding: .utf8)
        let unknown = try IngestTesting.ingest(["ingest", "text", file.path, "--name", "c", "--classes", "greeting,farewell"], parent: parent)
        try IngestTesting.expectCleanFailure(unknown, parent: parent, mentions: [file.path, "line 6", "unknown label", "\"question\"", "--classes"])
        let ordered = try IngestTesting.ingest(["ingest", "text", file.path, "--name", "c", "--classes", "question,greeting,farewell", "--test-fraction", "0"], parent: parent)
        try #require(ordered.status == 0, "\(ordered.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("c").path).info
        #expect(info.classNames == ["question", "greeting", "farewell"])
        #expect(info.splits["train"]?.classCounts == [1, 2, 2])
    }

    @Test func pathLikeLabelsStayOpaqueNames() throws {
        let parent = try Support.makeTemporaryFolder("text-path-labels")
        defer { Support.remove(parent) }
        let source = try Support.makeTemporaryFolder("text-path-labels-source")
        defer { Support.remove(source) }
        let file = source.appendingPathComponent("data.tsv")
        try "../../etc\tfirst text\n/abs/path\tsecond text\n../../etc\tthird\n/abs/path\tfourth\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try IngestTesting.ingest(["ingest", "text", file.path, "--format", "label-tab", "--name", "p", "--test-fraction", "0"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("p").path).info
        #expect(info.classNames == ["../../etc", "/abs/path"])
        // Only the dataset folder was created, and nothing beside the source.
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["p"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: source.path) == ["data.tsv"])
    }

    @Test func headerlessColumnsByIndexJoinSeveralTextColumns() throws {
        let parent = try Support.makeTemporaryFolder("text-columns")
        defer { Support.remove(parent) }
        let source = try Support.makeTemporaryFolder("text-columns-source")
        defer { Support.remove(source) }
        let file = source.appendingPathComponent("pairs.csv")
        try "pos,\"Great film\",\"loved it, truly\"\nneg,Awful,\"multi\nline\"\npos,Fine,ok\nneg,Bad,meh\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try IngestTesting.ingest(["ingest", "text", file.path, "--no-header", "--label-column", "0", "--text-column", "1",
                                               "--text-column", "2", "--name", "pairs", "--test-fraction", "0"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let stored = try IngestTesting.readSplit(parent.appendingPathComponent("pairs"), "train")
        #expect(Set(stored.texts) == ["Great film loved it, truly", "Awful multi\nline", "Fine ok", "Bad meh"])
    }

    @Test func trecFineLabelsGiveFiftyClasses() throws {
        let parent = try Support.makeTemporaryFolder("text-fine")
        defer { Support.remove(parent) }
        let result = try IngestTesting.ingest(["ingest", "text", Support.sharedDataset("trec/train_5500.label"), "--encoding", "latin1",
                                               "--label-level", "fine", "--name", "fine", "--test-fraction", "0"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("fine").path).info
        #expect(info.classNames.count == 50)
        #expect(info.classNames.contains("HUM:ind"))
        #expect(info.splits["train"]?.classCounts[info.classNames.firstIndex(of: "HUM:ind")!] == 962)
    }

    /// TREC's ABBR has 86 training questions: `--per-class 100` refuses, `--allow-fewer` keeps all 86.
    @Test func perClassWithAllowFewerKeepsAllOfASmallClass() throws {
        let parent = try Support.makeTemporaryFolder("text-allow-fewer")
        defer { Support.remove(parent) }
        let source = [Support.sharedDataset("trec/train_5500.label"), "--test", Support.sharedDataset("trec/TREC_10.label"),
                      "--encoding", "latin1", "--per-class", "100", "--seed", "3"]
        let refused = try IngestTesting.ingest(["ingest", "text"] + source + ["--name", "strict"], parent: parent)
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("\"ABBR\" has only 86") && refused.standardError.contains("--allow-fewer"))
        #expect(!FileManager.default.fileExists(atPath: parent.appendingPathComponent("strict").path))

        let result = try IngestTesting.ingest(["ingest", "text"] + source + ["--allow-fewer", "--name", "low"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("low").path).info
        let abbreviation = try #require(info.classNames.firstIndex(of: "ABBR"))
        let counts = try #require(info.splits["train"]?.classCounts)
        #expect(counts[abbreviation] == 86)
        #expect(counts.enumerated().allSatisfy { $0.offset == abbreviation || $0.element == 100 })
        #expect(info.splits["test"]?.count == 500)
    }
}
