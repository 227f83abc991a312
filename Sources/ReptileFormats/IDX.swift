import Foundation
import ReptileCore

/// The IDX format of MNIST-style datasets (raw or gzipped): a big-endian header of magic,
/// element type, rank and dimensions, then the elements. Only unsigned bytes are supported,
/// which is what image and label files use.
public enum IDXFile {
    public struct Images: Sendable {
        public var count: Int
        public var height: Int
        public var width: Int
        public var channels: Int
        /// count × height × width × channels, channel-last.
        public var pixels: [UInt8]
    }

    /// Deflate cannot compress better than about 1032:1, so a gzip file of n bytes cannot hold
    /// more than this many; a header claiming more is lying and must not trigger a huge allocation.
    static func maximumDecompressedSize(ofGzipFileSize size: Int) -> Int { size * 1032 + 4096 }

    public static func readImages(at path: String) throws -> Images {
        let source = try ByteSource(path: path)
        let dimensions = try readHeader(source, expectedRanks: [3, 4], what: "an image file (rank 3: count, rows, columns)")
        let channels = dimensions.count == 4 ? dimensions[3] : 1
        guard channels == 1 || channels == 3 else {
            throw ReptileError(path: path, "the header gives \(channels) channels per pixel", fix: "only 1 (gray) or 3 (RGB) are supported")
        }
        let pixels = try readPayload(source, dimensions: dimensions)
        return Images(count: dimensions[0], height: dimensions[1], width: dimensions[2], channels: channels, pixels: pixels)
    }

    public static func readLabels(at path: String) throws -> [UInt8] {
        let source = try ByteSource(path: path)
        let dimensions = try readHeader(source, expectedRanks: [1], what: "a label file (rank 1: count)")
        return try readPayload(source, dimensions: dimensions)
    }

    private static func readHeader(_ source: ByteSource, expectedRanks: Set<Int>, what: String) throws -> [Int] {
        let path = source.path
        let magic = try source.read(upTo: 4)
        guard magic.count == 4, magic[0] == 0, magic[1] == 0 else {
            throw ReptileError(path: path, "not an IDX file (the first bytes are not an IDX magic number)",
                               fix: "give MNIST-style IDX files (raw or .gz)")
        }
        guard magic[2] == 0x08 else {
            throw ReptileError(path: path, "IDX element type 0x\(String(magic[2], radix: 16)) is not unsigned bytes (0x08)",
                               fix: "only uint8 IDX files are supported")
        }
        let rank = Int(magic[3])
        guard expectedRanks.contains(rank) else {
            throw ReptileError(path: path, "the IDX header has rank \(rank), expected \(what)",
                               fix: "check that --images and --labels are not swapped")
        }
        let header = try source.readExactly(4 * rank, what: "the IDX header")
        var dimensions: [Int] = []
        for index in 0..<rank {
            let value = header[(4 * index)..<(4 * index + 4)].reduce(0) { $0 << 8 | Int($1) }
            dimensions.append(value)
        }
        guard dimensions.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw ReptileError(path: path, "the IDX header has a zero dimension \(dimensions)", fix: "the file is damaged")
        }
        return dimensions
    }

    private static func readPayload(_ source: ByteSource, dimensions: [Int]) throws -> [UInt8] {
        let path = source.path
        let headerSize = 4 + 4 * dimensions.count
        var claimed = 1
        for dimension in dimensions {
            let (product, overflow) = claimed.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw ReptileError(path: path, "the IDX header claims an impossible size \(dimensions)", fix: "the file is damaged")
            }
            claimed = product
        }
        let shape = dimensions.map(String.init).joined(separator: "×")
        if source.isGzip {
            guard claimed <= maximumDecompressedSize(ofGzipFileSize: source.fileSize) else {
                throw ReptileError(path: path, "the IDX header claims \(shape) = \(claimed) bytes, more than a \(source.fileSize)-byte gzip file can hold",
                                   fix: "the header is damaged; fetch the file again")
            }
        } else {
            let available = source.fileSize - headerSize
            guard claimed == available else {
                throw ReptileError(path: path, "the IDX header claims \(shape) = \(claimed) bytes of data but the file holds \(available)",
                                   fix: available < claimed ? "the file is truncated; fetch it again" : "the file has trailing data or a damaged header")
            }
        }
        var payload = [UInt8]()
        payload.reserveCapacity(source.isGzip ? min(claimed, source.fileSize * 64) : claimed)
        while payload.count < claimed {
            let piece = try source.read(upTo: min(1 << 20, claimed - payload.count))
            if piece.isEmpty {
                throw ReptileError(path: path, "the IDX header claims \(shape) = \(claimed) bytes of data but the file holds only \(payload.count)",
                                   fix: "the file is truncated; fetch it again")
            }
            payload.append(contentsOf: piece)
        }
        guard try source.atEnd() else {
            throw ReptileError(path: path, "the file holds more data than its IDX header (\(shape)) says",
                               fix: "the header is damaged or two files were joined")
        }
        return payload
    }
}
