import CJPEG
import Foundation
import ReptileCore

/// JPEG reading through libjpeg-turbo, with the pixels a viewer (and Pillow's `ImageOps.exif_transpose`) shows.
///
/// - grayscale → 1 channel; YCbCr and RGB → 3 channels (libjpeg's colour conversion, as Pillow's);
/// - CMYK and YCCK are refused: converting them needs the file's colour profile;
/// - the EXIF orientation (tag 0x0112 in the APP1 segment, values 1–8) is applied to the pixels;
/// - a corrupt or truncated file is an error naming the file, never a crash or gray rows.
public enum JPEGFile {
    /// The first bytes of every JPEG file: SOI (FF D8) and the next marker's FF.
    static let signature: [UInt8] = [0xFF, 0xD8, 0xFF]

    /// Reads a JPEG and normalises it to `channels` (1 or 3), or to its own channel count when nil.
    public static func read(at path: String, channels: Int?) throws -> PixelImage {
        precondition(channels == nil || channels == 1 || channels == 3, "JPEG channels must be 1, 3 or nil")
        let decoded = try withReader(path) { reader -> PixelImage in
            let header = try readAndCheckHeader(reader, path: path)
            reader.pointee.info.out_color_space = header.channels == 1 ? JCS_GRAYSCALE : JCS_RGB
            let width = Int(reader.pointee.info.image_width), height = Int(reader.pointee.info.image_height)
            let rowBytes = width * header.channels
            var pixels = [UInt8](repeating: 0, count: rowBytes * height)
            let decodedAll = pixels.withUnsafeMutableBytes { buffer in
                reptile_jpeg_decode(reader, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), rowBytes, buffer.count)
            }
            guard decodedAll != 0 else { throw unreadable(path, message(reader)) }
            let stored = PixelImage(width: width, height: height, channels: header.channels, pixels: pixels)
            return oriented(stored, orientation: header.orientation)
        }
        return decoded.converted(toChannels: channels ?? decoded.channels)
    }

    /// Only the header: width and height as shown (after the EXIF orientation) and the channel
    /// count `read(channels: nil)` gives. Refuses what `read` would refuse for its colour space or size.
    public static func readHeader(at path: String) throws -> (width: Int, height: Int, channels: Int) {
        try withReader(path) { reader in
            let header = try readAndCheckHeader(reader, path: path)
            let width = Int(reader.pointee.info.image_width), height = Int(reader.pointee.info.image_height)
            return orientationSwapsSides(header.orientation) ? (height, width, header.channels) : (width, height, header.channels)
        }
    }

    // MARK: - libjpeg

    /// Opens the file and a libjpeg reader on it for `body`, and closes both afterwards.
    private static func withReader<Result>(_ path: String, _ body: (UnsafeMutablePointer<reptile_jpeg_reader>) throws -> Result) throws -> Result {
        var status = stat()
        if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size == 0 {
            throw ReptileError(path: path, "empty file, not a JPEG", fix: "re-create the image or remove the file")
        }
        guard let file = fopen(path, "rb") else {
            throw ReptileError(path: path, "cannot read JPEG: \(String(cString: strerror(errno)))", fix: "check the path")
        }
        defer { fclose(file) }
        guard let reader = reptile_jpeg_reader_create(file) else {
            throw ReptileError(path: path, "cannot start libjpeg (out of memory)", fix: "free some memory and retry")
        }
        defer { reptile_jpeg_reader_destroy(reader) }
        return try body(reader)
    }

    /// Reads the header and checks the colour space and size; returns the stored channel count and the EXIF orientation.
    private static func readAndCheckHeader(_ reader: UnsafeMutablePointer<reptile_jpeg_reader>, path: String) throws -> (channels: Int, orientation: Int) {
        guard reptile_jpeg_read_header(reader) != 0 else { throw unreadable(path, message(reader)) }
        let info = reader.pointee.info
        let channels: Int
        switch info.jpeg_color_space {
        case JCS_GRAYSCALE: channels = 1
        case JCS_YCbCr, JCS_RGB: channels = 3
        case JCS_CMYK, JCS_YCCK:
            throw ReptileError(path: path, "is a CMYK JPEG, which is not supported",
                               fix: "convert it to RGB (e.g. `convert IN -colorspace sRGB OUT.jpg`) or remove it")
        default:
            throw ReptileError(path: path, "JPEG colour space \(info.jpeg_color_space.rawValue) with \(info.num_components) components is not supported",
                               fix: "convert it to an RGB or grayscale JPEG or PNG")
        }
        let width = Int(info.image_width), height = Int(info.image_height)
        guard width >= 1, height >= 1 else {
            throw ReptileError(path: path, "JPEG header says \(width)×\(height) pixels", fix: "re-create the image or remove the file")
        }
        guard width <= PNGFile.maximumSide, height <= PNGFile.maximumSide, width * height <= PNGFile.maximumPixels else {
            throw ReptileError(path: path,
                               "image is \(width)×\(height) pixels, over the limit of \(PNGFile.maximumSide) a side and \(PNGFile.maximumPixels) pixels",
                               fix: "shrink the image before importing it")
        }
        return (channels, exifOrientation(firstMarker: info.marker_list))
    }

    private static func message(_ reader: UnsafeMutablePointer<reptile_jpeg_reader>) -> String {
        withUnsafeBytes(of: &reader.pointee.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func unreadable(_ path: String, _ message: String) -> ReptileError {
        ReptileError(path: path, "not a readable JPEG (libjpeg: \(message))",
                     fix: "check that the file is a complete JPEG image, or remove it")
    }

    // MARK: - EXIF orientation

    /// The orientation (1–8) from the first APP1 "Exif" segment; 1 when there is none or it does not parse.
    private static func exifOrientation(firstMarker: jpeg_saved_marker_ptr?) -> Int {
        var marker = firstMarker
        while let current = marker {
            if Int(current.pointee.marker) == Int(JPEG_APP0) + 1, let data = current.pointee.data {
                let bytes = Array(UnsafeBufferPointer(start: data, count: Int(current.pointee.data_length)))
                if let orientation = exifOrientation(app1: bytes) { return orientation }
            }
            marker = current.pointee.next
        }
        return 1
    }

    /// Tag 0x0112 of IFD0 in an APP1 payload: "Exif\0\0", then a TIFF header (II or MM byte order,
    /// 42, the offset of IFD0), then IFD0's 12-byte entries.
    static func exifOrientation(app1 bytes: [UInt8]) -> Int? {
        let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]   // "Exif\0\0"
        guard bytes.count >= 14, Array(bytes[0..<6]) == exifHeader else { return nil }
        let tiff = Array(bytes[6...])
        let littleEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): littleEndian = true
        case (0x4D, 0x4D): littleEndian = false
        default: return nil
        }
        func unsigned(_ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, offset + size <= tiff.count else { return nil }
            let slice = tiff[offset..<(offset + size)]
            return (littleEndian ? slice.reversed() : Array(slice)).reduce(0) { $0 << 8 | Int($1) }
        }
        guard unsigned(2, 2) == 42, let ifd = unsigned(4, 4), let entryCount = unsigned(ifd, 2) else { return nil }
        for entry in 0..<entryCount {
            let start = ifd + 2 + entry * 12
            guard let tag = unsigned(start, 2) else { return nil }
            guard tag == 0x0112 else { continue }
            // Type SHORT (3), count 1: the value sits in the first two bytes of the value field.
            guard unsigned(start + 2, 2) == 3, let value = unsigned(start + 8, 2), (1...8).contains(value) else { return nil }
            return value
        }
        return nil
    }

    /// Orientations 5–8 turn the image a quarter: width and height trade places.
    static func orientationSwapsSides(_ orientation: Int) -> Bool { orientation >= 5 }

    /// The stored pixels as a viewer shows them, as Pillow's `ImageOps.exif_transpose` does:
    /// 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° anticlockwise.
    static func oriented(_ image: PixelImage, orientation: Int) -> PixelImage {
        guard (2...8).contains(orientation) else { return image }
        let width = image.width, height = image.height, channels = image.channels
        let swaps = orientationSwapsSides(orientation)
        let outputWidth = swaps ? height : width, outputHeight = swaps ? width : height
        var pixels = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for y in 0..<outputHeight {
                    for x in 0..<outputWidth {
                        // Where output pixel (x, y) comes from in the stored image.
                        let (sourceX, sourceY): (Int, Int)
                        switch orientation {
                        case 2: (sourceX, sourceY) = (width - 1 - x, y)
                        case 3: (sourceX, sourceY) = (width - 1 - x, height - 1 - y)
                        case 4: (sourceX, sourceY) = (x, height - 1 - y)
                        case 5: (sourceX, sourceY) = (y, x)
                        case 6: (sourceX, sourceY) = (y, height - 1 - x)
                        case 7: (sourceX, sourceY) = (width - 1 - y, height - 1 - x)
                        default: (sourceX, sourceY) = (width - 1 - y, x)   // 8
                        }
                        let from = (sourceY * width + sourceX) * channels
                        let to = (y * outputWidth + x) * channels
                        for channel in 0..<channels { target[to + channel] = source[from + channel] }
                    }
                }
            }
        }
        return PixelImage(width: outputWidth, height: outputHeight, channels: channels, pixels: pixels)
    }
}
