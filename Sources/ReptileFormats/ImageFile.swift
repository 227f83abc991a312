import Foundation
import ReptileCore

/// The image files ingest and classify read, told apart by their first bytes, not their names.
public enum ImageFile {
    /// File name endings accepted in an image folder (compared lower-cased).
    public static let extensions = [".png", ".jpg", ".jpeg"]

    public static func hasImageExtension(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return extensions.contains { lowered.hasSuffix($0) }
    }

    /// Decodes a PNG or a JPEG to `channels` (1, 3, or nil for the file's own).
    public static func read(at path: String, channels: Int?) throws -> PixelImage {
        try isJPEG(path) ? JPEGFile.read(at: path, channels: channels) : PNGFile.read(at: path, channels: channels)
    }

    /// Width, height and channels of a PNG or a JPEG without decoding its pixels.
    public static func readHeader(at path: String) throws -> (width: Int, height: Int, channels: Int) {
        try isJPEG(path) ? JPEGFile.readHeader(at: path) : PNGFile.readHeader(at: path)
    }

    /// The PNG signature's first four bytes (\x89 P N G).
    private static let pngStart: [UInt8] = [0x89, 0x50, 0x4E, 0x47]

    /// True for a file that starts like a JPEG; false for one that starts like a PNG, or is empty or
    /// unreadable (the PNG reader names those); an error for anything else, whatever its name says.
    private static func isJPEG(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let start = Array((try? handle.read(upToCount: 4)) ?? Data())
        if start.isEmpty || start == pngStart { return false }
        if start.starts(with: JPEGFile.signature) { return true }
        let shown = start.map { String(format: "%02X", $0) }.joined(separator: " ")
        throw ReptileError(path: path, "is neither a PNG nor a JPEG image (it starts with bytes \(shown))",
                           fix: "convert it to PNG or JPEG, or remove it")
    }
}
