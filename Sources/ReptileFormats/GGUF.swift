#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ReptileCore

/// One metadata value of a GGUF file (llama.cpp's format for quantised models).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer that fits an `Int`.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(exactly: v)
        default: nil
        }
    }

    /// Any number (integers widened).
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: intValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// An array whose every element is a string.
    public var stringArray: [String]? {
        guard case .array(let values) = self else { return nil }
        var strings: [String] = []
        strings.reserveCapacity(values.count)
        for value in values {
            guard case .string(let s) = value else { return nil }
            strings.append(s)
        }
        return strings
    }

    /// An array whose every element is an integer that fits an `Int`.
    public var intArray: [Int]? {
        guard case .array(let values) = self else { return nil }
        var ints: [Int] = []
        ints.reserveCapacity(values.count)
        for value in values {
            guard let i = value.intValue else { return nil }
            ints.append(i)
        }
        return ints
    }
}

/// A tensor's entry in a GGUF file's header.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Row-major, outermost first (a PyTorch `[out, in]` linear weight): GGUF's `ne` reversed.
    public let shape: [Int]
    /// ggml's name of the element type: "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", ...
    public let typeName: String
    public let elementCount: Int
    /// ggml's type id (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 8 Q8_0, 30 BF16, ...).
    public let typeID: Int
    /// Offset of the tensor's bytes from the start of the file.
    public let fileOffset: Int
    /// Bytes the tensor takes in the file.
    public let byteCount: Int
}

/// A GGUF file (v2 or v3), memory-mapped: the header, every metadata key/value and the tensor
/// infos are read on opening (each count, length and extent checked against the file's size before
/// anything is allocated); tensors are dequantised to Float32 when asked for.
public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// In file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment` (32 when absent).
    public let alignment: Int
    /// Offset of the tensor data section from the start of the file.
    public let dataOffset: Int
    public let fileSize: Int

    private let mapping: UnsafeMutableRawPointer?
    private let tensorIndex: [String: Int]
    private var path: String { url.path }

    /// Nested arrays deeper than this are refused (the format's writers produce depth 1).
    static let maximumArrayDepth = 8
    /// ggml's tensors have at most 4 dimensions; allow a little more.
    static let maximumDimensions = 8

    public init(contentsOf url: URL) throws {
        self.url = url
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such file", fix: "check the path")
        }
        guard !isDirectory.boolValue else {
            throw ReptileError(path: path, "is a folder, expected a .gguf file", fix: "give the file's path")
        }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw ReptileError(path: path, "cannot open the file", fix: "check its permissions")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ReptileError(path: path, "cannot read the file's size", fix: "check its permissions")
        }
        let size = Int(status.st_size)
        fileSize = size
        guard size >= 24 else {
            throw ReptileError(path: path, "too short to be a GGUF file (\(size) bytes)", fix: "the file is cut short; download it again")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw ReptileError(path: path, "cannot memory-map the file (\(String(cString: strerror(errno))))")
        }
        mapping = base
        // From here on, any failure must unmap: parse into locals, then store.
        do {
            var reader = Reader(base: UnsafeRawPointer(base), size: size, path: path)
            let header = try Self.parse(&reader, path: path, fileSize: size)
            version = header.version
            metadata = header.metadata
            tensors = header.tensors
            alignment = header.alignment
            dataOffset = header.dataOffset
            tensorIndex = header.index
        } catch {
            munmap(base, size)
            throw error
        }
    }

    deinit {
        if let mapping { munmap(mapping, fileSize) }
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor named `name`, or a one-line error naming the file.
    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let info = tensor(named: name) else {
            throw ReptileError(path: path, "has no tensor \(quoted(name))", fix: "check that the file holds this model")
        }
        return info
    }

    /// The tensor's raw bytes in the mapped file (valid while this object lives).
    public func withRawBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let info = try requireTensor(name)
        return try body(UnsafeRawBufferPointer(start: UnsafeRawPointer(mapping!) + info.fileOffset, count: info.byteCount))
    }

    /// Whether `dequantize` can read this element type.
    public static func canDequantize(typeName: String) -> Bool {
        ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"].contains(typeName)
    }

    /// Dequantises the tensor to Float32 into `destination`, whose count must equal its element count.
    public func dequantize(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let info = try requireDequantisable(name)
        guard destination.count == info.elementCount, let output = destination.baseAddress else {
            throw ReptileError(path: path, location: "tensor \(quoted(name))",
                               "has \(info.elementCount) values but the destination holds \(destination.count)")
        }
        let source = UnsafeRawPointer(mapping!) + info.fileOffset
        let count = info.elementCount
        switch info.typeID {
        case GGMLType.f32.rawValue: GGUFKernels.f32(source, output, count)
        case GGMLType.f16.rawValue: GGUFKernels.f16(source, output, count)
        case GGMLType.bf16.rawValue: GGUFKernels.bf16(source, output, count)
        case GGMLType.q8_0.rawValue: GGUFKernels.q8_0(source, output, count / 32)
        case GGMLType.q4_0.rawValue: GGUFKernels.q4_0(source, output, count / 32)
        case GGMLType.q4_1.rawValue: GGUFKernels.q4_1(source, output, count / 32)
        default:
            preconditionFailure("canDequantize and the kernels disagree on \(info.typeName)")
        }
    }

    /// The tensor named `name` if `dequantize` reads its type, else a one-line error naming the tensor and its type.
    public func requireDequantisable(_ name: String) throws -> GGUFTensorInfo {
        let info = try requireTensor(name)
        guard Self.canDequantize(typeName: info.typeName) else {
            throw ReptileError(path: path, location: "tensor \(quoted(name))", "has type \(info.typeName), which Reptile cannot dequantise",
                               fix: "use a file quantised as F32, F16, BF16, Q8_0, Q4_0 or Q4_1")
        }
        return info
    }

    /// The tensor dequantised to Float32, row-major in `shape` order.
    public func float32(_ name: String) throws -> [Float] {
        // Refused before allocating.
        let info = try requireDequantisable(name)
        var thrown: Error?
        let values = [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, initialized in
            do { try dequantize(name, into: buffer) } catch { thrown = error; buffer.initialize(repeating: 0) }
            initialized = info.elementCount
        }
        if let thrown { throw thrown }
        return values
    }

    // MARK: - Parsing

    private struct Header {
        var version: Int
        var metadata: [String: GGUFValue]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int
        var index: [String: Int]
    }

    private static func parse(_ reader: inout Reader, path: String, fileSize: Int) throws -> Header {
        let magic = try reader.bytes(4, what: "the magic number")
        guard magic.elementsEqual("GGUF".utf8) else {
            throw ReptileError(path: path, "is not a GGUF file (it does not start with \"GGUF\")", fix: "give a .gguf model file")
        }
        let rawVersion = try reader.u32(what: "the version")
        guard rawVersion == 2 || rawVersion == 3 else {
            if rawVersion == 1 {
                throw ReptileError(path: path, "is GGUF version 1, which Reptile does not read", fix: "convert it with a current llama.cpp")
            }
            if rawVersion.byteSwapped == 2 || rawVersion.byteSwapped == 3 {
                throw ReptileError(path: path, "is a big-endian GGUF file, which Reptile does not read", fix: "use the little-endian file")
            }
            throw ReptileError(path: path, "has GGUF version \(rawVersion); Reptile reads versions 2 and 3", fix: "the file is damaged or newer than Reptile")
        }
        let tensorCount = try reader.count(what: "the tensor count")
        let keyValueCount = try reader.count(what: "the metadata count")
        // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info 8 + 4 + 4 + 8.
        guard keyValueCount <= reader.remaining / 13 else {
            throw ReptileError(path: path, "claims \(keyValueCount) metadata entries, more than its \(fileSize) bytes can hold",
                               fix: "the file is damaged or cut short; download it again")
        }
        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(keyValueCount)
        for entry in 0..<keyValueCount {
            let key = try reader.string(what: "metadata entry \(entry + 1)'s key")
            let type = try reader.u32(what: "the type of metadata \(quoted(key))")
            let value = try reader.value(type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw ReptileError(path: path, "holds metadata key \(quoted(key)) twice", fix: "the file is damaged")
            }
        }
        guard tensorCount <= reader.remaining / 24 else {
            throw ReptileError(path: path, "claims \(tensorCount) tensors, more than its \(fileSize) bytes can hold",
                               fix: "the file is damaged or cut short; download it again")
        }
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw ReptileError(path: path, "general.alignment is \(value), not a power of two", fix: "the file is damaged")
            }
            alignment = a
        }
        struct Pending { var name: String; var ne: [Int]; var type: Int; var offset: Int }
        var pending: [Pending] = []
        pending.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        index.reserveCapacity(tensorCount)
        for number in 0..<tensorCount {
            let name = try reader.string(what: "tensor \(number + 1)'s name")
            let dimensions = Int(try reader.u32(what: "the dimension count of tensor \(quoted(name))"))
            guard dimensions >= 1, dimensions <= maximumDimensions else {
                throw ReptileError(path: path, location: "tensor \(quoted(name))", "has \(dimensions) dimensions", fix: "the file is damaged")
            }
            var ne: [Int] = []
            for _ in 0..<dimensions {
                let raw = try reader.u64(what: "the shape of tensor \(quoted(name))")
                guard let n = Int(exactly: raw), n <= fileSize * 8 else {
                    throw ReptileError(path: path, location: "tensor \(quoted(name))", "has a dimension of \(raw)", fix: "the file is damaged")
                }
                ne.append(n)
            }
            let type = Int(try reader.u32(what: "the type of tensor \(quoted(name))"))
            let rawOffset = try reader.u64(what: "the offset of tensor \(quoted(name))")
            guard let offset = Int(exactly: rawOffset), offset <= fileSize else {
                throw ReptileError(path: path, location: "tensor \(quoted(name))", "starts at byte \(rawOffset) of the data section, past the end of the \(fileSize)-byte file",
                                   fix: "the file is damaged or cut short; download it again")
            }
            guard index.updateValue(number, forKey: name) == nil else {
                throw ReptileError(path: path, "holds tensor \(quoted(name)) twice", fix: "the file is damaged")
            }
            pending.append(Pending(name: name, ne: ne, type: type, offset: offset))
        }
        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        for item in pending {
            let location = "tensor \(quoted(item.name))"
            guard let type = GGMLType(rawValue: item.type) else {
                throw ReptileError(path: path, location: location, "has unknown ggml type id \(item.type)",
                                   fix: "the file is damaged or newer than Reptile")
            }
            var count = 1
            for n in item.ne {
                let (product, overflow) = count.multipliedReportingOverflow(by: n)
                guard !overflow, product <= fileSize * 8 else {
                    throw ReptileError(path: path, location: location, "has shape \(Array(item.ne.reversed())) (\(type.name)), larger than the file",
                                       fix: "the file is damaged")
                }
                count = product
            }
            let (blockSize, typeSize) = type.blockLayout
            guard item.ne[0] % blockSize == 0 else {
                throw ReptileError(path: path, location: location, "has rows of \(item.ne[0]) values, not a multiple of \(type.name)'s block of \(blockSize)",
                                   fix: "the file is damaged")
            }
            let byteCount = count / blockSize * typeSize
            guard item.offset % alignment == 0 else {
                throw ReptileError(path: path, location: location, "starts at data offset \(item.offset), not a multiple of the alignment \(alignment)",
                                   fix: "the file is damaged")
            }
            let start = dataOffset + item.offset
            guard start <= fileSize, byteCount <= fileSize - start else {
                throw ReptileError(path: path, location: location,
                                   "takes bytes \(start)..<\(start + byteCount), past the end of the \(fileSize)-byte file",
                                   fix: "the file is cut short or damaged; download it again")
            }
            tensors.append(GGUFTensorInfo(name: item.name, shape: item.ne.reversed(), typeName: type.name, elementCount: count,
                                          typeID: item.type, fileOffset: start, byteCount: byteCount))
        }
        return Header(version: Int(rawVersion), metadata: metadata, tensors: tensors, alignment: alignment,
                      dataOffset: dataOffset, index: index)
    }

    /// A bounds-checked little-endian cursor over the mapped header.
    private struct Reader {
        let base: UnsafeRawPointer
        let size: Int
        let path: String
        var offset = 0

        init(base: UnsafeRawPointer, size: Int, path: String) {
            self.base = base
            self.size = size
            self.path = path
        }

        var remaining: Int { size - offset }

        func truncated(_ what: String, needing bytes: Int) -> ReptileError {
            ReptileError(path: path, "is cut short: \(what) needs \(bytes) bytes at offset \(offset) of a \(size)-byte file",
                         fix: "the file is truncated or damaged; download it again")
        }

        mutating func need(_ count: Int, _ what: @autoclosure () -> String) throws {
            guard count >= 0, count <= remaining else { throw truncated(what(), needing: count) }
        }

        mutating func load<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws -> T {
            try need(MemoryLayout<T>.size, what())
            let value = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
            offset += MemoryLayout<T>.size
            return value
        }

        mutating func u32(what: @autoclosure () -> String) throws -> UInt32 { try load(UInt32.self, what()) }
        mutating func u64(what: @autoclosure () -> String) throws -> UInt64 { try load(UInt64.self, what()) }

        /// A 64-bit count that must fit the file.
        mutating func count(what: @autoclosure () -> String) throws -> Int {
            let raw = try u64(what: what())
            guard let n = Int(exactly: raw), n <= size else {
                throw ReptileError(path: path, "\(what()) is \(raw), more than the \(size)-byte file can hold",
                                   fix: "the file is damaged or not GGUF")
            }
            return n
        }

        mutating func bytes(_ count: Int, what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
            try need(count, what())
            let buffer = UnsafeRawBufferPointer(start: base + offset, count: count)
            offset += count
            return buffer
        }

        mutating func string(what: @autoclosure () -> String) throws -> String {
            let raw = try u64(what: what())
            guard let length = Int(exactly: raw), length <= remaining else {
                throw ReptileError(path: path, "\(what()) claims a \(raw)-byte string at offset \(offset - 8), past the end of the \(size)-byte file",
                                   fix: "the file is damaged or cut short; download it again")
            }
            let buffer = UnsafeRawBufferPointer(start: base + offset, count: length)
            offset += length
            return String(decoding: buffer, as: UTF8.self)
        }

        static func fixedSize(_ type: UInt32) -> Int? {
            switch type {
            case 0, 1, 7: 1
            case 2, 3: 2
            case 4, 5, 6: 4
            case 10, 11, 12: 8
            default: nil
            }
        }

        mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
            func what() -> String { "metadata \(quoted(key))" }  // only built for an error
            switch type {
            case 0: return .uint8(try load(UInt8.self, what()))
            case 1: return .int8(try load(Int8.self, what()))
            case 2: return .uint16(try load(UInt16.self, what()))
            case 3: return .int16(try load(Int16.self, what()))
            case 4: return .uint32(try load(UInt32.self, what()))
            case 5: return .int32(try load(Int32.self, what()))
            case 6: return .float32(Float(bitPattern: try load(UInt32.self, what())))
            case 7:
                let byte = try load(UInt8.self, what())
                guard byte <= 1 else {
                    throw ReptileError(path: path, location: what(), "holds boolean byte \(byte), not 0 or 1", fix: "the file is damaged")
                }
                return .bool(byte == 1)
            case 8: return .string(try string(what: what()))
            case 10: return .uint64(try load(UInt64.self, what()))
            case 11: return .int64(try load(Int64.self, what()))
            case 12: return .float64(Double(bitPattern: try load(UInt64.self, what())))
            case 9:
                guard depth < GGUFFile.maximumArrayDepth else {
                    throw ReptileError(path: path, location: what(), "nests arrays deeper than \(GGUFFile.maximumArrayDepth)", fix: "the file is damaged")
                }
                let elementType = try u32(what: what())
                let rawCount = try u64(what: what())
                // Strings take at least 8 bytes, arrays 12, other values their size.
                let minimum = Self.fixedSize(elementType) ?? (elementType == 8 ? 8 : elementType == 9 ? 12 : 1)
                guard let count = Int(exactly: rawCount), count <= remaining / minimum else {
                    throw ReptileError(path: path, location: what(), "claims an array of \(rawCount) values at offset \(offset - 12), more than the \(size)-byte file holds",
                                       fix: "the file is damaged or cut short; download it again")
                }
                guard Self.fixedSize(elementType) != nil || elementType == 8 || elementType == 9 else {
                    throw ReptileError(path: path, location: what(), "has an array of unknown value type \(elementType)", fix: "the file is damaged or newer than Reptile")
                }
                var values: [GGUFValue] = []
                values.reserveCapacity(count)
                for _ in 0..<count { values.append(try value(type: elementType, key: key, depth: depth + 1)) }
                return .array(values)
            default:
                throw ReptileError(path: path, location: what(), "has unknown value type \(type)", fix: "the file is damaged or newer than Reptile")
            }
        }
    }
}

/// ggml's element types: id, name, and (values per block, bytes per block).
enum GGMLType: Int, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f64: "F64"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        default:
            // q4_K → Q4_K, iq2_XXS → IQ2_XXS, mxfp4 → MXFP4.
            String(describing: self).uppercased()
        }
    }

    var blockLayout: (values: Int, bytes: Int) {
        let k = 256
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 40)
        case .q2_K: return (k, 4 + k / 16 + k / 4)
        case .q3_K: return (k, 2 + k / 4 + k / 8 + 12)
        case .q4_K: return (k, 4 + k / 2 + 12)
        case .q5_K: return (k, 4 + k / 2 + k / 8 + 12)
        case .q6_K: return (k, 2 + k / 2 + k / 4 + k / 16)
        case .q8_K: return (k, 4 + k + k / 8)
        case .iq2_XXS: return (k, 2 + k / 4)
        case .iq2_XS: return (k, 2 + k / 4 + k / 32)
        case .iq3_XXS: return (k, 2 + k / 4 + k / 8)
        case .iq1_S: return (k, 2 + k / 8 + k / 16)
        case .iq4_NL: return (32, 18)
        case .iq3_S: return (k, 2 + k / 4 + k / 8 + k / 32 + 4)
        case .iq2_S: return (k, 2 + k / 4 + k / 16)
        case .iq4_XS: return (k, 4 + k / 2 + k / 64)
        case .i8: return (1, 1)
        case .i16: return (1, 2)
        case .i32: return (1, 4)
        case .i64, .f64: return (1, 8)
        case .iq1_M: return (k, k / 8 + k / 16 + k / 32)
        case .tq1_0: return (k, 2 + 4 * 13)
        case .tq2_0: return (k, 2 + 64)
        case .mxfp4: return (32, 17)
        }
    }
}

/// The dequantisation loops, over raw little-endian bytes (ggml's block layouts). Each value is
/// computed exactly as the `gguf` Python package computes it (Float32 `d * q` then `+ m`).
enum GGUFKernels {
    /// Every half-precision bit pattern widened to Float32 (exact): 256 KB, built once.
    static let halfTable: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

    @inline(__always)
    static func half(_ pointer: UnsafeRawPointer, _ offset: Int, _ table: UnsafePointer<Float>) -> Float {
        table[Int(UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))]
    }

    static func f32(_ source: UnsafeRawPointer, _ output: UnsafeMutablePointer<Float>, _ count: Int) {
        #if _endian(little)
        UnsafeMutableRawPointer(output).copyMemory(from: source, byteCount: 4 * count)
        #else
        for i in 0..<count { output[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        #endif
    }

    static func f16(_ source: UnsafeRawPointer, _ output: UnsafeMutablePointer<Float>, _ count: Int) {
        halfTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            for i in 0..<count { output[i] = half(source, 2 * i, t) }
        }
    }

    static func bf16(_ source: UnsafeRawPointer, _ output: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            output[i] = Float(bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
        }
    }

    /// Q8_0: per 32 values, f16 scale d then 32 signed bytes q; value d * q.
    static func q8_0(_ source: UnsafeRawPointer, _ output: UnsafeMutablePointer<Float>, _ blocks: Int) {
        halfTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            for b in 0..<blocks {
                let block = source + 34 * b
                let d = half(block, 0, t)
                let q = (block + 2).assumingMemoryBound(to: Int8.self)
                let out = output + 32 * b
                for j in 0..<32 { out[j] = d * Float(q[j]) }
            }
        }
    }

    /// Q4_0: per 32 values, f16 scale d then 16 bytes; byte j holds value j (low nibble) and j+16
    /// (high nibble); value d * (q - 8).
    static func q4_0(_ source: UnsafeRawPointer, _ output: UnsafeMutablePointer<Float>, _ blocks: Int) {
        halfTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            for b in 0..<blocks {
                let block = source + 18 * b
                let d = half(block, 0, t)
                let q = (block + 2).assumingMemoryBound(to: UInt8.self)
                let out = output + 32 * b
                for j in 0..<16 {
                    let byte = q[j]
                    out[j] = d * Float(Int8(bitPattern: byte & 0x0F) &- 8)
                    out[j + 16] = d * Float(Int8(bitPattern: byte >> 4) &- 8)
                }
            }
        }
    }

    /// Q4_1: per 32 values, f16 scale d, f16 minimum m, then 16 bytes as Q4_0; value d * q + m.
    static func q4_1(_ source: UnsafeRawPointer, _ output: UnsafeMutablePointer<Float>, _ blocks: Int) {
        halfTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            for b in 0..<blocks {
                let block = source + 20 * b
                let d = half(block, 0, t)
                let m = half(block, 2, t)
                let q = (block + 4).assumingMemoryBound(to: UInt8.self)
                let out = output + 32 * b
                for j in 0..<16 {
                    let byte = q[j]
                    out[j] = d * Float(byte & 0x0F) + m
                    out[j + 16] = d * Float(byte >> 4) + m
                }
            }
        }
    }
}
