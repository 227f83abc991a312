import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// PNG decoding, encoding and resizing, each checked against Pillow (what users' torchvision
/// pipelines run) through python3.
@Suite struct PNGTests {
    // MARK: - Helpers

    static func randomImage(width: Int, height: Int, channels: Int, seed: UInt64) -> PixelImage {
        var random = SeededRandom(seed: seed)
        let pixels = (0..<(width * height * channels)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        return PixelImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    static func bytes(at url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    /// Runs a Python script and decodes the JSON it prints last.
    static func pythonJSON<T: Decodable>(_ script: String, arguments: [String], as type: T.Type) throws -> T {
        let result = try Support.python(script, arguments: arguments)
        try #require(result.status == 0, "python3 failed: \(result.standardError)")
        let lastLine = result.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        return try JSONDecoder().decode(T.self, from: Data(lastLine.utf8))
    }

    // MARK: - Writing

    @Test func writtenImagesOpenInPillowWithIdenticalPixelsAndReadBackExactly() throws {
        let folder = try Support.makeTemporaryFolder("png")
        defer { Support.remove(folder) }
        let images = [
            "gray": Self.randomImage(width: 29, height: 17, channels: 1, seed: 1),
            "rgb": Self.randomImage(width: 31, height: 13, channels: 3, seed: 2),
            "single-pixel": Self.randomImage(width: 1, height: 1, channels: 3, seed: 3),
        ]
        var arguments: [String] = []
        for (name, image) in images.sorted(by: { $0.key < $1.key }) {
            let pngPath = folder.appendingPathComponent("\(name).png").path
            let rawURL = folder.appendingPathComponent("\(name).raw")
            try PNGFile.write(image, to: pngPath)
            try Data(image.pixels).write(to: rawURL)
            arguments += [pngPath, rawURL.path, "\(image.width)", "\(image.height)", "\(image.channels)"]

            // Back in Swift: bit-exact, whichever way it is asked for.
            #expect(try PNGFile.read(at: pngPath, channels: nil) == image)
            #expect(try PNGFile.read(at: pngPath, channels: image.channels) == image)
            let header = try PNGFile.readHeader(at: pngPath)
            #expect(header.width == image.width && header.height == image.height && header.channels == image.channels)
        }

        let script = """
        import sys, json
        import numpy as np
        from PIL import Image
        verdicts = []
        arguments = sys.argv[1:]
        for index in range(0, len(arguments), 5):
            png, raw, width, height, channels = arguments[index:index + 5]
            width, height, channels = int(width), int(height), int(channels)
            image = Image.open(png)
            shape = (height, width) if channels == 1 else (height, width, 3)
            expected = np.fromfile(raw, dtype=np.uint8).reshape(shape)
            verdicts.append({"mode": image.mode, "size": list(image.size),
                             "equal": bool(np.array_equal(np.array(image), expected))})
        print(json.dumps(verdicts))
        """
        struct Verdict: Decodable { var mode: String; var size: [Int]; var equal: Bool }
        let verdicts = try Self.pythonJSON(script, arguments: arguments, as: [Verdict].self)
        let sortedImages = images.sorted(by: { $0.key < $1.key }).map(\.value)
        try #require(verdicts.count == sortedImages.count)
        for (verdict, image) in zip(verdicts, sortedImages) {
            #expect(verdict.mode == (image.channels == 1 ? "L" : "RGB"))
            #expect(verdict.size == [image.width, image.height])
            #expect(verdict.equal)
        }
    }

    @Test func writingIntoAMissingFolderNamesThePath() throws {
        let path = "/nonexistent-reptile-folder/image.png"
        let image = Self.randomImage(width: 4, height: 4, channels: 1, seed: 4)
        do {
            try PNGFile.write(image, to: path)
            Issue.record("writing into a missing folder should fail")
        } catch let error as ReptileError {
            #expect(error.description.hasPrefix(path))
            #expect(!error.description.contains("\n"))
        }
    }

    // MARK: - Reading what Pillow writes

    /// Files of every PNG kind Pillow produces (and a few it only reads), with Pillow's own
    /// `convert("L")` and `convert("RGB")` of each saved beside them as raw bytes.
    static let pillowWriterScript = #"""
    import sys, os, json, struct, zlib
    import numpy as np
    from PIL import Image, PngImagePlugin

    folder = sys.argv[1]
    rng = np.random.default_rng(20240611)
    W, H = 19, 11

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    def handmade(name, bit_depth, colour_type, samples, extra=b""):
        """A PNG written byte by byte, for layouts Pillow reads but cannot write (16-bit colour)."""
        height, width = samples.shape[0], samples.shape[1]
        header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
        rows = samples.astype(">u2" if bit_depth == 16 else "u1").reshape(height, -1)
        data = b"".join(b"\x00" + row.tobytes() for row in rows)
        with open(os.path.join(folder, name + ".png"), "wb") as file:
            file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
                       + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))

    def info(*chunks):
        result = PngImagePlugin.PngInfo()
        for kind, data in chunks:
            result.add(kind, data)
        return result

    def gamma(value):
        return (b"gAMA", struct.pack(">I", value))

    def gray():
        return rng.integers(0, 256, (H, W), dtype=np.uint8)

    def colour(channels):
        return rng.integers(0, 256, (H, W, channels), dtype=np.uint8)

    def palette_image(colours):
        indices = rng.integers(0, colours, (H, W), dtype=np.uint8)
        image = Image.frombytes("P", (W, H), indices.tobytes())
        image.putpalette(rng.integers(0, 256, 3 * colours, dtype=np.uint8).tobytes())
        return image

    def sixteen_bit(shape):
        # Half small values (which Pillow keeps), half anywhere in the 16-bit range.
        small = rng.integers(0, 300, shape)
        large = rng.integers(0, 65536, shape)
        return np.where(rng.integers(0, 2, shape) == 1, small, large).astype(np.uint16)

    accepted = []
    def save(name, image, **options):
        image.save(os.path.join(folder, name + ".png"), **options)
        accepted.append(name)

    save("L", Image.fromarray(gray()))
    save("LA", Image.fromarray(np.dstack([gray(), gray()])))
    save("RGB", Image.fromarray(colour(3)))
    save("RGBA", Image.fromarray(colour(4)))
    save("RGBA-alpha-0-or-255", Image.fromarray(np.dstack([colour(3), (gray() > 127).astype(np.uint8) * 255])))
    save("P", palette_image(256))
    save("P-transparency", palette_image(256), transparency=rng.integers(0, 256, 256, dtype=np.uint8).tobytes())
    save("P-4-bit", palette_image(16), bits=4)
    save("1", Image.fromarray(gray() > 127))
    save("L-transparency", Image.fromarray(gray()), transparency=17)
    rgb = colour(3)
    save("RGB-transparency", Image.fromarray(rgb), transparency=tuple(int(v) for v in rgb[2, 3]))
    save("I16", Image.fromarray(sixteen_bit((H, W))))
    # Gamma and colour-space chunks: Pillow ignores them, libpng would not.
    save("L-gamma-1.0", Image.fromarray(gray()), pnginfo=info(gamma(100000)))
    save("RGB-gamma-sRGB", Image.fromarray(colour(3)), pnginfo=info(gamma(45455), (b"sRGB", b"\x00")))
    save("RGBA-gamma-2.2", Image.fromarray(colour(4)), pnginfo=info(gamma(220000)))
    save("P-gamma-1.0", palette_image(256), pnginfo=info(gamma(100000)))
    save("I16-gamma", Image.fromarray(sixteen_bit((H, W))), pnginfo=info(gamma(45455)))
    try:
        from PIL import ImageCms
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        save("RGB-icc", Image.fromarray(colour(3)), icc_profile=profile)
    except Exception:
        pass
    handmade("RGB16", 16, 2, sixteen_bit((H, W, 3)))
    accepted.append("RGB16")
    handmade("I16-transparency", 16, 0, sixteen_bit((H, W)), extra=chunk(b"tRNS", struct.pack(">H", 5)))
    accepted.append("I16-transparency")
    # 16-bit with a real alpha channel: refused by Reptile.
    handmade("LA16", 16, 4, sixteen_bit((H, W, 2)))
    handmade("RGBA16", 16, 6, sixteen_bit((H, W, 4)))

    own_channels = {"1": 1, "L": 1, "LA": 1, "I": 1, "I;16": 1, "I;16B": 1, "P": 3, "RGB": 3, "RGBA": 3}
    cases = []
    for name in accepted:
        image = Image.open(os.path.join(folder, name + ".png"))
        image.load()
        np.array(image.convert("L")).tofile(os.path.join(folder, name + ".L"))
        np.array(image.convert("RGB")).tofile(os.path.join(folder, name + ".RGB"))
        cases.append({"name": name, "mode": image.mode, "width": image.size[0], "height": image.size[1],
                      "channels": own_channels[image.mode]})
    print(json.dumps({"accepted": cases, "refused": ["LA16", "RGBA16"]}))
    """#

    struct PillowCase: Decodable {
        var name: String
        var mode: String
        var width: Int
        var height: Int
        var channels: Int
    }

    struct PillowManifest: Decodable {
        var accepted: [PillowCase]
        var refused: [String]
    }

    @Test func readingPillowFilesEqualsPillowsConvert() throws {
        let folder = try Support.makeTemporaryFolder("png")
        defer { Support.remove(folder) }
        let manifest = try Self.pythonJSON(Self.pillowWriterScript, arguments: [folder.path], as: PillowManifest.self)
        #expect(manifest.accepted.count >= 19)

        for pillowCase in manifest.accepted {
            let path = folder.appendingPathComponent("\(pillowCase.name).png").path
            let expectedGray = try Self.bytes(at: folder.appendingPathComponent("\(pillowCase.name).L"))
            let expectedRGB = try Self.bytes(at: folder.appendingPathComponent("\(pillowCase.name).RGB"))

            let gray = try PNGFile.read(at: path, channels: 1)
            #expect(gray.width == pillowCase.width && gray.height == pillowCase.height && gray.channels == 1,
                    "\(pillowCase.name)")
            #expect(gray.pixels == expectedGray, "\(pillowCase.name) (Pillow mode \(pillowCase.mode)) as gray")

            let rgb = try PNGFile.read(at: path, channels: 3)
            #expect(rgb.channels == 3, "\(pillowCase.name)")
            #expect(rgb.pixels == expectedRGB, "\(pillowCase.name) (Pillow mode \(pillowCase.mode)) as RGB")

            let own = try PNGFile.read(at: path, channels: nil)
            #expect(own.channels == pillowCase.channels, "\(pillowCase.name) own channel count")
            #expect(own.pixels == (pillowCase.channels == 1 ? expectedGray : expectedRGB), "\(pillowCase.name)")

            let header = try PNGFile.readHeader(at: path)
            #expect(header.width == pillowCase.width && header.height == pillowCase.height
                    && header.channels == pillowCase.channels, "\(pillowCase.name) header")
        }

        for name in manifest.refused {
            let path = folder.appendingPathComponent("\(name).png").path
            let attempts: [() throws -> Void] = [{ _ = try PNGFile.read(at: path, channels: nil) },
                                                 { _ = try PNGFile.readHeader(at: path) }]
            for attempt in attempts {
                do {
                    try attempt()
                    Issue.record("\(name): a 16-bit file with alpha should be refused")
                } catch let error as ReptileError {
                    #expect(error.description.hasPrefix(path))
                    #expect(error.description.contains("16-bit"))
                }
            }
        }
    }

    // MARK: - Resizing

    @Test func resizingMatchesPillowsBilinear() throws {
        let folder = try Support.makeTemporaryFolder("png")
        defer { Support.remove(folder) }
        let sources = [
            "gray": Self.randomImage(width: 37, height: 23, channels: 1, seed: 11),
            "rgb": Self.randomImage(width: 37, height: 23, channels: 3, seed: 12),
        ]
        // The sizes asked for, plus one-axis changes, enlarging, a single pixel, and sizes where
        // Pillow 13 runs the vertical pass first (the height shrinks by more than twice the width).
        let sizes = [(28, 28), (16, 16), (64, 40), (37, 10), (5, 23), (100, 71), (1, 1),
                     (300, 1), (40, 22), (36, 10), (20, 3), (30, 12)]
        for (name, image) in sources {
            try PNGFile.write(image, to: folder.appendingPathComponent("\(name).png").path)
        }
        let script = """
        import sys, os, json
        import numpy as np
        import PIL
        from PIL import Image
        folder, names, sizes = sys.argv[1], sys.argv[2].split(","), json.loads(sys.argv[3])
        for name in names:
            image = Image.open(os.path.join(folder, name + ".png"))
            for width, height in sizes:
                resized = image.resize((width, height), Image.BILINEAR)
                np.array(resized).tofile(os.path.join(folder, f"{name}-{width}x{height}.raw"))
        print(json.dumps(int(PIL.__version__.split(".")[0])))
        """
        let sizeList = "[" + sizes.map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]"
        let pillowMajorVersion = try Self.pythonJSON(
            script, arguments: [folder.path, sources.keys.sorted().joined(separator: ","), sizeList], as: Int.self)

        var largestDifference = 0
        var differingPixels = 0
        for (name, image) in sources {
            for (width, height) in sizes {
                let expected = try Self.bytes(at: folder.appendingPathComponent("\(name)-\(width)x\(height).raw"))
                let actual = resized(image, width: width, height: height)
                #expect(actual.width == width && actual.height == height && actual.channels == image.channels)
                try #require(actual.pixels.count == expected.count, "\(name) \(width)×\(height)")
                for (mine, pillows) in zip(actual.pixels, expected) where mine != pillows {
                    differingPixels += 1
                    largestDifference = max(largestDifference, abs(Int(mine) - Int(pillows)))
                }
            }
        }
        print("resize vs Pillow BILINEAR: largest difference \(largestDifference), differing samples \(differingPixels)")
        #expect(largestDifference <= 1)
        // The port follows Pillow 13's pass order, so there it is exact.
        if pillowMajorVersion >= 13 { #expect(differingPixels == 0) }
    }

    @Test func resizingToTheSameSizeChangesNothing() {
        let image = Self.randomImage(width: 9, height: 7, channels: 3, seed: 13)
        #expect(resized(image, width: 9, height: 7) == image)
    }

    @Test func grayAndColourConversionsFollowPillow() {
        let rgb = PixelImage(width: 3, height: 1, channels: 3, pixels: [0, 0, 128, 255, 255, 255, 10, 200, 30])
        let gray = rgb.converted(toChannels: 1)
        // (r*19595 + g*38470 + b*7471 + 0x8000) >> 16, Pillow's L24 luma.
        #expect(gray.pixels == [15, 255, 124])
        let back = gray.converted(toChannels: 3)
        #expect(back.pixels == [15, 15, 15, 255, 255, 255, 124, 124, 124])
    }

    // MARK: - Bad files

    /// Every bad file must give a one-line ReptileError that starts with the path.
    static func expectFailure(_ path: String, contains words: String? = nil, _ operation: () throws -> Void) {
        do {
            try operation()
            Issue.record("\(path): expected a ReptileError")
        } catch let error as ReptileError {
            #expect(error.description.hasPrefix(path + ": "), "\(error)")
            #expect(!error.description.contains("\n"))
            if let words { #expect(error.description.contains(words), "\(error)") }
        } catch {
            Issue.record("\(path): expected a ReptileError, got \(error)")
        }
    }

    @Test func badFilesGiveErrorsNamingThePath() throws {
        let folder = try Support.makeTemporaryFolder("png")
        defer { Support.remove(folder) }

        let valid = folder.appendingPathComponent("valid.png").path
        try PNGFile.write(Self.randomImage(width: 40, height: 30, channels: 3, seed: 21), to: valid)
        let validBytes = try Self.bytes(at: URL(fileURLWithPath: valid))

        let cutShort = folder.appendingPathComponent("cut-short.png")
        try Data(validBytes.prefix(validBytes.count / 2)).write(to: cutShort)
        Self.expectFailure(cutShort.path, contains: "libpng") { _ = try PNGFile.read(at: cutShort.path, channels: 1) }
        // The header is intact, so the header alone still reads.
        #expect(try PNGFile.readHeader(at: cutShort.path) == (40, 30, 3))

        let headerOnly = folder.appendingPathComponent("header-only.png")
        try Data(validBytes.prefix(20)).write(to: headerOnly)
        Self.expectFailure(headerOnly.path, contains: "libpng") { _ = try PNGFile.read(at: headerOnly.path, channels: nil) }
        Self.expectFailure(headerOnly.path, contains: "libpng") { _ = try PNGFile.readHeader(at: headerOnly.path) }

        let text = folder.appendingPathComponent("notes.png")
        try Data("just some text\nover two lines\n".utf8).write(to: text)
        Self.expectFailure(text.path, contains: "libpng") { _ = try PNGFile.read(at: text.path, channels: 3) }
        Self.expectFailure(text.path, contains: "libpng") { _ = try PNGFile.readHeader(at: text.path) }

        let empty = folder.appendingPathComponent("empty.png")
        try Data().write(to: empty)
        Self.expectFailure(empty.path, contains: "empty") { _ = try PNGFile.read(at: empty.path, channels: 1) }
        Self.expectFailure(empty.path, contains: "empty") { _ = try PNGFile.readHeader(at: empty.path) }

        let missing = folder.appendingPathComponent("missing.png").path
        Self.expectFailure(missing, contains: "No such file") { _ = try PNGFile.read(at: missing, channels: 1) }
        Self.expectFailure(missing, contains: "No such file") { _ = try PNGFile.readHeader(at: missing) }

        let directory = folder.path
        Self.expectFailure(directory) { _ = try PNGFile.read(at: directory, channels: 1) }
    }

    /// A PNG whose header claims a huge image: refused before any pixel memory is allocated.
    @Test func hugeImagesAreRefusedFromTheHeader() throws {
        let folder = try Support.makeTemporaryFolder("png")
        defer { Support.remove(folder) }
        let script = #"""
        import sys, struct, zlib, json
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
        for path, width, height in [(sys.argv[1], 100000, 100000), (sys.argv[2], 16384, 16385)]:
            header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
            with open(path, "wb") as file:
                file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
        print(json.dumps("done"))
        """#
        let square = folder.appendingPathComponent("huge.png").path
        let tall = folder.appendingPathComponent("tall.png").path
        _ = try Self.pythonJSON(script, arguments: [square, tall], as: String.self)
        for path in [square, tall] {
            Self.expectFailure(path, contains: "limit") { _ = try PNGFile.read(at: path, channels: 1) }
            Self.expectFailure(path, contains: "limit") { _ = try PNGFile.readHeader(at: path) }
        }
    }

    @Test func removingIgnoredChunksKeepsEverythingElse() throws {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let length = UInt32(data.count)
            return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
                + Array(type.utf8) + data + [0, 0, 0, 0]   // CRC values do not matter to the parser
        }
        let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        let header = chunk("IHDR", Array(repeating: 1, count: 13))
        let imageData = chunk("IDAT", [1, 2, 3]) + chunk("IEND", [])
        let withGamma = signature + header + chunk("gAMA", [0, 1, 134, 160]) + chunk("tEXt", [65, 0, 66])
            + chunk("tRNS", [5]) + imageData
        #expect(PNGFile.removingIgnoredChunks(from: withGamma) == signature + header + chunk("tEXt", [65, 0, 66]) + imageData)
        // Nothing to remove, not a PNG, or cut short: left as it is, for libpng to judge.
        let plain = signature + header + imageData
        #expect(PNGFile.removingIgnoredChunks(from: plain) == plain)
        let text = Array("hello".utf8)
        #expect(PNGFile.removingIgnoredChunks(from: text) == text)
        let truncated = signature + header + Array(chunk("gAMA", [0, 1, 134, 160]).prefix(6))
        #expect(PNGFile.removingIgnoredChunks(from: truncated) == truncated)
    }
}
