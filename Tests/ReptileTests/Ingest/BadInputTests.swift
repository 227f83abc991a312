import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// Bad input, each through the real command line: one line naming the file (and record), exit
/// status 1, and no dataset folder or staging folder left behind.
@Suite struct BadInputTests {
    /// A bad-input case: makes its files in `source`, returns the ingest arguments and the words the error must hold.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var make: @Sendable (URL) throws -> (arguments: [String], mentions: [String])
        var description: String { name }
    }

    static func file(_ source: URL, _ name: String, _ text: String) throws -> String {
        let url = source.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    static func bytes(_ source: URL, _ name: String, _ bytes: [UInt8]) throws -> String {
        let url = source.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// A valid 8×8 gray PNG written by Reptile's own writer (Pillow compatibility is tested elsewhere).
    static func png(_ source: URL, _ name: String, width: Int = 8, height: Int = 8, value: UInt8 = 100) throws -> String {
        let url = source.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try PNGFile.write(PixelImage(width: width, height: height, channels: 1, pixels: [UInt8](repeating: value, count: width * height)), to: url.path)
        return url.path
    }

    static let images = IngestTesting.idxBytes(dimensions: [4, 2, 2], data: [UInt8](repeating: 7, count: 16))
    static let labels = IngestTesting.idxBytes(dimensions: [4], data: [0, 1, 0, 1])

    static let imageCases: [Case] = [
        Case(name: "truncated IDX") { source in
            let imagesPath = try bytes(source, "images.idx", Array(images.dropLast(5)))
            let labelsPath = try bytes(source, "labels.idx", labels)
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "truncated", "16 bytes", "11"])
        },
        Case(name: "IDX header larger than the file's data") { source in
            let imagesPath = try bytes(source, "images.idx", IngestTesting.idxBytes(dimensions: [5, 2, 2], data: [UInt8](repeating: 1, count: 16)))
            let labelsPath = try bytes(source, "labels.idx", labels)
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "5×2×2", "20 bytes"])
        },
        Case(name: "IDX with trailing data") { source in
            let imagesPath = try bytes(source, "images.idx", images + [1, 2, 3])
            let labelsPath = try bytes(source, "labels.idx", labels)
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "trailing"])
        },
        Case(name: "IDX counts of images and labels disagree") { source in
            let imagesPath = try bytes(source, "images.idx", images)
            let labelsPath = try bytes(source, "labels.idx", IngestTesting.idxBytes(dimensions: [3], data: [0, 1, 0]))
            return (["--images", imagesPath, "--labels", labelsPath], [labelsPath, "3 labels", "4 images"])
        },
        Case(name: "IDX header claiming billions of images") { source in
            let imagesPath = try bytes(source, "images.idx", IngestTesting.idxBytes(dimensions: [4_000_000_000, 28, 28], data: [UInt8](repeating: 0, count: 64)))
            let labelsPath = try bytes(source, "labels.idx", labels)
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "4000000000×28×28"])
        },
        Case(name: "gzipped IDX header claiming billions of images") { source in
            let raw = try bytes(source, "raw.idx", IngestTesting.idxBytes(dimensions: [4_000_000_000, 28, 28], data: [UInt8](repeating: 0, count: 64)))
            let imagesPath = source.appendingPathComponent("images.idx.gz").path
            try IngestTesting.gzip(URL(fileURLWithPath: raw), to: URL(fileURLWithPath: imagesPath))
            let labelsPath = try bytes(source, "labels.idx", labels)
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "more than", "gzip file can hold"])
        },
        Case(name: "labels file given as images") { source in
            let labelsPath = try bytes(source, "labels.idx", labels)
            return (["--images", labelsPath, "--labels", labelsPath], [labelsPath, "rank 1", "swapped"])
        },
        Case(name: "corrupt gzip") { source in
            let raw = try bytes(source, "raw.idx", IngestTesting.idxBytes(dimensions: [200, 8, 8], data: (0..<12800).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }))
            let gzipped = source.appendingPathComponent("good.gz")
            try IngestTesting.gzip(URL(fileURLWithPath: raw), to: gzipped)
            var data = [UInt8](try Data(contentsOf: gzipped))
            for index in 40..<min(data.count - 8, 90) { data[index] ^= 0x5A }
            let imagesPath = try bytes(source, "images.idx.gz", data)
            let labelsPath = try bytes(source, "labels.idx", IngestTesting.idxBytes(dimensions: [200], data: [UInt8](repeating: 1, count: 200)))
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "gzip"])
        },
        Case(name: "cut-short gzip") { source in
            let raw = try bytes(source, "raw.idx", IngestTesting.idxBytes(dimensions: [200, 8, 8], data: (0..<12800).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
            let gzipped = source.appendingPathComponent("good.gz")
            try IngestTesting.gzip(URL(fileURLWithPath: raw), to: gzipped)
            let data = [UInt8](try Data(contentsOf: gzipped))
            let imagesPath = try bytes(source, "images.idx.gz", Array(data.prefix(data.count / 2)))
            let labelsPath = try bytes(source, "labels.idx", IngestTesting.idxBytes(dimensions: [200], data: [UInt8](repeating: 1, count: 200)))
            return (["--images", imagesPath, "--labels", labelsPath], [imagesPath, "cut short"])
        },
        Case(name: "cut-short PNG") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            let good = try Data(contentsOf: URL(fileURLWithPath: try png(tree, "b/2.png")))
            let cut = try bytes(tree, "b/2.png", Array(good.prefix(good.count - 20)))
            return ([tree.path], [cut])
        },
        Case(name: "text file named .png") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            let fake = try file(tree, "b/2.png", "this is not an image\n")
            return ([tree.path], [fake, "PNG"])
        },
        Case(name: "mixed image sizes") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            let odd = try png(tree, "b/2.png", width: 9, height: 8)
            return ([tree.path], [odd, "9×8", "8×8", "--resize 8x8"])
        },
        Case(name: "empty class folder") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            try FileManager.default.createDirectory(at: tree.appendingPathComponent("c"), withIntermediateDirectories: true)
            return ([tree.path], [tree.appendingPathComponent("c").path, "no PNG"])
        },
        Case(name: "a single image class") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "only/1.png"); _ = try png(tree, "only/2.png")
            return ([tree.path], [tree.path, "single class", "\"only\""])
        },
        Case(name: "a file that is neither PNG nor JPEG in the tree") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            let gif = try file(tree, "b/2.gif", "not really")
            return ([tree.path], [gif, "not a .png"])
        },
        Case(name: "a missing source") { source in
            let missing = source.appendingPathComponent("nowhere").path
            return ([missing], [missing, "no such"])
        },
        Case(name: "per-class larger than a class") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "a/2.png"); _ = try png(tree, "b/1.png"); _ = try png(tree, "b/2.png")
            return ([tree.path, "--per-class", "5", "--test-fraction", "0"], ["\"a\"", "only 2", "--per-class 5"])
        },
        Case(name: "a test tree with a class the training tree lacks") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            let test = source.appendingPathComponent("test")
            _ = try png(test, "a/1.png"); _ = try png(test, "zebra/1.png")
            return ([tree.path, "--test", test.path], [test.appendingPathComponent("zebra/1.png").path, "\"zebra\"", "does not occur"])
        },
        Case(name: "a name that is a path") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try png(tree, "a/1.png"); _ = try png(tree, "b/1.png")
            return ([tree.path, "--name", "../escape"], ["\"../escape\"", "not a name"])
        },
    ]

    static let textCases: [Case] = [
        Case(name: "CSV without the label column") { source in
            let path = try file(source, "a.csv", "text,category\nhello,x\nbye,y\n")
            return ([path], [path, "no column named \"label\"", "--label-column", "category"])
        },
        Case(name: "unclosed quote") { source in
            let path = try file(source, "a.csv", "text,label\nhello,x\n\"never closed,y\nmore,z\n")
            return ([path], [path, "line 3", "quote"])
        },
        Case(name: "empty label") { source in
            let path = try file(source, "a.csv", "text,label\nhello,x\nbye,\n")
            return ([path], [path, "line 3", "label"])
        },
        Case(name: "header-only CSV") { source in
            let path = try file(source, "a.csv", "text,label\n")
            return ([path], [path, "no records"])
        },
        Case(name: "invalid UTF-8") { source in
            let path = try bytes(source, "a.tsv", Array("sentence\tlabel\ngood\t1\nbad \u{0}".utf8.prefix(22)) + [0xC3, 0x28] + Array(" byte\t0\n".utf8))
            return ([path], [path, "line 3", "UTF-8", "--encoding latin1"])
        },
        Case(name: "JSONL line that is not JSON") { source in
            let path = try file(source, "a.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"y\"}\nnot json at all\n")
            return ([path], [path, "line 3", "JSON"])
        },
        Case(name: "JSONL text that is not a string") { source in
            let path = try file(source, "a.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": 42, \"label\": \"y\"}\n")
            return ([path], [path, "line 2", "text"])
        },
        Case(name: "NUL bytes") { source in
            let path = try bytes(source, "a.tsv", Array("sentence\tlabel\ngood\t1\nnul".utf8) + [0] + Array("here\t0\n".utf8))
            return ([path], [path, "line 3", "NUL"])
        },
        Case(name: "a single text class") { source in
            let path = try file(source, "a.csv", "text,label\nhello,x\nbye,x\n")
            return ([path], [path, "single class"])
        },
        Case(name: "a missing text source") { source in
            let missing = source.appendingPathComponent("missing.csv").path
            return ([missing], [missing])
        },
        Case(name: "no source at all") { _ in
            ([], ["no source", "--class-file"])
        },
    ]

    static func runCase(_ testCase: Case, kind: String) throws {
        let source = try Support.makeTemporaryFolder("bad-source")
        let parent = try Support.makeTemporaryFolder("bad-output")
        defer { Support.remove(source); Support.remove(parent) }
        let (arguments, mentions) = try testCase.make(source)
        let name = arguments.contains("--name") ? [] : ["--name", "bad"]
        let sourceBefore = try FileManager.default.subpathsOfDirectory(atPath: source.path).sorted()
        let result = try IngestTesting.ingest(["ingest", kind] + arguments + name, parent: parent)
        try IngestTesting.expectCleanFailure(result, parent: parent, mentions: mentions)
        // The user's files are untouched.
        #expect(try FileManager.default.subpathsOfDirectory(atPath: source.path).sorted() == sourceBefore)
    }

    @Test(arguments: imageCases) func badImageInputFailsCleanly(_ testCase: Case) throws {
        try Self.runCase(testCase, kind: "image")
    }

    @Test(arguments: textCases) func badTextInputFailsCleanly(_ testCase: Case) throws {
        try Self.runCase(testCase, kind: "text")
    }

    @Test func anExistingTextDatasetIsNotOverwritten() throws {
        let source = try Support.makeTemporaryFolder("exists-source")
        let parent = try Support.makeTemporaryFolder("exists-output")
        defer { Support.remove(source); Support.remove(parent) }
        let path = try Self.file(source, "a.csv", "text,label\nhello,x\nbye,y\n")
        try FileManager.default.createDirectory(at: parent.appendingPathComponent("taken"), withIntermediateDirectories: true)
        let marker = try Self.file(parent, "taken/keep.txt", "precious")
        let result = try IngestTesting.ingest(["ingest", "text", path, "--name", "taken"], parent: parent)
        #expect(result.status == 1)
        #expect(result.standardError.contains("already exists") && result.standardError.contains("--force"))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "precious")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["taken"])
    }

    @Test func inspectAndExportRejectWhatIsNotADataset() throws {
        let folder = try Support.makeTemporaryFolder("not-dataset")
        defer { Support.remove(folder) }
        let inspect = try Support.reptile(["inspect", folder.path])
        #expect(inspect.status == 1)
        #expect(inspect.standardError.contains(folder.path) && inspect.standardError.contains("dataset_info.json"))
        let fake = try Self.file(folder, "fake.h5", "not hdf5")
        let inspectShard = try Support.reptile(["inspect", fake])
        #expect(inspectShard.status == 1)
        #expect(inspectShard.standardError.contains(fake) && inspectShard.standardError.contains("not an HDF5 file"))
        let export = try Support.reptile(["export", "png", folder.path, "--out", folder.appendingPathComponent("out").path])
        #expect(export.status == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("out").path))
    }
}
