import Foundation
import ReptileCore

/// A `.safetensors` file (Hugging Face weights): an 8-byte little-endian header length, a JSON
/// header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
/// Only the header is read on opening; each tensor is read when asked for.
public struct SafeTensorsFile: Sendable {
    public enum DataType: String, Sendable {
        case float32 = "F32", float16 = "F16", bfloat16 = "BF16", int64 = "I64", int32 = "I32"

        var byteCount: Int {
            switch self {
            case .float32, .int32: 4
            case .float16, .bfloat16: 2
            case .int64: 8
            }
        }
    }

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dataType: DataType
        public var shape: [Int]
        /// Byte range within the data section (after the header).
        public var byteRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let dataStart: Int

    /// The header may not exceed this (the format's own readers use 100 MB).
    static let maximumHeaderBytes = 100_000_000

    public init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReptileError(path: path, "cannot open the weights file", fix: "check that the model folder holds model.safetensors")
        }
        defer { try? handle.close() }
        let fileSize = Int((try? handle.seekToEnd()) ?? 0)
        try handle.seek(toOffset: 0)
        let lengthBytes = [UInt8](try handle.read(upToCount: 8) ?? Data())
        guard lengthBytes.count == 8 else {
            throw ReptileError(path: path, "too short to be a safetensors file (\(fileSize) bytes)", fix: "download the weights again")
        }
        let headerLength = lengthBytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard headerLength > 1, headerLength <= Self.maximumHeaderBytes, headerLength <= fileSize - 8 else {
            throw ReptileError(path: path, "the safetensors header claims \(headerLength) bytes in a \(fileSize)-byte file",
                               fix: "the file is damaged or not safetensors; download it again")
        }
        let headerData = try handle.read(upToCount: headerLength) ?? Data()
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw ReptileError(path: path, "the safetensors header is not a JSON object", fix: "download the weights again")
        }
        dataStart = 8 + headerLength
        let dataSize = fileSize - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (key, text) in value as? [String: Any] ?? [:] { metadata[key] = text as? String }
                continue
            }
            guard let fields = value as? [String: Any], let typeName = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ReptileError(path: path, location: "tensor \(quoted(name))", "lacks dtype, shape or data_offsets", fix: "the header is damaged")
            }
            guard let dataType = DataType(rawValue: typeName) else {
                throw ReptileError(path: path, location: "tensor \(quoted(name))", "dtype \(typeName) is not supported",
                                   fix: "convert the weights to F32, F16 or BF16")
            }
            let entry = Entry(name: name, dataType: dataType, shape: shape, byteRange: offsets[0]..<max(offsets[0], offsets[1]))
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= dataSize, shape.allSatisfy({ $0 >= 0 }),
                  entry.elementCount * dataType.byteCount == offsets[1] - offsets[0] else {
                throw ReptileError(path: path, location: "tensor \(quoted(name))",
                                   "shape \(shape) of \(typeName) does not fit bytes \(offsets) of a \(dataSize)-byte data section",
                                   fix: "the file is damaged or cut short; download it again")
            }
            entries[name] = entry
        }
        self.entries = entries
        self.metadata = metadata
    }

    private func bytes(of entry: Entry) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReptileError(path: path, "cannot open the weights file", fix: "check its permissions")
        }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(dataStart + entry.byteRange.lowerBound))
        let data = try handle.read(upToCount: entry.byteRange.count) ?? Data()
        guard data.count == entry.byteRange.count else {
            throw ReptileError(path: path, location: "tensor \(quoted(entry.name))", "is cut short", fix: "download the weights again")
        }
        return data
    }

    public func entry(_ name: String) throws -> Entry {
        guard let entry = entries[name] else {
            throw ReptileError(path: path, "has no tensor \(quoted(name))", fix: "check that the weights belong to this model")
        }
        return entry
    }

    /// A floating-point tensor as Float32 (F16 and BF16 widened exactly).
    public func floats(_ name: String) throws -> [Float] {
        let entry = try entry(name)
        let data = try bytes(of: entry)
        return data.withUnsafeBytes { raw -> [Float] in
            switch entry.dataType {
            case .float32:
                #if _endian(little)
                // One copy: a model's 20M+ weights load in milliseconds, even in a debug build.
                return [Float](unsafeUninitializedCapacity: entry.elementCount) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(4 * entry.elementCount)]))
                    initialized = entry.elementCount
                }
                #else
                return (0..<entry.elementCount).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
                #endif
            case .float16:
                return (0..<entry.elementCount).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) }
            case .bfloat16:
                return (0..<entry.elementCount).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            case .int64:
                return (0..<entry.elementCount).map { Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            case .int32:
                return (0..<entry.elementCount).map { Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            }
        }
    }
}
