import Foundation
import Testing
@testable import ReptileFormats

/// Helpers for the ingest tests: run `reptile` into a scratch parent folder and check what it left.
enum IngestTesting {
    /// `reptile ARGS --out PARENT`, with a fixed creation time so that files are comparable.
    static func ingest(_ arguments: [String], parent: URL, environment: [String: String] = [:]) throws -> Support.Result {
        var environment = environment
        environment["SOURCE_DATE_EPOCH"] = environment["SOURCE_DATE_EPOCH"] ?? "1700000000"
        return try Support.reptile(arguments + ["--out", parent.path], environment: environment)
    }

    /// A failed command must print exactly one line naming what it should, exit 1, and leave the
    /// output parent folder exactly as it was (no dataset, no staging folder).
    static func expectCleanFailure(_ result: Support.Result, parent: URL, mentions: [String],
                                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 1, "exit status \(result.status); stderr: \(result.standardError)", sourceLocation: sourceLocation)
        let lines = result.standardError.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "expected one error line, got: \(result.standardError)", sourceLocation: sourceLocation)
        #expect(result.standardError.hasPrefix("reptile: error: "), "\(result.standardError)", sourceLocation: sourceLocation)
        for word in mentions {
            #expect(result.standardError.contains(word), "error should mention \(word): \(result.standardError)", sourceLocation: sourceLocation)
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        #expect(leftovers.isEmpty, "left behind in the output folder: \(leftovers)", sourceLocation: sourceLocation)
    }

    /// Every shard of a split read back: (labels, images or texts, source indices).
    static func readSplit(_ dataset: URL, _ split: String) throws -> (labels: [Int64], images: [UInt8], texts: [String], sourceIndices: [Int64]) {
        let folder = try DatasetFolder(path: dataset.path)
        var labels: [Int64] = [], images: [UInt8] = [], texts: [String] = [], sourceIndices: [Int64] = []
        for shard in try folder.shards(of: split) {
            labels += try shard.labels()
            sourceIndices += try shard.integerColumn("source_index")
            if shard.imageShape != nil { images += try shard.images(0..<shard.count) } else { texts += try shard.texts(0..<shard.count) }
        }
        return (labels, images, texts, sourceIndices)
    }

    /// Big-endian IDX bytes: magic (0, 0, 8, rank), dimensions, data.
    static func idxBytes(dimensions: [UInt32], data: [UInt8], rank: UInt8? = nil) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 8, rank ?? UInt8(dimensions.count)]
        for dimension in dimensions { bytes += withUnsafeBytes(of: dimension.bigEndian, Array.init) }
        return bytes + data
    }

    static func write(_ bytes: [UInt8], to url: URL) throws {
        try Data(bytes).write(to: url)
    }

    /// gzip through python3's gzip module (a real, independent writer).
    static func gzip(_ source: URL, to destination: URL) throws {
        let result = try Support.python("import gzip, shutil, sys\nwith open(sys.argv[1], 'rb') as f, gzip.open(sys.argv[2], 'wb') as g: shutil.copyfileobj(f, g)",
                                        arguments: [source.path, destination.path])
        try #require(result.status == 0, "\(result.standardError)")
    }
}
