import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// Issue 21, items 3–6 and 8: a hostile or inconsistent dataset (crafted with h5py) is refused
/// when it is opened, with one line and exit 1, by `inspect`, `export` and `train`; nothing is
/// read from outside the dataset folder and nothing is left behind.
@Suite struct HardeningDatasetTests {
    /// A tampering: a python3 script run as `script DATASET OUTSIDE`, and words the error must hold.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var kind: String = "image"
        var script: String
        var mentions: [String]
        var description: String { name }
    }

    /// A pristine image dataset (30 MNIST digits in two train shards) and text dataset (TREC), made
    /// once; every case works on its own copy.
    static let pristine: (image: URL, text: URL) = {
        // Under .build, made again by each test run (a static fixture has no teardown to remove it from /tmp).
        let parent = Support.packageRoot.appendingPathComponent(".build/test-fixtures/hardening-pristine")
        try? FileManager.default.removeItem(at: parent)
        try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        _ = try? Support.reptile(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--per-class", "3",
                                  "--test-fraction", "0", "--shard-size", "16", "--out", parent.path])
        _ = try? Support.reptile(["ingest", "text", Support.sharedDataset("trec/TREC_10.label"), "--name", "t",
                                  "--shard-size", "200", "--out", parent.path])
        return (parent.appendingPathComponent("m"), parent.appendingPathComponent("t"))
    }()

    static let prelude = """
        import h5py, json, sys, os, shutil, numpy as np
        d, outside = sys.argv[1], sys.argv[2]
        info_path = os.path.join(d, "dataset_info.json")
        info = json.load(open(info_path))
        def save_info(): json.dump(info, open(info_path, "w"))
        def shard(i=0, split="train"): return os.path.join(d, info["splits"][split]["shards"][i]["file"])
        def rewrite(path, make):
            # A copy of the shard's attributes and labels, with `make(f, old)` writing the rest.
            with h5py.File(path, "r") as old:
                attrs = dict(old.attrs); labels = old["labels"][:]
                with h5py.File(path + ".new", "w") as f:
                    for k, v in attrs.items(): f.attrs[k] = v
                    f["labels"] = labels
                    make(f, old)
            os.replace(path + ".new", path)
        secret = os.path.join(outside, "secret.bin")
        open(secret, "wb").write(bytes(range(256)) * 100)

        """

    static let cases: [Case] = [
        Case(name: "external raw storage", script: """
            rewrite(shard(), lambda f, old: f.create_dataset("images", shape=old["images"].shape, dtype="u1",
                    external=[(secret, 0, int(np.prod(old["images"].shape)))]))
            """, mentions: ["images", "outside this file"]),
        Case(name: "external link", script: """
            other = os.path.join(outside, "other.h5")
            with h5py.File(shard(), "r") as old, h5py.File(other, "w") as o: o["images"] = old["images"][:]
            rewrite(shard(), lambda f, old: f.__setitem__("images", h5py.ExternalLink(other, "/images")))
            """, mentions: ["images", "external link"]),
        Case(name: "soft link", script: """
            def make(f, old):
                f["hidden"] = old["images"][:]
                f["images"] = h5py.SoftLink("/hidden")
            rewrite(shard(), make)
            """, mentions: ["images", "soft or external link"]),
        Case(name: "virtual dataset", script: """
            other = os.path.join(outside, "other.h5")
            with h5py.File(shard(), "r") as old, h5py.File(other, "w") as o: o["images"] = old["images"][:]
            def make(f, old):
                layout = h5py.VirtualLayout(shape=old["images"].shape, dtype="u1")
                layout[:] = h5py.VirtualSource(other, "images", shape=old["images"].shape)
                f.create_virtual_dataset("images", layout)
            rewrite(shard(), make)
            """, mentions: ["images", "outside this file"]),
        Case(name: "shard file name leaving the folder", script: """
            info["splits"]["train"]["shards"][0]["file"] = "../../../../../../../../etc/passwd"
            save_info()
            """, mentions: ["dataset_info.json", "etc/passwd", "leaves the dataset folder"]),
        Case(name: "shard that is a symbolic link out of the folder", script: """
            shutil.copy(shard(), os.path.join(outside, "copy.h5"))
            os.remove(shard()); os.symlink(os.path.join(outside, "copy.h5"), shard())
            """, mentions: ["dataset_info.json", "leaves the dataset folder"]),
        Case(name: "shards of one split with different image sizes", script: """
            rewrite(shard(1), lambda f, old: f.create_dataset("images", data=np.zeros((old["images"].shape[0], 14, 14, 1), "u1")))
            """, mentions: ["train-00001", "14×14×1", "28×28×1"]),
        Case(name: "a text shard in an image split", script: """
            t = os.path.join(os.path.dirname(d), "t")
            tinfo = json.load(open(os.path.join(t, "dataset_info.json")))
            shutil.copy(os.path.join(t, tinfo["splits"]["train"]["shards"][0]["file"]), shard(1))
            """, mentions: ["train-00001", "texts", "images"]),
        Case(name: "dataset_info.json kind differs from the shards", script: """
            info["kind"] = "text"; save_info()
            """, mentions: ["train-00000", "images", "texts"]),
        Case(name: "10¹² records claimed by dataset_info.json", script: """
            info["splits"]["train"]["count"] = 10**12; info["splits"]["train"]["class_counts"][0] += 10**12 - 30
            info["splits"]["train"]["shards"][0]["count"] += 10**12 - 30; save_info()
            """, mentions: ["train-00000", "records", "999999999986"]),
        Case(name: "a small shard declaring 10¹² rows", script: """
            def make(f, old):
                f.create_dataset("images", shape=(10**12, 28, 28, 1), dtype="u1", chunks=(1, 28, 28, 1))
                del f["labels"]; f.create_dataset("labels", shape=(10**12,), dtype="i8", chunks=(1024,))
            rewrite(shard(), make)
            info["splits"]["train"]["count"] = 10**12 + 14; info["splits"]["train"]["class_counts"][0] += 10**12 - 16
            info["splits"]["train"]["shards"][0]["count"] = 10**12; save_info()
            """, mentions: ["train-00000", "declares shape"]),
        Case(name: "a 100000×100000×3 image shape", script: """
            info["image_shape"] = {"height": 100000, "width": 100000, "channels": 3}; save_info()
            """, mentions: ["dataset_info.json", "100000×100000×3"]),
        Case(name: "int8 images", script: """
            rewrite(shard(), lambda f, old: f.create_dataset("images", data=old["images"][:].astype("i1")))
            """, mentions: ["train-00000", "int8", "uint8"]),
        Case(name: "duplicate class names", script: """
            info["class_names"][1] = info["class_names"][0]; save_info()
            """, mentions: ["dataset_info.json", "listed twice"]),
        Case(name: "per-class counts that do not add up", script: """
            info["splits"]["train"]["class_counts"][0] += 5; save_info()
            """, mentions: ["dataset_info.json", "do not add up"]),
        Case(name: "a global heap collection larger than the file", script: """
            data = bytearray(open(shard(), "rb").read()); at = data.index(b"GCOL")
            data[at + 8:at + 16] = (10**9).to_bytes(8, "little"); open(shard(), "wb").write(data)
            """, mentions: ["train-00000", "damaged global heap"]),
        Case(name: "labels stored as floats", script: """
            def make(f, old):
                del f["labels"]; f["labels"] = np.zeros(old["labels"].shape[0], "f4"); f["images"] = old["images"][:]
            rewrite(shard(), make)
            """, mentions: ["train-00000", "labels"]),
    ]

    /// The dataset as `inspect`, `export png` and `train image` see it: each refuses with one line
    /// and exit 1 (`inspect` naming what the case says), and leaves no output.
    @Test(arguments: cases) func aHostileDatasetIsRefusedWhenOpened(_ testCase: Case) throws {
        let work = try Support.makeTemporaryFolder("hostile")
        defer { Support.remove(work) }
        let dataset = work.appendingPathComponent("m")
        try FileManager.default.copyItem(at: Self.pristine.image, to: dataset)
        try FileManager.default.copyItem(at: Self.pristine.text, to: work.appendingPathComponent("t"))
        let outside = work.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: false)
        let crafted = try Support.python(Self.prelude + testCase.script, arguments: [dataset.path, outside.path])
        try #require(crafted.status == 0, "python3: \(crafted.standardError)")
        let outputs = try Support.makeTemporaryFolder("hostile-out")
        defer { Support.remove(outputs) }
        let commands = [["inspect", dataset.path],
                        ["export", "png", dataset.path, "--out", outputs.appendingPathComponent("png").path],
                        ["train", "image", "--dataset", dataset.path, "--out", outputs.appendingPathComponent("run").path, "--epochs", "1"]]
        for command in commands {
            let result = try Support.reptile(command)
            #expect(result.status == 1, "\(command[0]): exit \(result.status): \(result.standardError)")
            let lines = result.standardError.split(separator: "\n")
            #expect(lines.count == 1 && result.standardError.hasPrefix("reptile: error: "), "\(command[0]): \(result.standardError)")
            // `inspect` names the cause; export and train may first refuse the dataset's kind.
            for word in testCase.mentions where command[0] == "inspect" {
                #expect(result.standardError.contains(word), "\(command[0]) should mention \(word): \(result.standardError)")
            }
            #expect(!result.standardError.contains("HDF5-DIAG"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outputs.path).isEmpty)
    }

    /// Texts stored as fixed-length strings (numpy `S` arrays) are valid data: read, not called damaged.
    @Test func fixedLengthStringsAreRead() throws {
        let work = try Support.makeTemporaryFolder("fixed-strings")
        defer { Support.remove(work) }
        let dataset = work.appendingPathComponent("t")
        try FileManager.default.copyItem(at: Self.pristine.text, to: dataset)
        let crafted = try Support.python(Self.prelude + """
            def make(f, old):
                f.create_dataset("texts", data=np.array([t.encode() for t in old["texts"].asstr()[:]], dtype="S200"))
                f["source_index"] = old["source_index"][:]
            rewrite(shard(), make)
            """, arguments: [dataset.path, work.path])
        try #require(crafted.status == 0, "python3: \(crafted.standardError)")
        let out = work.appendingPathComponent("t.jsonl").path
        let export = try Support.reptile(["export", "jsonl", dataset.path, "--out", out])
        #expect(export.status == 0, "\(export.standardError)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 400 && lines.allSatisfy { !$0.contains("\\u0000") })
    }

    /// `inspect` compares the per-class counts with the labels it reads; `--verify` checks every shard's sha256.
    @Test func inspectChecksCountsAndVerifiesChecksums() throws {
        let work = try Support.makeTemporaryFolder("verify")
        defer { Support.remove(work) }
        let dataset = work.appendingPathComponent("m")
        try FileManager.default.copyItem(at: Self.pristine.image, to: dataset)
        let clean = try Support.reptile(["inspect", dataset.path, "--verify"])
        #expect(clean.status == 0 && clean.standardOutput.contains("verified: the sha256 of all 2 shards"), "\(clean.standardError)")

        // A changed attribute: the counts still hold, the checksum does not.
        try #require(try Support.python(Self.prelude + """
            with h5py.File(shard(1), "a") as f: f.attrs["created"] = "tampered"
            """, arguments: [dataset.path, work.path]).status == 0)
        #expect(try Support.reptile(["inspect", dataset.path]).status == 0)
        let verify = try Support.reptile(["inspect", dataset.path, "--verify"])
        #expect(verify.status == 1 && verify.standardError.contains("train-00001") && verify.standardError.contains("sha256"), "\(verify.standardError)")

        // A changed label: dataset_info.json's per-class counts no longer match the shards.
        try #require(try Support.python(Self.prelude + """
            with h5py.File(shard(0), "a") as f: f["labels"][0] = (f["labels"][0] + 1) % 10
            """, arguments: [dataset.path, work.path]).status == 0)
        let counts = try Support.reptile(["inspect", dataset.path])
        #expect(counts.status == 1 && counts.standardError.contains("per-class counts"), "\(counts.standardError)")
    }

    /// Thousands of source files (an ImageFolder source) are summarised on the `source:` line.
    @Test func inspectSummarisesManySourcePaths() throws {
        let work = try Support.makeTemporaryFolder("sources")
        defer { Support.remove(work) }
        let dataset = work.appendingPathComponent("m")
        try FileManager.default.copyItem(at: Self.pristine.image, to: dataset)
        try #require(try Support.python(Self.prelude + """
            f = info["source"]["files"][0]
            info["source"]["files"] = [dict(f, path="/data/digits/%d/%05d.png" % (i % 10, i)) for i in range(2000)]
            save_info()
            """, arguments: [dataset.path, work.path]).status == 0)
        let result = try Support.reptile(["inspect", dataset.path])
        #expect(result.status == 0, "\(result.standardError)")
        let line = try #require(result.standardOutput.split(separator: "\n").first { $0.hasPrefix("source:") })
        #expect(line.contains("2000 files under /data/digits/") && line.count < 120, "\(line.prefix(200))")
    }

    @Test func anEmptyImageIsNamedAsSuchNotAsAFolderProblem() throws {
        let folder = try Support.makeTemporaryFolder("empty-png")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("x.png").path
        do {
            try PNGFile.write(PixelImage(width: 0, height: 0, channels: 1, pixels: []), to: path)
            Issue.record("a 0×0 image was written")
        } catch let error as ReptileError {
            #expect(error.description.contains("0×0") && !error.description.contains("writable"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
