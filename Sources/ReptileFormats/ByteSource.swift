import CZlib
import Foundation
import ReptileCore

/// Reads a file's bytes in pieces, transparently gunzipping `.gz` (detected by its magic bytes,
/// not its name). Memory stays bounded by the piece size; a cut-short or corrupt gzip stream is an
/// error that names the file, never silent truncation.
public final class ByteSource {
    public let path: String
    public let isGzip: Bool
    /// Size of the file on disk (compressed size for gzip).
    public let fileSize: Int
    private let handle: FileHandle
    private var stream = z_stream()
    /// True between a gzip member's header and its end: running out of input there means truncation.
    private var memberOpen = false
    /// zlib keeps a pointer into this buffer between calls, so it is allocated once, not an Array.
    private let compressedInput = UnsafeMutablePointer<UInt8>.allocate(capacity: ByteSource.pieceSize)
    private var pending = [UInt8]()
    private var pendingOffset = 0
    /// Decompressed bytes delivered so far (for error messages).
    public private(set) var bytesDelivered = 0

    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such file", fix: "check the path")
        }
        guard !isDirectory.boolValue else {
            throw ReptileError(path: path, "is a folder, expected a file", fix: "give the file's path")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReptileError(path: path, "cannot open the file", fix: "check its permissions")
        }
        self.handle = handle
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        fileSize = (attributes?[.size] as? NSNumber)?.intValue ?? 0
        let magic = (try? handle.read(upToCount: 2)) ?? Data()
        try? handle.seek(toOffset: 0)
        isGzip = magic.count == 2 && magic[magic.startIndex] == 0x1F && magic[magic.startIndex + 1] == 0x8B
        if isGzip {
            guard reptile_inflate_init_gzip(&stream) == Z_OK else {
                throw ReptileError(path: path, "cannot start gzip decompression")
            }
            memberOpen = true
        }
    }

    deinit {
        if isGzip { inflateEnd(&stream) }
        compressedInput.deallocate()
        try? handle.close()
    }

    /// Up to `count` bytes; fewer only at the end of the data.
    public func read(upTo count: Int) throws -> [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(min(count, 1 << 20))
        while result.count < count {
            if pendingOffset == pending.count {
                pending = try nextPiece()
                pendingOffset = 0
                if pending.isEmpty { break }
            }
            let take = min(count - result.count, pending.count - pendingOffset)
            result.append(contentsOf: pending[pendingOffset..<(pendingOffset + take)])
            pendingOffset += take
        }
        bytesDelivered += result.count
        return result
    }

    /// Exactly `count` bytes, or an error saying how many were there.
    public func readExactly(_ count: Int, what: String) throws -> [UInt8] {
        let bytes = try read(upTo: count)
        guard bytes.count == count else {
            throw ReptileError(path: path, "the file ends early: \(what) needs \(count) bytes but only \(bytes.count) remain",
                               fix: "the file is truncated; download or copy it again")
        }
        return bytes
    }

    /// True when no byte is left.
    public func atEnd() throws -> Bool {
        if pendingOffset < pending.count { return false }
        pending = try nextPiece()
        pendingOffset = 0
        return pending.isEmpty
    }

    private func nextPiece() throws -> [UInt8] {
        if !isGzip {
            return [UInt8](try handle.read(upToCount: Self.pieceSize) ?? Data())
        }
        var output = [UInt8](repeating: 0, count: Self.pieceSize)
        var produced = 0
        while produced < Self.pieceSize {
            if stream.avail_in == 0 {
                let data = try handle.read(upToCount: Self.pieceSize) ?? Data()
                if data.isEmpty {
                    guard !memberOpen else {
                        throw ReptileError(path: path, "the gzip data is cut short (after \(bytesDelivered + produced) decompressed bytes)",
                                           fix: "the download or copy is incomplete; fetch the file again")
                    }
                    break
                }
                data.copyBytes(to: compressedInput, count: data.count)
                stream.next_in = compressedInput
                stream.avail_in = UInt32(data.count)
            }
            if !memberOpen {
                // Data after a finished member is the next member (concatenated .gz files are valid gzip).
                guard inflateReset(&stream) == Z_OK else { throw ReptileError(path: path, "cannot restart gzip decompression") }
                memberOpen = true
            }
            let status: Int32 = output.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress! + produced
                stream.avail_out = UInt32(Self.pieceSize - produced)
                let status = inflate(&stream, Z_NO_FLUSH)
                produced = Self.pieceSize - Int(stream.avail_out)
                return status
            }
            switch status {
            case Z_STREAM_END:
                memberOpen = false
            case Z_OK, Z_BUF_ERROR:
                continue
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw ReptileError(path: path, "the gzip data is corrupt (\(message)) after \(bytesDelivered + produced) decompressed bytes",
                                   fix: "fetch the file again")
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    private static let pieceSize = 1 << 20
}
