import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// JPEG input: libjpeg-turbo's decode against Pillow's (with `ImageOps.exif_transpose`), colour
/// spaces refused, corrupt files refused, and mixed PNG/JPEG ImageFolders through `reptile ingest image`.
@Suite struct JPEGTests {
    /// Pillow and libjpeg-turbo run the same integer IDCT and upsampling; a little slack for builds
    /// that differ (SIMD paths, library versions).
    static let tolerance = 2

    /// Writes JPEGs with Pillow into `folder` and, beside each, Pillow's own decode after
    /// `exif_transpose` as raw bytes; prints one JSON list of what it wrote.
    static let writeJPEGsScript = """
    import sys, json
    import numpy as np
    from PIL import Image, ImageOps
    folder = sys.argv[1]
    rng = np.random.default_rng(7)

    def picture(width, height, channels):
        # Smooth gradients with an edge and some noise: what photos are made of.
        y, x = np.mgrid[0:height, 0:width]
        planes = [(x * 255 / max(1, width - 1)), (y * 255 / max(1, height - 1)), ((x + y) % 17) * 15]
        planes = [np.clip(p + rng.normal(0, 12, p.shape) + (40 if c == 0 else 0) * (x > width // 2), 0, 255) for c, p in enumerate(planes)]
        array = np.stack(planes[:channels], axis=-1).astype(np.uint8)
        return Image.fromarray(array[..., 0] if channels == 1 else array, "L" if channels == 1 else "RGB")

    written = []
    def save(name, image, **options):
        path = f"{folder}/{name}.jpg"
        image.save(path, "JPEG", **options)
        shown = ImageOps.exif_transpose(Image.open(path))
        shown.load()
        raw = f"{folder}/{name}.raw"
        np.asarray(shown).tofile(raw)
        gray = f"{folder}/{name}.gray.raw"
        np.asarray(shown.convert("L")).tofile(gray)
        written.append({"name": name, "jpeg": path, "raw": raw, "gray": gray, "width": shown.size[0], "height": shown.size[1],
                        "channels": 1 if shown.mode == "L" else 3})

    save("gray", picture(37, 23, 1), quality=90)
    save("rgb", picture(41, 29, 3), quality=90)
    save("rgb-444", picture(33, 19, 3), quality=90, subsampling=0)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        save(f"rgb-orientation-{orientation}", picture(40, 24, 3), quality=90, exif=exif.tobytes())
    exif = Image.Exif()
    exif[0x0112] = 6
    save("gray-orientation-6", picture(30, 18, 1), quality=90, exif=exif.tobytes())
    print(json.dumps(written))
    """

    struct Written: Decodable {
        var name: String
        var jpeg: String
        var raw: String
        var gray: String
        var width: Int
        var height: Int
        var channels: Int
    }

    static func largestDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
        zip(a, b).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
    }

    @Test func decodesPillowJPEGsAsPillowShowsThemIncludingEXIFOrientation() throws {
        let folder = try Support.makeTemporaryFolder("jpeg")
        defer { Support.remove(folder) }
        let written = try PNGTests.pythonJSON(Self.writeJPEGsScript, arguments: [folder.path], as: [Written].self)
        try #require(written.count == 12)
        var report: [String] = []
        for file in written {
            let expected = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file.raw)))
            let decoded = try JPEGFile.read(at: file.jpeg, channels: nil)
            #expect(decoded.width == file.width && decoded.height == file.height && decoded.channels == file.channels,
                    "\(file.name): \(decoded.width)×\(decoded.height)×\(decoded.channels), Pillow \(file.width)×\(file.height)×\(file.channels)")
            guard decoded.pixels.count == expected.count else { continue }
            let difference = Self.largestDifference(decoded.pixels, expected)
            #expect(difference <= Self.tolerance, "\(file.name): max abs difference \(difference)")

            // The header agrees with the decode, and ImageFile picks the JPEG reader by content.
            let header = try JPEGFile.readHeader(at: file.jpeg)
            #expect(header.width == file.width && header.height == file.height && header.channels == file.channels)
            #expect(try ImageFile.read(at: file.jpeg, channels: nil) == decoded)

            // To gray as ingest --channels 1 does, against Pillow's convert("L").
            let gray = try ImageFile.read(at: file.jpeg, channels: 1)
            let expectedGray = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file.gray)))
            let grayDifference = Self.largestDifference(gray.pixels, expectedGray)
            #expect(gray.pixels.count == expectedGray.count && grayDifference <= Self.tolerance, "\(file.name) gray: \(grayDifference)")
            report.append("\(file.name) \(difference)/\(grayDifference)")
        }
        print("JPEG vs Pillow, max abs difference (own channels / gray): " + report.joined(separator: ", "))
    }

    @Test func exifOrientationParsesBothByteOrders() {
        // "Exif\0\0", TIFF header, IFD0 with one entry: tag 0x0112, type SHORT, count 1, value 6.
        let little: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0, 0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0,
                               0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]
        let big: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0, 0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1,
                            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0]
        #expect(JPEGFile.exifOrientation(app1: little) == 6)
        #expect(JPEGFile.exifOrientation(app1: big) == 8)
        #expect(JPEGFile.exifOrientation(app1: Array(little.prefix(20))) == nil)   // cut short: ignored
        #expect(JPEGFile.exifOrientation(app1: Array("http://ns.adobe.com/xap/1.0/\0".utf8)) == nil)   // XMP, not EXIF
    }

    /// Every prefix of a JPEG and a few hundred corrupted copies: each decodes or throws a one-line
    /// ReptileError naming the file; libjpeg never reaches exit() (the test process would end).
    @Test func cutAndCorruptedJPEGsThrowOrDecodeButNeverEndTheProcess() throws {
        let folder = try Support.makeTemporaryFolder("jpeg-fuzz")
        defer { Support.remove(folder) }
        let original = folder.appendingPathComponent("original.jpg")
        let made = try Support.python("""
            from PIL import Image; import numpy as np, sys
            exif = Image.Exif(); exif[0x0112] = 6
            Image.fromarray(np.random.default_rng(5).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(sys.argv[1], 'JPEG', quality=80, exif=exif.tobytes())
            """, arguments: [original.path])
        try #require(made.status == 0, "\(made.standardError)")
        let bytes = [UInt8](try Data(contentsOf: original))
        let reference = try JPEGFile.read(at: original.path, channels: nil)
        #expect(reference.width == 24 && reference.height == 40)

        var variants: [[UInt8]] = (0..<bytes.count).map { Array(bytes.prefix($0)) }
        var random = SeededRandom(seed: 9)
        for _ in 0..<300 {
            var corrupted = bytes
            for _ in 0..<(1 + Int(random.next() % 4)) {
                corrupted[Int(random.next() % UInt64(corrupted.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            variants.append(corrupted)
        }
        let path = folder.appendingPathComponent("variant.jpg").path
        var refused = 0, refusedPrefixes = 0
        for (index, variant) in variants.enumerated() {
            try Data(variant).write(to: URL(fileURLWithPath: path))
            do {
                let header = try ImageFile.readHeader(at: path)
                let image = try ImageFile.read(at: path, channels: nil)
                #expect(image.pixels.count == image.width * image.height * image.channels)
                #expect(header.width == image.width && header.height == image.height)
            } catch let error as ReptileError {
                refused += 1
                if index < bytes.count { refusedPrefixes += 1 }
                #expect(error.path == path && !error.description.contains("\n"), "\(error)")
            }
        }
        // Every strict prefix is refused: a cut file must not come out with gray rows.
        #expect(refusedPrefixes == bytes.count)
        print("JPEG robustness: \(variants.count) cut or corrupted files, \(refused) refused, the rest decoded; no crash")
    }

    /// A mixed tree for the end-to-end test: PNGs and JPEGs (.jpg, .JPEG, .jpeg, one EXIF-rotated,
    /// one PNG named .jpg), each with what Pillow shows as raw bytes, and the order Reptile reads them in.
    static let writeMixedTreeScript = """
    import sys, os, json
    import numpy as np
    from PIL import Image, ImageOps
    root = sys.argv[1]
    rng = np.random.default_rng(3)
    names = {"cat": ["a.png", "b.jpg", "c.JPEG", "d.png", "e-rotated.jpg"], "dog": ["a.jpeg", "b.png", "c.jpg", "d-really-png.jpg", "e.png"]}
    for label, files in names.items():
        os.makedirs(f"{root}/{label}")
        for file in files:
            base = 60 if label == "cat" else 180
            array = np.clip(base + rng.normal(0, 30, (28, 28, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(array, "RGB")
            path = f"{root}/{label}/{file}"
            if file.endswith(".png") or "really-png" in file:
                image.save(path, "PNG")
            elif "rotated" in file:
                exif = Image.Exif(); exif[0x0112] = 6
                image.save(path, "JPEG", quality=90, exif=exif.tobytes())
            else:
                image.save(path, "JPEG", quality=90)
    print(json.dumps({"ok": True}))
    """

    /// Reads every split back with h5py and compares each record with Pillow's decode of its source file.
    static let checkMixedDatasetScript = """
    import sys, os, glob, json
    import h5py, numpy as np
    from PIL import Image, ImageOps
    dataset, root = sys.argv[1], sys.argv[2]
    info = json.load(open(f"{dataset}/dataset_info.json"))
    classes = info["class_names"]
    sources = [f"{root}/{c}/{f}" for c in sorted(os.listdir(root)) for f in sorted(os.listdir(f"{root}/{c}"))]
    largest = {"png": 0, "jpeg": 0}
    records = 0
    for shard in sorted(glob.glob(f"{dataset}/*.h5")):
        with h5py.File(shard, "r") as f:
            images, labels, indices = f["images"][:], f["labels"][:], f["source_index"][:]
            for image, label, index in zip(images, labels, indices):
                path = sources[index]
                assert classes[label] == path.split("/")[-2], (path, classes[label])
                with open(path, "rb") as handle:
                    kind = "jpeg" if handle.read(2) == b"\\xff\\xd8" else "png"
                expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB")).astype(int)
                assert image.shape == expected.shape, (path, image.shape, expected.shape)
                largest[kind] = max(largest[kind], int(np.abs(image.astype(int) - expected).max()))
                records += 1
    print(json.dumps({"records": records, "png": largest["png"], "jpeg": largest["jpeg"], "dtype": str(images.dtype)}))
    """

    @Test func mixedPNGAndJPEGImageFolderIngestsAndReadsBackInH5py() throws {
        let folder = try Support.makeTemporaryFolder("jpeg-tree")
        let parent = try Support.makeTemporaryFolder("jpeg-out")
        defer { Support.remove(folder); Support.remove(parent) }
        let tree = folder.appendingPathComponent("tree")
        struct Done: Decodable { var ok: Bool }
        _ = try PNGTests.pythonJSON(Self.writeMixedTreeScript, arguments: [tree.path], as: Done.self)

        let result = try IngestTesting.ingest(["ingest", "image", tree.path, "--name", "mixed", "--test-fraction", "0.2", "--seed", "1"],
                                              parent: parent)
        try #require(result.status == 0, "\(result.standardError)")
        #expect(!result.standardError.contains("warning"), "28×28 is trainable: \(result.standardError)")
        let dataset = parent.appendingPathComponent("mixed")
        let info = try DatasetFolder(path: dataset.path).info
        #expect(info.imageShape == ImageShape(height: 28, width: 28, channels: 3))
        #expect(info.classNames == ["cat", "dog"])

        struct Check: Decodable { var records: Int; var png: Int; var jpeg: Int; var dtype: String }
        let check = try PNGTests.pythonJSON(Self.checkMixedDatasetScript, arguments: [dataset.path, tree.path], as: Check.self)
        #expect(check.records == 10 && check.dtype == "uint8")
        #expect(check.png == 0, "PNG pixels are exact")
        #expect(check.jpeg <= Self.tolerance, "JPEG max abs difference \(check.jpeg)")
        print("mixed ImageFolder through ingest: \(check.records) records; max abs difference PNG \(check.png), JPEG \(check.jpeg)")

        // A size `train image` cannot take: ingested, with one warning that says how to fix it.
        let large = try IngestTesting.ingest(["ingest", "image", tree.path, "--name", "large", "--resize", "64x48"], parent: parent)
        try #require(large.status == 0, "\(large.standardError)")
        let warnings = large.standardError.split(separator: "\n").filter { $0.contains("reptile: warning:") }
        #expect(warnings.count == 1 && warnings[0].contains("64×48") && warnings[0].contains("--resize 32x32"), "\(large.standardError)")
        #expect(FileManager.default.fileExists(atPath: parent.appendingPathComponent("large/dataset_info.json").path))
    }

    /// Bad JPEGs through the command line: one line naming the file, exit 1, nothing written.
    static let badJPEGCases: [BadInputTests.Case] = [
        BadInputTests.Case(name: "CMYK JPEG") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try BadInputTests.png(tree, "a/1.png"); _ = try BadInputTests.png(tree, "b/1.png")
            let path = tree.appendingPathComponent("b/2.jpg").path
            let made = try Support.python("from PIL import Image; import sys; Image.new('CMYK', (8, 8), (10, 20, 30, 40)).save(sys.argv[1], 'JPEG')",
                                          arguments: [path])
            try #require(made.status == 0, "\(made.standardError)")
            return ([tree.path], [path, "CMYK", "convert it to RGB"])
        },
        BadInputTests.Case(name: "truncated JPEG") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try BadInputTests.png(tree, "a/1.png", width: 64, height: 64); _ = try BadInputTests.png(tree, "b/1.png", width: 64, height: 64)
            let path = tree.appendingPathComponent("b/2.jpg").path
            let made = try Support.python("""
                from PIL import Image; import numpy as np, sys
                Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(sys.argv[1], 'JPEG', quality=90)
                data = open(sys.argv[1], 'rb').read(); open(sys.argv[1], 'wb').write(data[:len(data) // 2])
                """, arguments: [path])
            try #require(made.status == 0, "\(made.standardError)")
            return ([tree.path], [path, "not a readable JPEG", "Premature end"])
        },
        BadInputTests.Case(name: "JPEG with a corrupt header") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try BadInputTests.png(tree, "a/1.png"); _ = try BadInputTests.png(tree, "b/1.png")
            let path = try BadInputTests.bytes(tree, "b/2.jpeg", [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x03] + [UInt8](repeating: 0x5A, count: 40))
            return ([tree.path], [path, "not a readable JPEG"])
        },
        BadInputTests.Case(name: "text file named .JPG") { source in
            let tree = source.appendingPathComponent("tree")
            _ = try BadInputTests.png(tree, "a/1.png"); _ = try BadInputTests.png(tree, "b/1.png")
            let path = try BadInputTests.file(tree, "b/2.JPG", "not really an image\n")
            return ([tree.path], [path, "neither a PNG nor a JPEG"])
        },
    ]

    @Test(arguments: badJPEGCases) func badJPEGFailsCleanly(_ testCase: BadInputTests.Case) throws {
        try BadInputTests.runCase(testCase, kind: "image")
    }

    /// classify reads JPEGs too: 100 test digits saved as quality-95 JPEG get the predictions their PNGs get.
    @Test func classifyReadsAFolderOfJPEGs() throws {
        let dataset = try ClassifierFixtures.mnist.get()
        let classifier = try ClassifierFixtures.classifier.get().appendingPathComponent("classifier.h5")
        let parent = try Support.makeTemporaryFolder("classify-jpeg")
        defer { Support.remove(parent) }
        let exported = parent.appendingPathComponent("exported")
        let export = try Support.reptile(["export", "png", dataset.path, "--split", "test", "--out", exported.path])
        try #require(export.status == 0, "\(export.standardError)")
        let pngs = parent.appendingPathComponent("pngs"), jpegs = parent.appendingPathComponent("jpegs")
        let converted = try Support.python("""
            import sys, os, glob, shutil
            from PIL import Image
            source, pngs, jpegs = sys.argv[1:4]
            for path in sorted(glob.glob(f"{source}/*/*.png"))[:100]:
                relative = os.path.relpath(path, source)
                for target in (pngs, jpegs):
                    os.makedirs(os.path.dirname(f"{target}/{relative}"), exist_ok=True)
                shutil.copy(path, f"{pngs}/{relative}")
                Image.open(path).save(f"{jpegs}/{relative[:-4]}.jpg", "JPEG", quality=95)
            """, arguments: [exported.path, pngs.path, jpegs.path])
        try #require(converted.status == 0, "\(converted.standardError)")

        func predictions(_ folder: URL) throws -> [String: String] {
            let result = try Support.reptile(["classify", "--classifier", classifier.path, folder.path, "--threads", "1"])
            try #require(result.status == 0, "\(result.standardError)")
            var labels: [String: String] = [:]
            for line in try ClassifierFixtures.jsonLines(result.standardOutput) {
                let file = try #require(line["file"] as? String)
                labels[(file as NSString).deletingPathExtension] = line["label"] as? String
            }
            return labels
        }
        let fromPNG = try predictions(pngs), fromJPEG = try predictions(jpegs)
        #expect(fromJPEG.count == 100 && Set(fromJPEG.keys) == Set(fromPNG.keys))
        let agreeing = fromJPEG.filter { fromPNG[$0.key] == $0.value }.count
        // JPEG artefacts may flip an odd borderline digit, no more.
        #expect(agreeing >= 95, "\(agreeing) of 100 JPEG predictions agree with the PNG ones")
        print("classify: \(agreeing) of 100 quality-95 JPEG test digits get their PNG's prediction")
    }
}
