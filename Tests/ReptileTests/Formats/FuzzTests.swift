import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats
@testable import ReptileIngest

/// Issue 21's fuzz targets: seeded random mutations of small valid inputs for each raw parser
/// (IDX, PNG, CSV/TSV, JSONL) and the shard reader. In process, many mutations: no crash, and
/// every failure is a ReptileError (the one-line kind). Through the binary, fewer: exit 0 or 1
/// only, and nothing left in the output folder but a whole dataset. Same seed, same inputs.
/// Counts: 400 mutations per raw parser in process, 12 per parser through the binary, 200 per
/// shard kind through the binary.
@Suite struct FuzzTests {
    static let inProcessIterations = 400
    static let binaryIterations = 12
    static let shardIterations = 200

    /// Random byte-level damage: flipped bits, boundary bytes, cut, repeated or inserted runs.
    static func mutate(_ input: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0...random.nextIndex(below: 4) {
            guard !bytes.isEmpty else { return [UInt8(truncatingIfNeeded: random.next())] }
            let at = random.nextIndex(below: bytes.count)
            switch random.nextIndex(below: 7) {
            case 0: bytes[at] ^= UInt8(1 << random.nextIndex(below: 8))
            case 1: bytes[at] = [0x00, 0xFF, 0x7F, 0x80, 0x22, 0x0A, 0x2C][random.nextIndex(below: 7)]
            case 2: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            case 3: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.nextIndex(below: 16)))
            case 4: bytes = Array(bytes.prefix(at))
            case 5: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 1 + random.nextIndex(below: 16))], at: at)
            default: bytes.insert(contentsOf: (0..<(1 + random.nextIndex(below: 8))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
            }
        }
        return bytes
    }

    /// Runs `body` on `iterations` mutations of `seed` written to `name` in a scratch folder; any
    /// error must be a ReptileError.
    static func fuzzInProcess(_ label: String, seed: [UInt8], name: String, iterations: Int = inProcessIterations,
                              _ body: (String) throws -> Void) throws {
        let folder = try Support.makeTemporaryFolder("fuzz-\(label)")
        defer { Support.remove(folder) }
        var random = SeededRandom(seed: 21).derived(label)
        let path = folder.appendingPathComponent(name).path
        var failures = 0
        for iteration in 0..<iterations {
            let bytes = mutate(seed, &random)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                try body(path)
            } catch is ReptileError {
                failures += 1
            } catch {
                Issue.record("\(label) mutation \(iteration): not a ReptileError: \(error)")
            }
        }
        // The mutations must reach the parser's checks, not all be refused at the door or all pass.
        #expect(failures > 0 && failures < iterations, "\(label): \(failures) of \(iterations) refused")
    }

    static var idxImages: [UInt8] { IngestTesting.idxBytes(dimensions: [4, 3, 3], data: (0..<36).map { UInt8($0 * 7 % 256) }) }
    static var idxLabels: [UInt8] { IngestTesting.idxBytes(dimensions: [4], data: [0, 1, 0, 1]) }
    static var png: [UInt8] {
        (try? PNGFile.encode(PixelImage(width: 6, height: 5, channels: 3, pixels: (0..<90).map { UInt8($0 * 3 % 256) }))) ?? []
    }
    static let csv = Array("text,label\nhello world,pos\n\"quoted, with \"\"quotes\"\"\",neg\nplain again,pos\nlast one,neg\n".utf8)
    static let tsv = Array("sentence\tlabel\nhello world\t1\n\"quoted\ttab\"\t0\nplain again\t1\nlast one\t0\n".utf8)
    static let jsonl = Array("{\"text\": \"hello world\", \"label\": \"pos\"}\n{\"text\": \"caf\\u00e9 \\\"q\\\"\", \"label\": \"neg\"}\n{\"text\": \"plain\", \"label\": \"pos\"}\n".utf8)

    @Test func idxParserSurvivesMutations() throws {
        try Self.fuzzInProcess("idx-images", seed: Self.idxImages, name: "images.idx") { _ = try IDXFile.readImages(at: $0) }
        try Self.fuzzInProcess("idx-labels", seed: Self.idxLabels, name: "labels.idx") { _ = try IDXFile.readLabels(at: $0) }
    }

    @Test func pngParserSurvivesMutations() throws {
        try #require(!Self.png.isEmpty)
        try Self.fuzzInProcess("png", seed: Self.png, name: "image.png") { path in
            _ = try PNGFile.readHeader(at: path)
            _ = try PNGFile.read(at: path, channels: nil)
        }
    }

    @Test(arguments: ["csv", "tsv", "jsonl"]) func textParsersSurviveMutations(_ format: String) throws {
        let seed = format == "csv" ? Self.csv : format == "tsv" ? Self.tsv : Self.jsonl
        var options = TextSourceOptions()
        options.format = TextFormat(rawValue: format)
        try Self.fuzzInProcess(format, seed: seed, name: "source.\(format)") { _ = try readTextSource(at: $0, options: options) }
    }

    /// A small valid shard (3 classes, 6 texts or 6 images of 4×4×1).
    static func shardBytes(kind: DatasetKind, in folder: URL) throws -> [UInt8] {
        let path = folder.appendingPathComponent("seed-\(kind.rawValue).h5").path
        let metadata = ShardMetadata(kind: kind, split: "train", classNames: ["a", "b", "c"], seed: 1, configSHA256: "x", created: "1970-01-01T00:00:00Z")
        let writer = try ShardWriter(path: path, metadata: metadata, count: 6, imageShape: kind == .image ? ImageShape(height: 4, width: 4, channels: 1) : nil)
        if kind == .image {
            try writer.appendImages((0..<96).map { UInt8($0) }, labels: [0, 1, 2, 0, 1, 2])
        } else {
            try writer.appendTexts(["one", "two", "three", "four", "five", "six"], labels: [0, 1, 2, 0, 1, 2])
        }
        _ = try writer.finish()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The shard reader goes through the HDF5 C library, so it is fuzzed in a child process:
    /// `inspect` of mutated image and text shards, under a 4 GB address-space limit (a damaged
    /// length must fail an allocation, not exhaust the machine) and a 20 s limit. Reptile checks
    /// the global heap before HDF5 1.10.8 (Debian 12) reads it (it crashed or looped on about 1
    /// mutation in 60 without that check); a crash or hang inside HDF5 that remains is recorded
    /// as a known issue, and a refusal must still be one line.
    @Test(arguments: [DatasetKind.image, .text]) func shardReaderSurvivesMutations(_ kind: DatasetKind) throws {
        let folder = try Support.makeTemporaryFolder("fuzz-shard-\(kind.rawValue)")
        defer { Support.remove(folder) }
        let seed = try Self.shardBytes(kind: kind, in: folder)
        var random = SeededRandom(seed: 21).derived("shard-\(kind.rawValue)")
        let path = folder.appendingPathComponent("train-00000-of-00001.h5").path
        var statuses: [Int32: Int] = [:]
        for iteration in 0..<Self.shardIterations {
            try Data(Self.mutate(seed, &random)).write(to: URL(fileURLWithPath: path))
            let result = try Support.run(URL(fileURLWithPath: "/bin/bash"), ["-c", "ulimit -v 4000000; exec timeout -s KILL 20 \"$0\" inspect \"$1\"",
                                                                            Support.reptileExecutable.path, path])
            statuses[result.status, default: 0] += 1
            if result.status == 1 {
                #expect(result.standardError.hasPrefix("reptile: error: ") && result.standardError.split(separator: "\n").count == 1,
                        "mutation \(iteration): \(result.standardError.prefix(300))")
            } else if result.status != 0 {
                withKnownIssue("HDF5 1.10.8 crashes or loops on some damaged variable-length strings", isIntermittent: true) {
                    Issue.record("mutation \(iteration): exit \(result.status): \(result.standardError.prefix(200))")
                }
            }
        }
        #expect((statuses[0] ?? 0) > 0 && (statuses[1] ?? 0) > 0, "exit statuses: \(statuses)")
    }

    /// The raw parsers through the binary: `ingest` of mutated IDX, PNG, CSV, TSV and JSONL files.
    /// Exit 0 or 1, and the output folder holds a whole dataset or nothing.
    @Test func theBinaryExitsZeroOrOneOnMutatedInputs() throws {
        let work = try Support.makeTemporaryFolder("fuzz-binary")
        defer { Support.remove(work) }
        var random = SeededRandom(seed: 21).derived("binary")
        let targets: [(name: String, seed: [UInt8], file: String)] = [
            ("idx", Self.idxImages, "images.idx"), ("png", Self.png, "b/x.png"), ("csv", Self.csv, "s.csv"),
            ("tsv", Self.tsv, "s.tsv"), ("jsonl", Self.jsonl, "s.jsonl"),
        ]
        for target in targets {
            for iteration in 0..<Self.binaryIterations {
                let source = work.appendingPathComponent("source-\(target.name)-\(iteration)")
                let output = work.appendingPathComponent("out-\(target.name)-\(iteration)")
                try FileManager.default.createDirectory(at: source.appendingPathComponent("b"), withIntermediateDirectories: true)
                try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
                let file = source.appendingPathComponent(target.file)
                try Data(Self.mutate(target.seed, &random)).write(to: file)
                let arguments: [String]
                switch target.name {
                case "idx":
                    try Data(Self.idxLabels).write(to: source.appendingPathComponent("labels.idx"))
                    arguments = ["ingest", "image", "--images", file.path, "--labels", source.appendingPathComponent("labels.idx").path,
                                 "--test-fraction", "0", "--name", "d", "--out", output.path]
                case "png":
                    try FileManager.default.createDirectory(at: source.appendingPathComponent("a"), withIntermediateDirectories: true)
                    try Data(Self.png).write(to: source.appendingPathComponent("a/y.png"))
                    arguments = ["ingest", "image", source.path, "--test-fraction", "0", "--name", "d", "--out", output.path]
                default: arguments = ["ingest", "text", file.path, "--test-fraction", "0", "--name", "d", "--out", output.path]
                }
                let result = try Support.reptile(arguments)
                #expect(result.status == 0 || result.status == 1, "\(target.name) \(iteration): exit \(result.status): \(result.standardError.prefix(300))")
                if result.status == 1 {
                    #expect(result.standardError.hasPrefix("reptile: error: ") && result.standardError.split(separator: "\n").count == 1,
                            "\(target.name) \(iteration): \(result.standardError.prefix(300))")
                }
                let left = try FileManager.default.contentsOfDirectory(atPath: output.path)
                #expect(left == (result.status == 0 ? ["d"] : []), "\(target.name) \(iteration): left \(left)")
                Support.remove(source)
                Support.remove(output)
            }
        }
    }
}
