import CPNG
import Foundation
import ReptileCore

/// 8-bit pixels, row-major, channel-last (height × width × channels), channels 1 (gray) or 3 (RGB).
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "PixelImage has 1 or 3 channels, got \(channels)")
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * channels,
                     "PixelImage \(width)×\(height)×\(channels) needs \(width * height * channels) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Gray ↔ RGB the way Pillow's `convert` does it: integer luma for RGB → gray, replication for gray → RGB.
    public func converted(toChannels channels: Int) -> PixelImage {
        if self.channels == channels { return self }
        let pixelCount = width * height
        var converted = [UInt8]()
        converted.reserveCapacity(pixelCount * channels)
        if channels == 1 {
            for pixel in 0..<pixelCount {
                let red = UInt32(pixels[3 * pixel])
                let green = UInt32(pixels[3 * pixel + 1])
                let blue = UInt32(pixels[3 * pixel + 2])
                converted.append(UInt8((red * 19595 + green * 38470 + blue * 7471 + 0x8000) >> 16))
            }
        } else {
            for gray in pixels {
                converted.append(gray)
                converted.append(gray)
                converted.append(gray)
            }
        }
        return PixelImage(width: width, height: height, channels: channels, pixels: converted)
    }
}

/// PNG reading and writing through libpng's simplified API, with the pixel values Pillow gives.
///
/// Users' torchvision pipelines do `Image.open(path).convert("L" or "RGB")`, so decoding follows
/// Pillow, not libpng's colour management:
/// - gamma and colour-space chunks (gAMA, sRGB, iCCP, cHRM, cICP) are ignored, as Pillow ignores them;
/// - alpha and palette transparency are dropped, never composited;
/// - RGB → gray uses Pillow's integer luma `(r*19595 + g*38470 + b*7471 + 0x8000) >> 16`;
/// - gray → RGB replicates the gray value;
/// - 16-bit gray is clipped to 255 and 16-bit RGB keeps the high byte, as Pillow does
///   (16-bit files with an alpha channel are refused: libpng would premultiply them).
public enum PNGFile {
    /// Larger images are refused before any pixel memory is allocated.
    public static let maximumSide = 16384
    public static let maximumPixels = 1 << 28

    /// Reads a PNG and normalises it to `channels` (1 or 3), or to its own channel count when nil
    /// (gray and gray+alpha → 1, RGB, RGBA and palette → 3).
    public static func read(at path: String, channels: Int?) throws -> PixelImage {
        precondition(channels == nil || channels == 1 || channels == 3, "PNG channels must be 1, 3 or nil")
        let original = try fileContents(at: path)
        guard !original.isEmpty else {
            throw ReptileError(path: path, "empty file, not a PNG", fix: "re-create the image or remove the file")
        }
        let bytes = removingIgnoredChunks(from: original)

        // libpng keeps reading from this memory until png_image_finish_read, so both calls stay inside.
        let decoded = try bytes.withUnsafeBytes { memory -> PixelImage in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            guard png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count) != 0 else {
                throw unreadable(path, libpngMessage(&image))
            }
            let layout = try Layout(of: image, path: path, alphaIsTransparencyChunk: false)
            let width = Int(image.width), height = Int(image.height)
            let sourceChannels = layout.sourceChannels

            if layout.isSixteenBit {
                // LINEAR asks for the file's own 16-bit samples; with the gamma chunks removed and no
                // alpha, libpng returns them unchanged.
                image.format = layout.requestedFormat
                var samples = [UInt16](repeating: 0, count: width * height * sourceChannels)
                let finished = samples.withUnsafeMutableBytes { buffer in
                    png_image_finish_read(&image, nil, buffer.baseAddress, Int32(width * sourceChannels), nil)
                }
                guard finished != 0 else { throw unreadable(path, libpngMessage(&image)) }
                let eightBit: [UInt8] = layout.hasColour
                    ? samples.map { UInt8($0 >> 8) }            // Pillow's RGB;16B unpacker keeps the high byte
                    : samples.map { UInt8(min($0, 255)) }       // Pillow's I;16 → L conversion clips
                return PixelImage(width: width, height: height, channels: sourceChannels, pixels: eightBit)
            }

            image.format = layout.requestedFormat
            var samples = [UInt8](repeating: 0, count: width * height * sourceChannels)
            let finished = samples.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, nil, buffer.baseAddress, Int32(width * sourceChannels), nil)
            }
            guard finished != 0 else { throw unreadable(path, libpngMessage(&image)) }
            if !layout.hasAlpha {
                return PixelImage(width: width, height: height, channels: sourceChannels, pixels: samples)
            }
            return PixelImage(width: width, height: height, channels: layout.channels,
                              pixels: droppingAlpha(samples, colourChannels: layout.channels))
        }
        return decoded.converted(toChannels: channels ?? decoded.channels)
    }

    /// Only the header: width, height and the channel count `read(channels: nil)` would give.
    /// Cheap: libpng stops before the image data. Refuses what `read` would refuse for its format or size.
    public static func readHeader(at path: String) throws -> (width: Int, height: Int, channels: Int) {
        // The same wording as `read` for a missing or empty file.
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ReptileError(path: path, "cannot read PNG: \(String(cString: strerror(errno)))",
                               fix: "check the path")
        }
        if (status.st_mode & S_IFMT) == S_IFREG && status.st_size == 0 {
            throw ReptileError(path: path, "empty file, not a PNG", fix: "re-create the image or remove the file")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw unreadable(path, libpngMessage(&image))
        }
        // `read` removes the tRNS chunk, so only a real alpha channel counts for the 16-bit check;
        // telling the two apart needs the colour type byte of the header (4 and 6 carry alpha).
        let alphaIsTransparencyChunk = (image.format & UInt32(PNG_FORMAT_FLAG_LINEAR)) != 0
            && (image.format & UInt32(PNG_FORMAT_FLAG_ALPHA)) != 0
            && colourTypeHasNoAlphaChannel(path)
        let layout = try Layout(of: image, path: path, alphaIsTransparencyChunk: alphaIsTransparencyChunk)
        return (Int(image.width), Int(image.height), layout.channels)
    }

    /// Writes 8-bit gray or RGB.
    public static func write(_ image: PixelImage, to path: String) throws {
        // PNG has no empty image: said as what it is, not as libpng's "Invalid IHDR data" and a folder problem.
        guard image.width >= 1, image.height >= 1, image.pixels.count == image.width * image.height * image.channels else {
            throw ReptileError(path: path, "cannot write a \(image.width)×\(image.height) image as PNG (a PNG is at least 1×1)",
                               fix: "check the image size of the data")
        }
        var png = writingHeader(for: image)
        defer { png_image_free(&png) }
        let written = image.pixels.withUnsafeBytes { buffer in
            png_image_write_to_file(&png, path, 0, buffer.baseAddress, Int32(image.width * image.channels), nil)
        }
        guard written != 0 else {
            throw ReptileError(path: path, "cannot write PNG (libpng: \(libpngMessage(&png)))",
                               fix: "check that the folder exists and is writable")
        }
    }

    /// The PNG file's bytes for 8-bit gray or RGB, in memory (for pages that embed their images).
    public static func encode(_ image: PixelImage) throws -> [UInt8] {
        var png = writingHeader(for: image)
        defer { png_image_free(&png) }
        let rowBytes = Int32(image.width * image.channels)
        // First call sizes the memory, second writes into it.
        var size = 0
        let sized = image.pixels.withUnsafeBytes { buffer in
            png_image_write_to_memory(&png, nil, &size, 0, buffer.baseAddress, rowBytes, nil)
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = sized == 0 ? 0 : bytes.withUnsafeMutableBytes { memory in
            image.pixels.withUnsafeBytes { buffer in
                png_image_write_to_memory(&png, memory.baseAddress, &size, 0, buffer.baseAddress, rowBytes, nil)
            }
        }
        guard written != 0 else {
            throw ReptileError("cannot encode a \(image.width)×\(image.height) PNG (libpng: \(libpngMessage(&png)))",
                               fix: "report this as a bug")
        }
        return Array(bytes.prefix(size))
    }

    /// The simplified API's description of an 8-bit gray or RGB image to write.
    private static func writingHeader(for image: PixelImage) -> png_image {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        return png
    }

    // MARK: - Layout of the file's pixels

    /// What the file holds, as libpng's simplified API describes it after reading the header.
    private struct Layout {
        var hasColour: Bool
        var hasAlpha: Bool
        var isSixteenBit: Bool

        init(of image: png_image, path: String, alphaIsTransparencyChunk: Bool) throws {
            let format = image.format
            hasColour = format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
            hasAlpha = format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0 && !alphaIsTransparencyChunk
            isSixteenBit = format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0

            let width = Int(image.width), height = Int(image.height)
            guard width >= 1, height >= 1 else {
                throw ReptileError(path: path, "PNG header says \(width)×\(height) pixels",
                                   fix: "re-create the image or remove the file")
            }
            guard width <= PNGFile.maximumSide, height <= PNGFile.maximumSide,
                  width * height <= PNGFile.maximumPixels else {
                throw ReptileError(path: path,
                                   "image is \(width)×\(height) pixels, over the limit of \(PNGFile.maximumSide) a side and \(PNGFile.maximumPixels) pixels",
                                   fix: "shrink the image before importing it")
            }
            if isSixteenBit && hasAlpha {
                throw ReptileError(path: path, "16-bit PNG with an alpha channel is not supported",
                                   fix: "convert it to 8-bit")
            }
        }

        /// 1 for gray, 3 for colour: what `read(channels: nil)` gives.
        var channels: Int { hasColour ? 3 : 1 }
        /// Samples per pixel as libpng hands them over.
        var sourceChannels: Int { channels + (hasAlpha ? 1 : 0) }
        /// The file's own layout (palettes expanded), so libpng converts no gamma and composites nothing.
        var requestedFormat: UInt32 {
            var format: UInt32 = 0
            if hasColour { format |= UInt32(PNG_FORMAT_FLAG_COLOR) }
            if hasAlpha { format |= UInt32(PNG_FORMAT_FLAG_ALPHA) }
            if isSixteenBit { format |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
            return format
        }
    }

    // MARK: - Conversions, as Pillow does them

    private static func droppingAlpha(_ samples: [UInt8], colourChannels: Int) -> [UInt8] {
        let sourceChannels = colourChannels + 1
        let pixelCount = samples.count / sourceChannels
        var kept = [UInt8](repeating: 0, count: pixelCount * colourChannels)
        for pixel in 0..<pixelCount {
            for channel in 0..<colourChannels {
                kept[pixel * colourChannels + channel] = samples[pixel * sourceChannels + channel]
            }
        }
        return kept
    }

    // MARK: - Bytes before libpng

    /// Chunks Pillow ignores when decoding but libpng would act on: gamma and colour-space chunks make
    /// it re-encode the samples, tRNS makes it add an alpha channel (which would be dropped anyway).
    private static let ignoredChunkTypes: Set<[UInt8]> = ["gAMA", "sRGB", "iCCP", "cHRM", "cICP", "tRNS"]
        .map { Array($0.utf8) }
        .reduce(into: []) { $0.insert($1) }

    private static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// The file without its ignored chunks (they all come before the image data). Anything that does
    /// not parse is left for libpng to report.
    static func removingIgnoredChunks(from bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { return bytes }
        var kept = Array(bytes[0..<8])
        var removedAny = false
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = Array(bytes[(offset + 4)..<(offset + 8)])
            let end = offset + 12 + length   // length, type, data, CRC
            if type == Array("IDAT".utf8) || end > bytes.count { break }
            if ignoredChunkTypes.contains(type) {
                removedAny = true
            } else {
                kept.append(contentsOf: bytes[offset..<end])
            }
            offset = end
        }
        guard removedAny else { return bytes }
        kept.append(contentsOf: bytes[offset...])
        return kept
    }

    /// The whole file, or an error naming the system's reason.
    private static func fileContents(at path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw ReptileError(path: path, "cannot read PNG: \(String(cString: strerror(errno)))",
                               fix: "check the path")
        }
        defer { close(descriptor) }
        var contents = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReptileError(path: path, "cannot read PNG: \(String(cString: strerror(errno)))",
                                   fix: "check the path")
            }
            contents.append(contentsOf: chunk[0..<count])
        }
        return contents
    }

    /// PNG colour types 0 (gray), 2 (RGB) and 3 (palette) have no alpha channel of their own;
    /// the type is byte 25 of the file, inside the IHDR chunk that always comes first.
    private static func colourTypeHasNoAlphaChannel(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 26), header.count == 26 else { return false }
        return [0, 2, 3].contains(header[25])
    }

    // MARK: - Errors

    private static func libpngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func unreadable(_ path: String, _ message: String) -> ReptileError {
        ReptileError(path: path, "not a readable PNG (libpng: \(message))",
                     fix: "check that the file is a complete PNG image, or remove it")
    }
}
