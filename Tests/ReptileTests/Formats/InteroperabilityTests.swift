import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// What users will do with our files: open shards with h5py and h5dump, exported PNGs with Pillow,
/// and ingest PNG trees that Pillow wrote.
@Suite struct InteroperabilityTests {
    static func pythonVerdict(_ script: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try Support.python(script, arguments: arguments)
        #expect(result.status == 0, "python3 failed: \(result.standardError)", sourceLocation: sourceLocation)
        #expect(result.standardOutput.contains("OK"), "python3 said: \(result.standardOutput) \(result.standardError)", sourceLocation: sourceLocation)
    }

    /// h5py sees the documented names, dtypes, shapes, chunking, filters and attributes, and the
    /// same values Swift reads.
    static let h5pyContractScript = #"""
    import h5py, json, sys, numpy as np
    path, kind, expected_json = sys.argv[1], sys.argv[2], sys.argv[3]
    expected = json.loads(expected_json)
    with h5py.File(path, "r") as f:
        a = f.attrs
        for key in ["schema_version", "kind", "split", "class_names", "seed", "config_sha256", "tool_version", "created"]:
            assert key in a, f"missing attribute {key}"
        assert a["schema_version"] == 1
        assert a["kind"] == kind, a["kind"]
        assert json.loads(a["class_names"]) == expected["class_names"]
        labels = f["labels"]
        assert labels.dtype == np.int64 and labels.ndim == 1
        assert labels[:].tolist() == expected["labels"]
        if kind == "image":
            images = f["images"]
            assert images.dtype == np.uint8 and images.ndim == 4, (images.dtype, images.shape)
            assert list(images.shape[1:]) == expected["shape"]
            assert images.compression == "gzip" and images.compression_opts == 4 and images.shuffle
            chunk_bytes = int(np.prod(images.chunks))
            assert chunk_bytes <= 1 << 20, images.chunks
            assert int(images[:].astype(np.int64).sum()) == expected["pixel_sum"]
            assert images[:].reshape(len(labels), -1)[0].tolist() == expected["first_image"]
        else:
            texts = f["texts"]
            assert h5py.check_string_dtype(texts.dtype).encoding == "utf-8"
            assert texts.ndim == 1
            assert texts.asstr()[:].tolist() == expected["texts"]
    print("OK")
    """#

    @Test func h5pyAndH5dumpReadImageShards() throws {
        let parent = try Support.makeTemporaryFolder("interop-image")
        defer { Support.remove(parent) }
        let result = try IngestTesting.ingest(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--per-class", "30", "--val-fraction", "0.1"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let folder = try DatasetFolder(path: parent.appendingPathComponent("m").path)
        for split in ["train", "val", "test"] {
            for shard in try folder.shards(of: split) {
                let images = try shard.images(0..<shard.count)
                let expected: JSONValue = [
                    "class_names": .array(shard.classNames.map { .string($0) }),
                    "labels": .array(try shard.labels().map { .integer($0) }),
                    "shape": [28, 28, 1],
                    "pixel_sum": .integer(images.reduce(Int64(0)) { $0 + Int64($1) }),
                    "first_image": .array(images.prefix(784).map { .integer(Int64($0)) }),
                ]
                try Self.pythonVerdict(Self.h5pyContractScript, [shard.path, "image", try StableJSON.string(expected)])
                let dump = try Support.run(URL(fileURLWithPath: "/usr/bin/env"), ["h5dump", "-H", "-p", shard.path])
                #expect(dump.status == 0, "\(dump.standardError)")
                #expect(dump.standardOutput.contains("H5T_STD_U8LE") && dump.standardOutput.contains("H5T_STD_I64LE"))
                #expect(dump.standardOutput.contains("COMPRESSION DEFLATE { LEVEL 4 }") && dump.standardOutput.contains("SHUFFLE"))
            }
        }
    }

    @Test func h5pyReadsTextShardsStringForString() throws {
        let parent = try Support.makeTemporaryFolder("interop-text")
        defer { Support.remove(parent) }
        let source = parent.deletingLastPathComponent().appendingPathComponent("\(parent.lastPathComponent)-source.jsonl")
        defer { try? FileManager.default.removeItem(at: source) }
        let texts = ["naïve café", "日本語のテキスト", "emoji 🦎 reptile", "quote \" and backslash \\", "tab\tinside", "line\nbreak", "ünïcödé", "plain"]
        let lines = try texts.enumerated().map { index, text in
            try StableJSON.string(["text": JSONValue.string(text), "label": JSONValue.string(index % 2 == 0 ? "even" : "odd")])
        }
        try (lines.joined(separator: "\n") + "\n").write(to: source, atomically: true, encoding: .utf8)
        let result = try IngestTesting.ingest(["ingest", "text", source.path, "--name", "t", "--test-fraction", "0"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let shard = try DatasetFolder(path: parent.appendingPathComponent("t").path).shards(of: "train")[0]
        let stored = try shard.texts(0..<shard.count)
        #expect(Set(stored) == Set(texts.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t\r")) }))
        let expected: JSONValue = [
            "class_names": .array(shard.classNames.map { .string($0) }),
            "labels": .array(try shard.labels().map { .integer($0) }),
            "texts": .array(stored.map { .string($0) }),
        ]
        try Self.pythonVerdict(Self.h5pyContractScript, [shard.path, "text", try StableJSON.string(expected)])
    }

    /// Pillow writes a tree of gray, RGB, RGBA and palette PNGs; ingest with --channels 1 and 3
    /// stores exactly Pillow's convert('L') / convert('RGB'); --resize equals Pillow's bilinear resize;
    /// the export is read by Pillow with identical pixels.
    @Test func pillowTreesIngestAndExportWithIdenticalPixels() throws {
        let work = try Support.makeTemporaryFolder("interop-png")
        defer { Support.remove(work) }
        let tree = work.appendingPathComponent("tree")
        let parent = work.appendingPathComponent("datasets")
        let makeTree = #"""
        import sys, os, numpy as np
        from PIL import Image
        root = sys.argv[1]
        rng = np.random.default_rng(5)
        modes = ["L", "RGB", "RGBA", "P", "LA"]
        for c, name in enumerate(["cat", "dog", "50% off"]):
            folder = os.path.join(root, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(4):
                mode = modes[(c + i) % len(modes)]
                size = (20, 12)
                if mode == "L": im = Image.fromarray(rng.integers(0, 256, (12, 20), dtype=np.uint8), "L")
                elif mode == "LA": im = Image.fromarray(rng.integers(0, 256, (12, 20, 2), dtype=np.uint8), "LA")
                elif mode == "RGB": im = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8), "RGB")
                elif mode == "RGBA": im = Image.fromarray(rng.integers(0, 256, (12, 20, 4), dtype=np.uint8), "RGBA")
                else: im = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8), "RGB").quantize(16)
                im.save(os.path.join(folder, f"{i:03d}.png"))
        print("OK")
        """#
        try Self.pythonVerdict(makeTree, [tree.path])
        for (channels, resize) in [("1", nil), ("3", nil), ("3", "16x16")] as [(String, String?)] {
            let name = "c\(channels)" + (resize.map { "-\($0)" } ?? "")
            var arguments = ["ingest", "image", tree.path, "--name", name, "--channels", channels, "--test-fraction", "0"]
            if let resize { arguments += ["--resize", resize] }
            let result = try IngestTesting.ingest(arguments, parent: parent)
            try #require(result.status == 0, "\(result.standardError)")
            let dataset = parent.appendingPathComponent(name)
            let export = work.appendingPathComponent("export-\(name)")
            let exported = try Support.reptile(["export", "png", dataset.path, "--out", export.path])
            try #require(exported.status == 0, "\(exported.standardError)")
            // Pillow: the source converted (and resized) must equal the shard, and the export must equal the shard.
            let check = #"""
            import sys, os, json, h5py, numpy as np
            from PIL import Image
            tree, dataset, export, channels, resize = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
            info = json.load(open(os.path.join(dataset, "dataset_info.json")))
            names = info["class_names"]
            files = [s["file"] for s in info["splits"]["train"]["shards"]]
            sources = []
            for name in names:
                folder = os.path.join(tree, name)
                sources += [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
            position = 0
            for file in files:
                with h5py.File(os.path.join(dataset, file), "r") as f:
                    images, labels, index = f["images"][:], f["labels"][:], f["source_index"][:]
                for image, label, source in zip(images, labels, index):
                    im = Image.open(sources[source]).convert("L" if channels == 1 else "RGB")
                    if resize != "none":
                        w, h = map(int, resize.split("x"))
                        im = im.resize((w, h), Image.BILINEAR)
                    expected = np.asarray(im).reshape(image.shape)
                    assert np.array_equal(expected, image), (sources[source], int(np.abs(expected.astype(int) - image).max()))
                    class_folder = names[label].replace("%", "%25").replace("/", "%2F")
                    if class_folder.startswith("."): class_folder = "%2E" + class_folder[1:]
                    exported = np.asarray(Image.open(os.path.join(export, class_folder, f"{position:05d}.png"))).reshape(image.shape)
                    assert np.array_equal(exported, image), ("export differs", position)
                    position += 1
            assert position == 12, position
            # Nothing was written outside the export folder.
            for root, dirs, found in os.walk(export):
                for f in found: assert os.path.realpath(os.path.join(root, f)).startswith(os.path.realpath(export))
            print("OK")
            """#
            try Self.pythonVerdict(check, [tree.path, dataset.path, export.path, channels, resize ?? "none"])
        }
    }

    /// IDX digits stored as RGB 32×32 equal Pillow's convert('RGB') + bilinear resize of the same digit.
    @Test func idxImagesConvertAndResizeAsPillowDoes() throws {
        let parent = try Support.makeTemporaryFolder("interop-idx-resize")
        defer { Support.remove(parent) }
        let result = try IngestTesting.ingest(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "rgb", "--channels", "3",
                                               "--resize", "32x32", "--per-class", "3", "--test-fraction", "0.01"], parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        let info = try DatasetFolder(path: parent.appendingPathComponent("rgb").path).info
        #expect(info.imageShape == ImageShape(height: 32, width: 32, channels: 3))
        let check = #"""
        import sys, os, gzip, h5py, numpy as np
        from PIL import Image
        source, shard = sys.argv[1], sys.argv[2]
        raw = gzip.open(os.path.join(source, "t10k-images-idx3-ubyte.gz")).read()
        digits = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
        with h5py.File(shard, "r") as f:
            images, index = f["images"][:], f["source_index"][:]
        assert images.shape == (30, 32, 32, 3), images.shape
        for image, i in zip(images, index):
            expected = np.asarray(Image.fromarray(digits[i], "L").convert("RGB").resize((32, 32), Image.BILINEAR))
            assert np.array_equal(expected, image), int(np.abs(expected.astype(int) - image).max())
        print("OK")
        """#
        try Self.pythonVerdict(check, [IngestImageTests.mnistFolder.path, parent.appendingPathComponent("rgb/train-00000-of-00001.h5").path])
    }

    /// Synthetic shards carry per-sample float columns and the generator's sha256 (the shard
    /// contract); Swift reads them back and h5py sees them as float32 and a string attribute.
    @Test func syntheticShardColumnsAndGeneratorHashRoundTrip() throws {
        let folder = try Support.makeTemporaryFolder("synthetic-columns")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("synthetic-00000-of-00001.h5").path
        let metadata = ShardMetadata(kind: .text, split: "synthetic", classNames: ["a", "b"], seed: 3, configSHA256: "c0ffee",
                                     created: "1970-01-01T00:00:00Z", generatorSHA256: "abc123")
        let writer = try ShardWriter(path: path, metadata: metadata, count: 3, imageShape: nil,
                                     columns: [ShardColumn("d_score", .float32), ShardColumn("confidence", .float32)])
        try writer.appendTexts(["x", "y"], labels: [0, 1], columns: ["d_score": [0.25, -1.5], "confidence": [0.9, 0.1]])
        try writer.appendTexts(["z"], labels: [1], columns: ["d_score": [3], "confidence": [0.5]])
        _ = try writer.finish()
        let reader = try ShardReader(path: path)
        #expect(reader.metadata == metadata)
        #expect(reader.hasColumn("d_score") && !reader.hasColumn("images"))
        #expect(try reader.floatColumn("d_score") == [0.25, -1.5, 3])
        #expect(try reader.floatColumn("confidence", 1..<3) == [0.1, 0.5])
        let check = #"""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "r") as f:
            assert f["d_score"].dtype == np.float32 and f["d_score"][:].tolist() == [0.25, -1.5, 3.0]
            assert f["confidence"].shape == (3,)
            assert f.attrs["generator_sha256"] == "abc123" and f.attrs["split"] == "synthetic"
        print("OK")
        """#
        try Self.pythonVerdict(check, [path])
    }

    /// `export jsonl`: json.loads reads every line, and text and label equal what h5py reads from the
    /// shards, in order; an image dataset and an existing file are refused, leaving nothing behind.
    @Test func textExportAsJSONLinesMatchesTheShards() throws {
        let parent = try Support.makeTemporaryFolder("interop-jsonl")
        defer { Support.remove(parent) }
        let dataset = try TextSynthesisCommandTests.ingestTREC(into: parent)
        let file = parent.appendingPathComponent("trec-test.jsonl")
        let exported = try Support.reptile(["export", "jsonl", dataset.path, "--split", "test", "--out", file.path, "--json"])
        try #require(exported.status == 0, "\(exported.standardError)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(exported.standardOutput.utf8)) as? [String: Any])
        #expect(result["count"] as? Int == 500)
        let check = #"""
        import sys, os, json, h5py
        dataset, path = sys.argv[1], sys.argv[2]
        info = json.load(open(os.path.join(dataset, "dataset_info.json")))
        names = info["class_names"]
        expected = []
        for shard in info["splits"]["test"]["shards"]:
            with h5py.File(os.path.join(dataset, shard["file"]), "r") as f:
                expected += [(t.decode("utf-8") if isinstance(t, bytes) else t, names[l]) for t, l in zip(f["texts"][:], f["labels"][:])]
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        assert all(set(r) == {"text", "label"} for r in rows)
        assert [(r["text"], r["label"]) for r in rows] == expected, "texts or labels differ"
        assert len(rows) == 500, len(rows)
        print("OK")
        """#
        try Self.pythonVerdict(check, [dataset.path, file.path])

        let again = try Support.reptile(["export", "jsonl", dataset.path, "--out", file.path])
        #expect(again.status == 1 && again.standardError.contains("--force"), "\(again.standardError)")
        let images = try ClassifierFixtures.mnist.get()
        let imageFile = parent.appendingPathComponent("images.jsonl")
        let refused = try Support.reptile(["export", "jsonl", images.path, "--out", imageFile.path])
        #expect(refused.status == 1 && refused.standardError.contains("export png"), "\(refused.standardError)")
        let left = try FileManager.default.contentsOfDirectory(atPath: parent.path).filter { $0.contains("images.jsonl") }
        #expect(left.isEmpty, "\(left)")
    }
}
