import Foundation
import Testing
@testable import ReptileCore
@testable import ReptileIngest

// MARK: - Helpers

/// A scratch folder with small hand-made text files.
private struct Scratch {
    let folder: URL

    init() throws { folder = try Support.makeTemporaryFolder("text") }

    func remove() { Support.remove(folder) }

    /// Writes raw bytes (so tests can hold CRLF, BOMs, NUL and invalid UTF-8) and returns the path.
    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    func makeFolder(_ name: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }
}

private func options(_ format: TextFormat? = nil, encoding: TextEncoding = .utf8,
                     configure: (inout TextSourceOptions) -> Void = { _ in }) -> TextSourceOptions {
    var result = TextSourceOptions()
    result.format = format
    result.encoding = encoding
    configure(&result)
    return result
}

/// Reads a source that must fail; checks that the error names the file and (when given) the line,
/// and that its one-line description holds every expected piece.
private func expectFailure(_ path: String?, _ options: TextSourceOptions, file expectedFile: String?,
                           line: Int?, mentions pieces: [String] = [],
                           sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: ReptileError.self, sourceLocation: sourceLocation) {
        _ = try readTextSource(at: path, options: options)
    }
    guard let error else { return }
    let description = error.description
    if let expectedFile {
        #expect(error.path == expectedFile, sourceLocation: sourceLocation)
        #expect(description.hasPrefix(expectedFile), sourceLocation: sourceLocation)
    }
    if let line {
        #expect(error.location == "line \(line)", "\(description)", sourceLocation: sourceLocation)
        #expect(description.contains(": line \(line): "), "\(description)", sourceLocation: sourceLocation)
    }
    for piece in pieces {
        #expect(description.contains(piece), "\(description) should mention \(piece)", sourceLocation: sourceLocation)
    }
    #expect(!description.contains("\n"), sourceLocation: sourceLocation)
}

private func labelCounts(_ records: [TextRecord]) -> [String: Int] {
    records.reduce(into: [:]) { counts, record in counts[record.label, default: 0] += 1 }
}

/// Raw lines of a file split on 0x0A only (the file ends with `\n`).
private func rawLines(_ path: String) throws -> [ArraySlice<UInt8>] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }
    return lines
}

private func trimmedASCII(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    let blanks: Set<UInt8> = [0x20, 0x09, 0x0D]
    var slice = bytes
    while let first = slice.first, blanks.contains(first) { slice = slice.dropFirst() }
    while let last = slice.last, blanks.contains(last) { slice = slice.dropLast() }
    return slice
}

// MARK: - Real datasets

@Suite struct TextSourceRealDataTests {
    @Test func smsSpamIsDetectedAndCountedAndKeepsEveryByte() throws {
        let path = Support.sharedDataset("sms-spam/SMSSpamCollection")
        #expect(try detectTextFormat(at: path) == .labelTab)
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.format == .labelTab)
        #expect(source.files == [path])
        #expect(source.records.count == 5_574)
        #expect(labelCounts(source.records) == ["ham": 4_827, "spam": 747])

        // Byte-level round trip: each text is the raw line after its first TAB, trimmed.
        let lines = try rawLines(path)
        #expect(lines.count == source.records.count)
        for (index, line) in lines.enumerated() {
            let record = source.records[index]
            let tab = line.firstIndex(of: 0x09)!
            #expect(record.line == index + 1)
            #expect(Array(record.text.utf8) == Array(trimmedASCII(line[(tab + 1)...])))
            #expect(Array(record.label.utf8) == Array(line[..<tab]))
            #expect(record.file == path)
        }
    }

    @Test func trecCoarseAndFineLabelsWithLatin1() throws {
        let trainPath = Support.sharedDataset("trec/train_5500.label")
        let testPath = Support.sharedDataset("trec/TREC_10.label")
        #expect(try detectTextFormat(at: trainPath) == .trec)
        let latin1 = options(encoding: .latin1)

        let train = try readTextSource(at: trainPath, options: latin1)
        #expect(train.format == .trec)
        #expect(train.records.count == 5_452)
        #expect(labelCounts(train.records)
            == ["ABBR": 86, "DESC": 1_162, "ENTY": 1_250, "HUM": 1_223, "LOC": 835, "NUM": 896])
        // Line 66 holds the one non-ASCII byte, 0xF0, which Latin-1 reads as "ð".
        #expect(train.records[65].line == 66)
        #expect(train.records[65].text.contains("sister\u{F0}city"))

        let test = try readTextSource(at: testPath, options: latin1)
        #expect(test.records.count == 500)
        #expect(labelCounts(test.records)
            == ["ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113])

        let fine = try readTextSource(at: trainPath, options: options(encoding: .latin1) { $0.labelLevel = .fine })
        let fineCounts = labelCounts(fine.records)
        #expect(fineCounts.count == 50)
        #expect(fineCounts["HUM:ind"] == 962)
        #expect(fineCounts["ENTY:currency"] == 4)
        #expect(fine.records.first?.label == "DESC:manner")
        #expect(fine.records.first?.text == "How did serfdom develop in and then leave Russia ?")
        let fineTest = try readTextSource(at: testPath, options: options { $0.labelLevel = .fine })
        #expect(labelCounts(fineTest.records).count == 42)
    }

    @Test func trecTrainWithStrictUTF8FailsAtLine66() {
        let path = Support.sharedDataset("trec/train_5500.label")
        expectFailure(path, TextSourceOptions(), file: path, line: 66,
                      mentions: ["not valid UTF-8", "0xF0", "--encoding latin1"])
    }

    @Test func mrClassFilesKeepByte0x85AsOneCharacter() throws {
        let positive = Support.sharedDataset("mr/rt-polarity.pos")
        let negative = Support.sharedDataset("mr/rt-polarity.neg")
        let classFiles = [ClassFile(label: "positive", path: positive), ClassFile(label: "negative", path: negative)]

        let latin1 = try readTextSource(at: nil, options: options(encoding: .latin1) { $0.classFiles = classFiles })
        #expect(latin1.format == .classFiles)
        #expect(latin1.files == [positive, negative])
        #expect(labelCounts(latin1.records) == ["positive": 5_331, "negative": 5_331])
        let nextLine: Unicode.Scalar = "\u{85}"
        func count(_ scalar: Unicode.Scalar, in records: [TextRecord], label: String) -> Int {
            records.filter { $0.label == label }
                .reduce(0) { total, record in total + record.text.unicodeScalars.filter { $0 == scalar }.count }
        }
        // SOURCE.md: 13 bytes 0x85 in the .pos file and 10 in the .neg file.
        #expect(count(nextLine, in: latin1.records, label: "positive") == 13)
        #expect(count(nextLine, in: latin1.records, label: "negative") == 10)

        // Latin-1 round trip: every scalar is the byte of the same value.
        let lines = try rawLines(positive)
        for (index, line) in lines.enumerated() {
            let record = latin1.records[index]
            #expect(record.line == index + 1)
            #expect(record.text.unicodeScalars.map { UInt8($0.value) } == Array(trimmedASCII(line)))
        }

        let windows = try readTextSource(at: nil, options: options(encoding: .cp1252) { $0.classFiles = classFiles })
        #expect(windows.records.count == 10_662)
        #expect(count("\u{2026}", in: windows.records, label: "positive") == 13)
        #expect(count("\u{2026}", in: windows.records, label: "negative") == 10)
        #expect(count(nextLine, in: windows.records, label: "positive") == 0)
    }

    @Test func mrWithStrictUTF8FailsAndNamesTheLine() {
        let positive = Support.sharedDataset("mr/rt-polarity.pos")
        let failing = options { $0.classFiles = [ClassFile(label: "positive", path: positive)] }
        expectFailure(nil, failing, file: positive, line: nil, mentions: ["not valid UTF-8", "--encoding latin1", ": line "])
    }

    @Test func sst2TrainAndDevCounts() throws {
        let trainPath = Support.sharedDataset("sst2/train.tsv")
        let devPath = Support.sharedDataset("sst2/dev.tsv")
        #expect(try detectTextFormat(at: trainPath) == .tsv)

        let started = Date()
        let train = try readTextSource(at: trainPath, options: TextSourceOptions())
        let seconds = Date().timeIntervalSince(started)
        #expect(train.format == .tsv)
        #expect(train.records.count == 67_349)
        #expect(labelCounts(train.records) == ["0": 29_780, "1": 37_569])
        // A debug build is far slower than release; this only catches a quadratic slip.
        #expect(seconds < 20)
        // The first data row is on line 2 (after the header); the trailing space is trimmed.
        #expect(train.records[0].line == 2)
        #expect(train.records.allSatisfy { !$0.text.hasSuffix(" ") && !$0.text.isEmpty })

        // Round trip: each text is the raw line up to its last TAB, trimmed.
        let lines = try rawLines(trainPath)
        #expect(lines.count == 67_350)
        for (index, line) in lines.dropFirst().enumerated() {
            let tab = line.lastIndex(of: 0x09)!
            #expect(Array(train.records[index].text.utf8) == Array(trimmedASCII(line[..<tab])))
        }

        let dev = try readTextSource(at: devPath, options: TextSourceOptions())
        #expect(dev.records.count == 872)
        #expect(labelCounts(dev.records) == ["0": 428, "1": 444])
    }
}

// MARK: - CSV and TSV

@Suite struct DelimitedTextSourceTests {
    @Test func quotedCommasEscapedQuotesAndEmbeddedNewlines() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        for lineEnd in ["\n", "\r\n"] {
            let content = ["text,label",
                           "\"hello, world\",greeting",
                           "\"she said \"\"hi\"\"\",quote",
                           "\"two \"\"x\"\"\(lineEnd)lines, here\",multi",
                           "",
                           "plain ab\"c,last",
                           ""].joined(separator: lineEnd)
            let path = try scratch.write("quoted-\(lineEnd.count).csv", content)
            let source = try readTextSource(at: path, options: TextSourceOptions())
            #expect(source.format == .csv)
            #expect(source.records.map(\.text)
                == ["hello, world", "she said \"hi\"", "two \"x\"\nlines, here", "plain ab\"c"])
            #expect(source.records.map(\.label) == ["greeting", "quote", "multi", "last"])
            // A record's line is where it starts; the blank line 6 is skipped.
            #expect(source.records.map(\.line) == [2, 3, 4, 7])
            #expect(source.records[0].location == "line 2")
        }
    }

    @Test func lastLineWithoutNewlineAndQuotedLastField() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("end.csv", "label,text\nx,\"quoted at the end\"")
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.records == [TextRecord(text: "quoted at the end", label: "x", file: path, line: 2)])
    }

    @Test func severalTextColumnsAreJoinedWithOneSpace() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("columns.csv", "id,Title,Body,Category\n1,Hello , world ,news\n2,,only body,sport\n")
        let source = try readTextSource(at: path, options: options {
            $0.textColumns = ["title", "2"]
            $0.labelColumn = "Category"
        })
        #expect(source.records.map(\.text) == ["Hello world", "only body"])
        #expect(source.records.map(\.label) == ["news", "sport"])
    }

    @Test func defaultColumnNamesAreCaseInsensitive() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("default.csv", "Class,Sentence\npos,good film\n")
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.records == [TextRecord(text: "good film", label: "pos", file: path, line: 2)])
    }

    @Test func noHeaderUsesIndexColumns() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("plain.tsv", "1\tfirst text\n0\tsecond text\n")
        let source = try readTextSource(at: path, options: options {
            $0.hasHeader = false
            $0.textColumns = ["1"]
            $0.labelColumn = "0"
        })
        #expect(source.format == .tsv)
        #expect(source.records.map(\.text) == ["first text", "second text"])
        #expect(source.records.map(\.label) == ["1", "0"])
        #expect(source.records.map(\.line) == [1, 2])

        expectFailure(path, options { $0.hasHeader = false }, file: path, line: nil,
                      mentions: ["--text-column", "--label-column"])
        expectFailure(path, options { $0.hasHeader = false; $0.textColumns = ["5"]; $0.labelColumn = "0" },
                      file: path, line: nil, mentions: ["\"5\"", "--text-column"])
    }

    @Test func utf8ByteOrderMarkIsDropped() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("bom.csv", bytes: [0xEF, 0xBB, 0xBF] + Array("text,label\ncafé,a\n".utf8))
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.records.map(\.text) == ["café"])
    }

    @Test func missingColumnsListTheHeader() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("columns.csv", "text,category\nhello,a\n")
        expectFailure(path, TextSourceOptions(), file: path, line: 1,
                      mentions: ["\"text\", \"category\"", "--label-column"])
        expectFailure(path, options { $0.labelColumn = "category"; $0.textColumns = ["body"] }, file: path, line: 1,
                      mentions: ["\"body\"", "\"text\", \"category\"", "--text-column"])
        let noText = try scratch.write("no-text.csv", "body,label\nhello,a\n")
        expectFailure(noText, TextSourceOptions(), file: noText, line: 1,
                      mentions: ["\"text\" or \"sentence\"", "\"body\", \"label\"", "--text-column"])
    }

    @Test func unclosedQuoteNamesTheLineWhereItOpened() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("open.csv", "text,label\nfine,a\n\"opens here,b\nmore,c\nand more,d\n")
        expectFailure(path, TextSourceOptions(), file: path, line: 3, mentions: ["unclosed quote"])
    }

    @Test func textAfterAClosingQuoteIsAnError() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("after.csv", "text,label\nok,a\n\"quoted\" tail,b\n")
        expectFailure(path, TextSourceOptions(), file: path, line: 3, mentions: ["after the closing quote"])
    }

    @Test func emptyLabelAndEmptyTextNameTheLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let emptyLabel = try scratch.write("label.csv", "text,label\nhello,a\nworld, \n")
        expectFailure(emptyLabel, TextSourceOptions(), file: emptyLabel, line: 3, mentions: ["empty label"])
        let emptyText = try scratch.write("text.csv", "text,label\n\"  \",a\n")
        expectFailure(emptyText, TextSourceOptions(), file: emptyText, line: 2, mentions: ["empty text"])
    }

    @Test func headerOnlyAndEmptyFilesAreErrors() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let headerOnly = try scratch.write("header.csv", "text,label\n")
        expectFailure(headerOnly, TextSourceOptions(), file: headerOnly, line: nil, mentions: ["header but no records"])
        let empty = try scratch.write("empty.csv", "")
        expectFailure(empty, TextSourceOptions(), file: empty, line: nil, mentions: ["empty"])
    }

    @Test func wrongFieldCountNamesTheLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("fields.csv", "text,label\nhello,a\nhello, world,b\n")
        expectFailure(path, TextSourceOptions(), file: path, line: 3, mentions: ["3 fields", "header has 2"])
        let tooFew = try scratch.write("few.tsv", "sentence\tlabel\nno tab here\n")
        expectFailure(tooFew, TextSourceOptions(), file: tooFew, line: 2, mentions: ["1 fields"])
    }
}

// MARK: - Bytes, encodings and lines (all formats)

@Suite struct TextEncodingTests {
    @Test func invalidUTF8NamesTheLineAndSuggestsLatin1() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("bad.csv", bytes: Array("text,label\nok,a\nbad ".utf8) + [0xE9] + Array(" byte,b\n".utf8))
        expectFailure(path, TextSourceOptions(), file: path, line: 3,
                      mentions: ["not valid UTF-8", "0xE9", "--encoding latin1", "cp1252"])
        let latin1 = try readTextSource(at: path, options: options(encoding: .latin1))
        #expect(latin1.records[1].text == "bad é byte")
    }

    @Test func nulByteNamesTheLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("nul.txt", bytes: Array("ham\tone\nspam\tt".utf8) + [0x00] + Array("wo\n".utf8))
        expectFailure(path, options(.labelTab), file: path, line: 2, mentions: ["NUL", "binary file or UTF-16?"])
    }

    @Test func utf16ByteOrderMarkIsRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        for (name, mark) in [("little.csv", [UInt8(0xFF), 0xFE]), ("big.csv", [UInt8(0xFE), 0xFF])] {
            let path = try scratch.write(name, bytes: mark + Array("t\0e\0x\0t\0".utf8))
            expectFailure(path, TextSourceOptions(), file: path, line: 1, mentions: ["UTF-16", "UTF-8"])
        }
        let sniffed = try scratch.write("sniffed.txt", bytes: [0xFF, 0xFE, 0x61, 0x00])
        expectFailure(sniffed, TextSourceOptions(), file: sniffed, line: 1, mentions: ["UTF-16"])
    }

    @Test func windows1252MapsTheHighControlRange() throws {
        #expect(Windows1252.scalarValue(of: 0x85) == 0x2026)
        #expect(Windows1252.scalarValue(of: 0x80) == 0x20AC)
        #expect(Windows1252.scalarValue(of: 0x92) == 0x2019)
        #expect(Windows1252.scalarValue(of: 0x96) == 0x2013)
        #expect(Windows1252.scalarValue(of: 0x97) == 0x2014)
        #expect(Windows1252.scalarValue(of: 0x9F) == 0x0178)
        for undefined: UInt8 in [0x81, 0x8D, 0x8F, 0x90, 0x9D] {
            #expect(Windows1252.scalarValue(of: undefined) == UInt32(undefined))
        }
        #expect(Windows1252.scalarValue(of: 0xE9) == 0xE9)
        #expect(Windows1252.scalarValue(of: 0x41) == 0x41)

        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("windows.txt", bytes: [0x61, 0x85, 0x20, 0x96, 0x20, 0x93, 0x71, 0x94, 0xFF, 0x0A])
        let source = try readTextSource(at: nil, options: options(encoding: .cp1252) {
            $0.classFiles = [ClassFile(label: "x", path: path)]
        })
        #expect(source.records.map(\.text) == ["a\u{2026} \u{2013} \u{201C}q\u{201D}\u{FF}"])
    }

    @Test func linesSplitOnlyOnLineFeedAndDropOneCarriageReturn() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        // U+0085 (NEXT LINE), U+2028 and a lone CR inside a line are text, not line ends.
        let path = try scratch.write("lines.txt", "ham\tone\u{85}still one\r\nspam\ttwo\u{2028}x\ry\r\nham\t\u{A0}three\u{A0}")
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.format == .labelTab)
        #expect(source.records.map(\.text) == ["one\u{85}still one", "two\u{2028}x\ry", "\u{A0}three\u{A0}"])
        #expect(source.records.map(\.line) == [1, 2, 3])
    }
}

// MARK: - JSON Lines

@Suite struct JSONLinesTextSourceTests {
    @Test func objectsWithStringAndIntegerLabels() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("data.jsonl", """
            {"text": "first one", "label": "pos"}

            {"sentence": " second ", "label": 1, "extra": [1, 2]}
            {"text": "third", "class": -2}

            """)
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.format == .jsonl)
        #expect(source.records == [
            TextRecord(text: "first one", label: "pos", file: path, line: 1),
            TextRecord(text: "second", label: "1", file: path, line: 3),
            TextRecord(text: "third", label: "-2", file: path, line: 4),
        ])
    }

    @Test func namedFieldsAndSeveralTextFields() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("data.ndjson", "{\"title\": \"Big\", \"body\": \"news\", \"topic\": \"world\"}\n")
        let source = try readTextSource(at: path, options: options {
            $0.textColumns = ["title", "body"]
            $0.labelColumn = "topic"
        })
        #expect(source.records.map(\.text) == ["Big news"])
        #expect(source.records.map(\.label) == ["world"])
    }

    @Test func errorsNameTheLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let notJSON = try scratch.write("a.jsonl", "{\"text\": \"ok\", \"label\": \"a\"}\nnot json at all\n")
        expectFailure(notJSON, TextSourceOptions(), file: notJSON, line: 2, mentions: ["not a JSON object"])
        let array = try scratch.write("b.jsonl", "[\"text\", \"label\"]\n")
        expectFailure(array, TextSourceOptions(), file: array, line: 1, mentions: ["not a JSON object"])
        let numberText = try scratch.write("c.jsonl", "{\"text\": \"ok\", \"label\": \"a\"}\n{\"text\": 5, \"label\": \"a\"}\n")
        expectFailure(numberText, TextSourceOptions(), file: numberText, line: 2, mentions: ["\"text\"", "not a string"])
        let floatLabel = try scratch.write("d.jsonl", "{\"text\": \"ok\", \"label\": 1.5}\n")
        expectFailure(floatLabel, TextSourceOptions(), file: floatLabel, line: 1, mentions: ["neither a string nor an integer"])
        let boolLabel = try scratch.write("e.jsonl", "{\"text\": \"ok\", \"label\": true}\n")
        expectFailure(boolLabel, TextSourceOptions(), file: boolLabel, line: 1, mentions: ["neither a string nor an integer"])
        let missing = try scratch.write("f.jsonl", "{\"text\": \"ok\", \"label\": \"a\"}\n{\"text\": \"no label\"}\n")
        expectFailure(missing, TextSourceOptions(), file: missing, line: 2, mentions: ["--label-column", "\"text\""])
        let missingNamed = try scratch.write("g.jsonl", "{\"text\": \"ok\", \"label\": \"a\"}\n")
        expectFailure(missingNamed, options { $0.textColumns = ["body"] }, file: missingNamed, line: 1,
                      mentions: ["\"body\"", "--text-column"])
    }
}

// MARK: - Line formats: label-tab, TREC, fastText, class files

@Suite struct LineFormatTextSourceTests {
    @Test func labelTabSplitsAtTheFirstTab() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("SMS", "ham\thello\tthere\r\n../../etc\t \"quoted\" text \n")
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.format == .labelTab)
        #expect(source.records.map(\.text) == ["hello\tthere", "\"quoted\" text"])
        // A label is an opaque name, even one that looks like a path.
        #expect(source.records.map(\.label) == ["ham", "../../etc"])
    }

    @Test func labelTabLineWithoutTabIsAnError() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("SMS", "ham\thello\nspam no tab here\n")
        expectFailure(path, options(.labelTab), file: path, line: 2, mentions: ["no TAB"])
        let emptyText = try scratch.write("SMS2", "ham\thello\nspam\t  \n")
        expectFailure(emptyText, options(.labelTab), file: emptyText, line: 2, mentions: ["empty text"])
    }

    @Test func trecLabelsAndErrors() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("small.label", "NUM:date When was it ?\nLOC:city Where is it ?\n")
        let coarse = try readTextSource(at: path, options: TextSourceOptions())
        #expect(coarse.format == .trec)
        #expect(coarse.records.map(\.label) == ["NUM", "LOC"])
        #expect(coarse.records.map(\.text) == ["When was it ?", "Where is it ?"])
        let fine = try readTextSource(at: path, options: options { $0.labelLevel = .fine })
        #expect(fine.records.map(\.label) == ["NUM:date", "LOC:city"])

        let noColon = try scratch.write("bad.label", "NUM:date When ?\nLOCcity Where ?\n")
        expectFailure(noColon, TextSourceOptions(), file: noColon, line: 2, mentions: ["COARSE:fine"])
        let noText = try scratch.write("notext.label", "NUM:date\n")
        expectFailure(noText, TextSourceOptions(), file: noText, line: 1, mentions: ["empty text"])
    }

    @Test func fastTextLabelsAndErrors() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("train.txt", "__label__positive a fine film\n\n__label__negative\tdull\n")
        let source = try readTextSource(at: path, options: TextSourceOptions())
        #expect(source.format == .fasttext)
        #expect(source.records == [
            TextRecord(text: "a fine film", label: "positive", file: path, line: 1),
            TextRecord(text: "dull", label: "negative", file: path, line: 3),
        ])

        let multiLabel = try scratch.write("multi.ft", "__label__a one\n__label__a __label__b two\n")
        expectFailure(multiLabel, TextSourceOptions(), file: multiLabel, line: 2, mentions: ["more than one __label__"])
        let missing = try scratch.write("missing.fasttext", "__label__a one\nno prefix here\n")
        expectFailure(missing, TextSourceOptions(), file: missing, line: 2, mentions: ["__label__"])
        let emptyLabel = try scratch.write("empty.ft", "__label__ text\n")
        expectFailure(emptyLabel, TextSourceOptions(), file: emptyLabel, line: 1, mentions: ["empty label"])
    }

    @Test func classFilesGiveOneTextPerLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let good = try scratch.write("good.txt", "great\nlovely film \n\n")
        let bad = try scratch.write("bad.txt", "awful\r\n")
        let source = try readTextSource(at: nil, options: options {
            $0.classFiles = [ClassFile(label: "good", path: good), ClassFile(label: "bad", path: bad)]
        })
        #expect(source.format == .classFiles)
        #expect(source.files == [good, bad])
        #expect(source.records == [
            TextRecord(text: "great", label: "good", file: good, line: 1),
            TextRecord(text: "lovely film", label: "good", file: good, line: 2),
            TextRecord(text: "awful", label: "bad", file: bad, line: 1),
        ])

        let missing = scratch.folder.appendingPathComponent("absent.txt").path
        expectFailure(nil, options { $0.classFiles = [ClassFile(label: "x", path: missing)] }, file: missing, line: nil,
                      mentions: ["no such file or directory"])
        expectFailure(good, options { $0.classFiles = [ClassFile(label: "x", path: good)] }, file: good, line: nil,
                      mentions: ["both"])
        expectFailure(nil, options(.classFiles), file: nil, line: nil, mentions: ["--class-file"])
    }
}

// MARK: - Folder sources

@Suite struct FolderTextSourceTests {
    @Test func classFoldersSortedAndHiddenFilesIgnored() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("reviews/pos/b.txt", "second positive\r\nstill second\n")
        try scratch.write("reviews/pos/a.txt", "  first positive ")
        try scratch.write("reviews/pos/.hidden.txt", "ignored")
        try scratch.write("reviews/pos/notes.md", "ignored")
        try scratch.write("reviews/neg/only.txt", "negative")
        try scratch.write("reviews/.cache/x.txt", "ignored")
        try scratch.write("reviews/README.txt", "ignored: not in a class folder")
        let root = scratch.folder.appendingPathComponent("reviews").path

        #expect(try detectTextFormat(at: root) == .folder)
        let source = try readTextSource(at: root, options: TextSourceOptions())
        #expect(source.format == .folder)
        #expect(source.records.map(\.label) == ["neg", "pos", "pos"])
        #expect(source.records.map(\.text) == ["negative", "first positive", "second positive\nstill second"])
        #expect(source.records.allSatisfy { $0.line == 0 && $0.location == "" })
        #expect(source.files == ["\(root)/neg/only.txt", "\(root)/pos/a.txt", "\(root)/pos/b.txt"])
        #expect(source.records.map(\.file) == source.files)
    }

    @Test func emptyClassFolderAndNoClassFoldersAreErrors() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("data/pos/a.txt", "fine")
        let emptyClass = try scratch.makeFolder("data/neg")
        try scratch.write("data/neg/readme.md", "not a text")
        let root = scratch.folder.appendingPathComponent("data").path
        expectFailure(root, TextSourceOptions(), file: emptyClass, line: nil, mentions: ["\"neg\"", "no .txt"])

        let flat = try scratch.makeFolder("flat")
        try scratch.write("flat/a.txt", "no class folder")
        expectFailure(flat, TextSourceOptions(), file: flat, line: nil, mentions: ["no class folders"])

        let file = try scratch.write("file.csv", "text,label\na,b\n")
        expectFailure(file, options(.folder), file: file, line: nil, mentions: ["needs a folder"])
    }
}

// MARK: - Detection and paths

@Suite struct TextFormatDetectionTests {
    @Test func extensionsDecideFirst() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let expected: [(String, TextFormat)] = [
            ("a.csv", .csv), ("a.TSV", .tsv), ("a.jsonl", .jsonl), ("a.ndjson", .jsonl),
            ("a.label", .trec), ("a.ft", .fasttext), ("a.fasttext", .fasttext),
        ]
        for (name, format) in expected {
            // The content would sniff as label-tab: the extension must win.
            let path = try scratch.write(name, "x\ty\n")
            #expect(try detectTextFormat(at: path) == format, "\(name)")
        }
    }

    @Test func firstNonEmptyLineIsSniffed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let expected: [(String, TextFormat)] = [
            ("\n\n__label__a text\n", .fasttext),
            ("DESC:manner How did it go ?\n", .trec),
            ("  {\"text\": \"a\", \"label\": \"b\"}\n", .jsonl),
            ("ham\thello, there\n", .labelTab),
            ("text,label\nhello,a\n", .csv),
        ]
        for (index, (content, format)) in expected.enumerated() {
            let name = index.isMultiple(of: 2) ? "sniff\(index).txt" : "sniff\(index)"
            let path = try scratch.write(name, content)
            #expect(try detectTextFormat(at: path) == format, "\(content)")
        }
        // "Note: text" has no fine class before a space in TREC's sense; it has no tab or comma either.
        let unknown = try scratch.write("unknown.txt", "just some words\n")
        let error = #expect(throws: ReptileError.self) { try detectTextFormat(at: unknown) }
        #expect(error?.description.contains("--format") == true)
        #expect(error?.path == unknown)
        let empty = try scratch.write("empty.txt", "\n\n")
        #expect(throws: ReptileError.self) { try detectTextFormat(at: empty) }
    }

    @Test func missingPathIsNamed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let missing = scratch.folder.appendingPathComponent("nowhere.csv").path
        expectFailure(missing, TextSourceOptions(), file: missing, line: nil, mentions: ["no such file or directory"])
        expectFailure(missing, options(.csv), file: missing, line: nil, mentions: ["no such file or directory"])
        expectFailure(nil, TextSourceOptions(), file: nil, line: nil, mentions: ["no text source"])
    }

    @Test func recordLocation() {
        #expect(TextRecord(text: "a", label: "b", file: "f", line: 12).location == "line 12")
        #expect(TextRecord(text: "a", label: "b", file: "f", line: 0).location == "")
        #expect(TextFormat(rawValue: "label-tab") == .labelTab)
        #expect(TextFormat(rawValue: "class-files") == .classFiles)
    }
}
