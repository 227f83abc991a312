import CHDF5
import Foundation
import ReptileCore

// A small, safe layer over the HDF5 C library: ids closed by deinit, every failure a ReptileError,
// and every call under one lock, because the serial HDF5 build is not thread-safe and tests run
// concurrently.

private let hdf5Lock = NSRecursiveLock()

func withHDF5<T>(_ body: () throws -> T) rethrows -> T {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    // This HDF5 is built thread-safe, where the automatic error printing is set per thread: off
    // on every thread that calls it, so bad input never prints HDF5-DIAG stacks, only Reptile's line.
    reptile_h5_silence_errors()
    return try body()
}

private let hdf5Initialised: Bool = {
    withHDF5 {
        _ = H5open()
        reptile_h5_silence_errors()
    }
    return true
}()

private let defaultProperties = hid_t(H5P_DEFAULT)

/// HDF5 1.10 trusts the sizes inside a global heap collection (where variable-length strings
/// live): a damaged one makes it copy past its buffers or loop for ever. So every collection
/// (signature "GCOL", version 1) must fit in the file, and its objects must fit in it. The file
/// is read in blocks of 1 MiB, so memory stays small whatever its size.
func checkGlobalHeaps(_ path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return }  // HDF5's own open says why
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { return }
    let fileSize = Int(status.st_size)
    let damaged = ReptileError(path: path, "has a damaged global heap (where its strings are kept)", fix: "the file is damaged or crafted; re-create it")
    /// Little-endian unsigned integer of `count` bytes at `offset`, nil past the end of the file.
    func word(_ offset: Int, _ count: Int) -> UInt64? {
        var bytes = [UInt8](repeating: 0, count: count)
        guard offset + count <= fileSize, pread(descriptor, &bytes, count, off_t(offset)) == count else { return nil }
        return bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
    func checkCollection(at start: Int) throws {
        // Version 1 and three reserved zero bytes: otherwise these are just bytes that spell GCOL.
        guard word(start + 4, 4) == 1, let size = word(start + 8, 8) else { return }
        guard size >= 16, size <= UInt64(fileSize - start) else { throw damaged }
        // The walk HDF5 makes: an object takes its 16-byte header plus its size rounded up to 8;
        // free space (index 0) takes its size, header included. Each must fit and move on.
        let end = start + Int(size)
        var position = start + 16
        while position + 16 <= end {
            guard let index = word(position, 2), let objectSize = word(position + 8, 8), objectSize <= UInt64(end - position) else { throw damaged }
            let need = index == 0 ? objectSize : 16 + (objectSize + 7) / 8 * 8
            guard need >= 16, need <= UInt64(end - position) else { throw damaged }
            position += Int(need)
        }
    }
    let blockSize = 1 << 20
    var block = [UInt8](repeating: 0, count: blockSize + 3)
    var blockStart = 0
    while blockStart < fileSize {
        // Each block overlaps the next by three bytes, so a signature across the boundary is seen.
        let count = pread(descriptor, &block, min(blockSize + 3, fileSize - blockStart), off_t(blockStart))
        guard count > 0 else { break }
        var offset = 0
        while offset + 4 <= count {
            // memchr jumps to the next "G"; then the other three letters of "GCOL".
            let next: Int? = block.withUnsafeBytes { raw in
                guard let base = raw.baseAddress, let found = memchr(base + offset, 0x47, count - offset) else { return nil }
                return base.distance(to: UnsafeRawPointer(found))
            }
            guard let next else { break }
            offset = next
            if offset + 4 <= count, block[offset + 1] == 0x43, block[offset + 2] == 0x4F, block[offset + 3] == 0x4C {
                try checkCollection(at: blockStart + offset)
            }
            offset += 1
        }
        blockStart += blockSize
    }
}

/// An HDF5 id that closes itself.
final class HDF5Handle {
    let id: hid_t
    private let closeFunction: (hid_t) -> herr_t

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t, path: String, failure: @autoclosure () -> String) throws {
        guard id >= 0 else {
            throw ReptileError(path: path, failure(), fix: "check that the file is a complete HDF5 file written by Reptile or h5py")
        }
        self.id = id
        self.closeFunction = close
    }

    deinit { withHDF5 { _ = closeFunction(id) } }
}

/// The element types Reptile stores.
public enum HDF5ElementType: Sendable, Equatable {
    case uint8, int64, float32, string

    var fileType: hid_t {
        switch self {
        case .uint8: reptile_h5t_std_u8le()
        case .int64: reptile_h5t_std_i64le()
        case .float32: reptile_h5t_ieee_f32le()
        case .string: -1
        }
    }

    var memoryType: hid_t {
        switch self {
        case .uint8: reptile_h5t_native_uint8()
        case .int64: reptile_h5t_native_int64()
        case .float32: reptile_h5t_native_float()
        case .string: -1
        }
    }

    var byteCount: Int {
        switch self {
        case .uint8: 1
        case .int64: 8
        case .float32: 4
        case .string: MemoryLayout<UnsafeMutablePointer<CChar>?>.size
        }
    }
}

/// A variable-length UTF-8 string type (how h5py stores `str`).
private func makeStringType(path: String) throws -> HDF5Handle {
    let type = try HDF5Handle(H5Tcopy(reptile_h5t_c_s1()), close: H5Tclose, path: path, failure: "cannot make a string type")
    H5Tset_size(type.id, reptile_h5t_variable())
    H5Tset_cset(type.id, H5T_CSET_UTF8)
    return type
}

public final class HDF5File {
    public let path: String
    let handle: HDF5Handle

    private init(path: String, handle: HDF5Handle) {
        self.path = path
        self.handle = handle
    }

    /// Creates a new file (an existing one is an error). No object time stamps, so the same
    /// content gives the same bytes.
    public static func create(at path: String) throws -> HDF5File {
        _ = hdf5Initialised
        return try withHDF5 {
            let creation = try HDF5Handle(H5Pcreate(reptile_h5p_file_create()), close: H5Pclose, path: path,
                                          failure: "cannot make a file creation property list")
            H5Pset_obj_track_times(creation.id, false)
            let id = H5Fcreate(path, reptile_h5f_acc_excl(), creation.id, defaultProperties)
            let handle = try HDF5Handle(id, close: H5Fclose, path: path, failure: "cannot create the HDF5 file")
            return HDF5File(path: path, handle: handle)
        }
    }

    public static func open(at path: String) throws -> HDF5File {
        _ = hdf5Initialised
        guard FileManager.default.fileExists(atPath: path) else {
            throw ReptileError(path: path, "no such file", fix: "check the path")
        }
        try checkGlobalHeaps(path)
        return try withHDF5 {
            guard H5Fis_hdf5(path) > 0 else {
                throw ReptileError(path: path, "not an HDF5 file", fix: "give a shard written by Reptile (.h5)")
            }
            let id = H5Fopen(path, reptile_h5f_acc_rdonly(), defaultProperties)
            let handle = try HDF5Handle(id, close: H5Fclose, path: path, failure: "cannot open the HDF5 file (damaged or cut short?)")
            return HDF5File(path: path, handle: handle)
        }
    }

    /// Writes everything buffered to the file (before fsync and rename).
    public func flush() throws {
        try withHDF5 {
            guard H5Fflush(handle.id, H5F_SCOPE_GLOBAL) >= 0 else {
                throw ReptileError(path: path, "cannot flush the HDF5 file", fix: "check free disk space")
            }
        }
    }

    /// Creates every missing group on the way to `name` (`a/b/c` → groups `a` and `a/b`), without
    /// time stamps so that the same content gives the same bytes.
    public func createIntermediateGroups(for name: String) throws {
        let components = name.split(separator: "/", omittingEmptySubsequences: true).dropLast()
        var prefix = ""
        for component in components {
            prefix += (prefix.isEmpty ? "" : "/") + component
            try withHDF5 {
                guard H5Lexists(handle.id, prefix, defaultProperties) <= 0 else { return }
                let creation = try HDF5Handle(H5Pcreate(reptile_h5p_group_create()), close: H5Pclose, path: path,
                                              failure: "cannot make a group property list")
                H5Pset_obj_track_times(creation.id, false)
                _ = try HDF5Handle(H5Gcreate2(handle.id, prefix, defaultProperties, creation.id, defaultProperties),
                                   close: H5Gclose, path: path, failure: "cannot create group \(prefix)")
            }
        }
    }

    /// Whether the root attribute `name` exists and holds a string.
    public func isStringAttribute(_ name: String) -> Bool {
        withHDF5 {
            guard H5Aexists(handle.id, name) > 0 else { return false }
            let attribute = H5Aopen(handle.id, name, defaultProperties)
            guard attribute >= 0 else { return false }
            defer { H5Aclose(attribute) }
            let type = H5Aget_type(attribute)
            guard type >= 0 else { return false }
            defer { H5Tclose(type) }
            return H5Tget_class(type) == H5T_STRING
        }
    }

    public func hasDataset(_ name: String) -> Bool {
        withHDF5 { H5Lexists(handle.id, name, defaultProperties) > 0 }
    }

    /// A dataset of fixed `shape`. `chunkShape` (with `compressed`) gives chunked, shuffled, gzip-4
    /// storage; nil gives contiguous storage.
    public func createDataset(_ name: String, type: HDF5ElementType, shape: [Int],
                              chunkShape: [Int]? = nil) throws -> HDF5Dataset {
        try withHDF5 {
            var dimensions = shape.map { hsize_t($0) }
            // Rank 0 (a scalar tensor) is HDF5's scalar dataspace.
            let spaceID = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dimensions, nil)
            let space = try HDF5Handle(spaceID, close: H5Sclose, path: path, failure: "cannot make the dataspace of \(name)")
            let creation = try HDF5Handle(H5Pcreate(reptile_h5p_dataset_create()), close: H5Pclose, path: path,
                                          failure: "cannot make a dataset property list")
            H5Pset_obj_track_times(creation.id, false)
            if let chunkShape {
                var chunk = chunkShape.map { hsize_t(max($0, 1)) }
                H5Pset_chunk(creation.id, Int32(chunk.count), &chunk)
                H5Pset_shuffle(creation.id)
                H5Pset_deflate(creation.id, 4)
            }
            let stringType = type == .string ? try makeStringType(path: path) : nil
            let fileType = stringType?.id ?? type.fileType
            let id = H5Dcreate2(handle.id, name, fileType, space.id, defaultProperties, creation.id, defaultProperties)
            let dataset = try HDF5Handle(id, close: H5Dclose, path: path, failure: "cannot create dataset \(name)")
            return HDF5Dataset(file: self, name: name, handle: dataset, type: type, shape: shape)
        }
    }

    public func dataset(_ name: String) throws -> HDF5Dataset {
        try withHDF5 {
            guard H5Lexists(handle.id, name, defaultProperties) > 0 else {
                throw ReptileError(path: path, "has no dataset \(quoted(name))", fix: "give a shard that follows the Reptile shard contract")
            }
            try checkHardLinks(name)
            let dataset = try HDF5Handle(H5Dopen2(handle.id, name, defaultProperties), close: H5Dclose, path: path,
                                         failure: "cannot open dataset \(name)")
            try checkStoredInFile(dataset, name)
            let space = try HDF5Handle(H5Dget_space(dataset.id), close: H5Sclose, path: path, failure: "cannot read the shape of \(name)")
            let rank = Int(H5Sget_simple_extent_ndims(space.id))
            var dimensions = [hsize_t](repeating: 0, count: max(rank, 0))
            H5Sget_simple_extent_dims(space.id, &dimensions, nil)
            let fileType = try HDF5Handle(H5Dget_type(dataset.id), close: H5Tclose, path: path, failure: "cannot read the type of \(name)")
            let type: HDF5ElementType
            switch (H5Tget_class(fileType.id), H5Tget_size(fileType.id), H5Tget_sign(fileType.id)) {
            case (H5T_STRING, _, _): type = .string
            case (H5T_FLOAT, _, _): type = .float32
            case (H5T_INTEGER, 1, H5T_SGN_NONE): type = .uint8
            case (H5T_INTEGER, let size, _) where size > 1: type = .int64
            case (H5T_INTEGER, 1, _):
                // Converting int8 to uint8 turns every negative value into 0, silently.
                throw ReptileError(path: path, "dataset \(quoted(name)) is int8; images must be uint8 (0–255)",
                                   fix: "store the pixels as uint8 (numpy: .astype(np.uint8))")
            default:
                throw ReptileError(path: path, "dataset \(quoted(name)) has an unsupported element type",
                                   fix: "store uint8, int64, float32 or UTF-8 strings")
            }
            let shape = try checkedShape(dimensions, name: name, dataset: dataset, elementBytes: H5Tget_size(fileType.id))
            return HDF5Dataset(file: self, name: name, handle: dataset, type: type, shape: shape)
        }
    }

    /// Every step of `name` must be a hard link: a soft or external link can point anywhere,
    /// including another file (reads outside the dataset are refused).
    private func checkHardLinks(_ name: String) throws {
        var prefix = ""
        for component in name.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty ? "" : "/") + component
            guard reptile_h5_link_type(handle.id, prefix) == reptile_h5l_type_hard() else {
                throw ReptileError(path: path, "\(quoted(prefix)) is a soft or external link, not data stored in this file",
                                   fix: "store the data in the file itself (h5py: f[name] = data, no links)")
            }
        }
    }

    /// Data must live in this file: no external raw storage (H5Pset_external) and no virtual dataset.
    private func checkStoredInFile(_ dataset: HDF5Handle, _ name: String) throws {
        let creation = try HDF5Handle(H5Dget_create_plist(dataset.id), close: H5Pclose, path: path, failure: "cannot read how \(name) is stored")
        let layout = H5Pget_layout(creation.id)
        guard layout == H5D_CONTIGUOUS || layout == H5D_CHUNKED || layout == H5D_COMPACT, H5Pget_external_count(creation.id) == 0 else {
            throw ReptileError(path: path, "dataset \(quoted(name)) keeps its data outside this file (external storage or a virtual dataset)",
                               fix: "store the data in the file itself")
        }
    }

    /// The shape as Ints, checked before anything is allocated for it: no overflow, and no more
    /// bytes than the file can hold (what is stored, times the best gzip ratio, plus slack), so
    /// a small file declaring 10¹² rows is refused instead of read as fill values for ever.
    private func checkedShape(_ dimensions: [hsize_t], name: String, dataset: HDF5Handle, elementBytes: Int) throws -> [Int] {
        var shape: [Int] = []
        var bytes = max(elementBytes, 1)
        for dimension in dimensions {
            guard let size = Int(exactly: dimension) else { bytes = Int.max; break }
            shape.append(size)
            let (product, overflow) = bytes.multipliedReportingOverflow(by: size)
            bytes = overflow ? Int.max : product
        }
        let stored = Int(clamping: H5Dget_storage_size(dataset.id))
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        let possible = min(stored, fileBytes ?? stored).multipliedReportingOverflow(by: 1100).partialValue + 65_536
        guard shape.count == dimensions.count, bytes <= possible else {
            throw ReptileError(path: path, "dataset \(quoted(name)) declares shape \(dimensions) but the file stores only \(stored) bytes of it",
                               fix: "the file is damaged or crafted; re-create it")
        }
        return shape
    }

    /// An attribute is read into room for one value: one holding several would overflow it.
    private func checkSingleValue(_ attribute: HDF5Handle, _ name: String) throws {
        let space = try HDF5Handle(H5Aget_space(attribute.id), close: H5Sclose, path: path, failure: "cannot read the shape of attribute \(name)")
        guard H5Sget_simple_extent_npoints(space.id) == 1 else {
            throw ReptileError(path: path, "attribute \(quoted(name)) holds several values where one is expected", fix: "rewrite the shard with Reptile")
        }
    }

    // MARK: Root attributes

    public func setAttribute(_ name: String, _ value: String) throws {
        try withHDF5 {
            let type = try makeStringType(path: path)
            let space = try HDF5Handle(H5Screate(H5S_SCALAR), close: H5Sclose, path: path, failure: "cannot make a scalar space")
            let attribute = try HDF5Handle(H5Acreate2(handle.id, name, type.id, space.id, defaultProperties, defaultProperties),
                                           close: H5Aclose, path: path, failure: "cannot create attribute \(name)")
            let status = value.withCString { text -> herr_t in
                var pointer: UnsafePointer<CChar>? = text
                return H5Awrite(attribute.id, type.id, &pointer)
            }
            guard status >= 0 else { throw ReptileError(path: path, "cannot write attribute \(name)") }
        }
    }

    public func setAttribute(_ name: String, _ value: Int64) throws {
        try withHDF5 {
            let space = try HDF5Handle(H5Screate(H5S_SCALAR), close: H5Sclose, path: path, failure: "cannot make a scalar space")
            let attribute = try HDF5Handle(H5Acreate2(handle.id, name, reptile_h5t_std_i64le(), space.id, defaultProperties, defaultProperties),
                                           close: H5Aclose, path: path, failure: "cannot create attribute \(name)")
            var copy = value
            guard H5Awrite(attribute.id, reptile_h5t_native_int64(), &copy) >= 0 else {
                throw ReptileError(path: path, "cannot write attribute \(name)")
            }
        }
    }

    public func attributeNames() -> [String] {
        withHDF5 {
            // Attributes hang on the root group, which must be opened as such to count them.
            let root = H5Gopen2(handle.id, "/", defaultProperties)
            guard root >= 0 else { return [] }
            defer { H5Gclose(root) }
            let count = H5Aget_num_attrs(root)
            guard count > 0 else { return [] }
            return (0..<Int(count)).compactMap { index -> String? in
                let attribute = H5Aopen_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), defaultProperties, defaultProperties)
                guard attribute >= 0 else { return nil }
                defer { H5Aclose(attribute) }
                let length = H5Aget_name(attribute, 0, nil)
                guard length > 0 else { return nil }
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                H5Aget_name(attribute, buffer.count, &buffer)
                return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
    }

    /// A string attribute (variable- or fixed-length), or nil when absent.
    public func stringAttribute(_ name: String) throws -> String? {
        try withHDF5 {
            guard H5Aexists(handle.id, name) > 0 else { return nil }
            let attribute = try HDF5Handle(H5Aopen(handle.id, name, defaultProperties), close: H5Aclose, path: path,
                                           failure: "cannot open attribute \(name)")
            try checkSingleValue(attribute, name)
            let type = try HDF5Handle(H5Aget_type(attribute.id), close: H5Tclose, path: path, failure: "cannot read the type of attribute \(name)")
            guard H5Tget_class(type.id) == H5T_STRING else {
                throw ReptileError(path: path, "attribute \(quoted(name)) is not a string", fix: "rewrite the shard with Reptile")
            }
            if H5Tis_variable_str(type.id) > 0 {
                var pointer: UnsafeMutablePointer<CChar>? = nil
                guard H5Aread(attribute.id, type.id, &pointer) >= 0, let pointer else {
                    throw ReptileError(path: path, "cannot read attribute \(name)")
                }
                defer { H5free_memory(pointer) }
                return String(cString: pointer)
            }
            let size = H5Tget_size(type.id)
            guard size > 0, size <= 1 << 24 else {
                throw ReptileError(path: path, "attribute \(quoted(name)) is a string of \(size) bytes", fix: "rewrite the shard with Reptile")
            }
            var buffer = [UInt8](repeating: 0, count: size + 1)
            guard H5Aread(attribute.id, type.id, &buffer) >= 0 else { throw ReptileError(path: path, "cannot read attribute \(name)") }
            return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A string or integer attribute as text (for listings), or nil when absent.
    public func attributeText(_ name: String) throws -> String? {
        let isString: Bool = try withHDF5 {
            guard H5Aexists(handle.id, name) > 0 else { return false }
            let attribute = try HDF5Handle(H5Aopen(handle.id, name, defaultProperties), close: H5Aclose, path: path,
                                           failure: "cannot open attribute \(name)")
            let type = try HDF5Handle(H5Aget_type(attribute.id), close: H5Tclose, path: path, failure: "cannot read the type of attribute \(name)")
            return H5Tget_class(type.id) == H5T_STRING
        }
        return isString ? try stringAttribute(name) : try integerAttribute(name).map(String.init)
    }

    public func integerAttribute(_ name: String) throws -> Int64? {
        try withHDF5 {
            guard H5Aexists(handle.id, name) > 0 else { return nil }
            let attribute = try HDF5Handle(H5Aopen(handle.id, name, defaultProperties), close: H5Aclose, path: path,
                                           failure: "cannot open attribute \(name)")
            try checkSingleValue(attribute, name)
            var value: Int64 = 0
            guard H5Aread(attribute.id, reptile_h5t_native_int64(), &value) >= 0 else {
                throw ReptileError(path: path, "attribute \(quoted(name)) is not an integer", fix: "rewrite the shard with Reptile")
            }
            return value
        }
    }
}

/// A dataset whose first dimension is the record index; reads and writes go by row ranges.
public final class HDF5Dataset {
    public let name: String
    public let type: HDF5ElementType
    public let shape: [Int]
    private let file: HDF5File
    private let handle: HDF5Handle

    init(file: HDF5File, name: String, handle: HDF5Handle, type: HDF5ElementType, shape: [Int]) {
        self.file = file
        self.name = name
        self.handle = handle
        self.type = type
        self.shape = shape
    }

    public var rowCount: Int { shape.first ?? 0 }
    /// Elements in one row (e.g. H·W·C for images, 1 for labels).
    public var rowSize: Int { shape.dropFirst().reduce(1, *) }

    /// Selects rows [start, start+count) in the file and a matching memory space.
    private func selection(rows: Range<Int>) throws -> (file: HDF5Handle, memory: HDF5Handle) {
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ReptileError(path: file.path, "rows \(rows.lowerBound)..<\(rows.upperBound) are outside dataset \(name) of \(rowCount) rows")
        }
        let fileSpace = try HDF5Handle(H5Dget_space(handle.id), close: H5Sclose, path: file.path, failure: "cannot select rows of \(name)")
        var start = [hsize_t](repeating: 0, count: shape.count)
        var count = shape.map { hsize_t($0) }
        start[0] = hsize_t(rows.lowerBound)
        count[0] = hsize_t(rows.count)
        H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &count, nil)
        let memorySpace = try HDF5Handle(H5Screate_simple(Int32(count.count), &count, nil), close: H5Sclose,
                                         path: file.path, failure: "cannot make a memory space for \(name)")
        return (fileSpace, memorySpace)
    }

    public func write<Element>(rows: Range<Int>, _ values: [Element]) throws {
        precondition(type != .string && MemoryLayout<Element>.size == type.byteCount, "element type mismatch writing \(name)")
        guard values.count == rows.count * rowSize else {
            throw ReptileError(path: file.path, "writing \(values.count) values into \(rows.count) rows of \(rowSize) in \(name)")
        }
        guard !rows.isEmpty else { return }
        try withHDF5 {
            let (fileSpace, memorySpace) = try selection(rows: rows)
            let status = values.withUnsafeBytes { H5Dwrite(handle.id, type.memoryType, memorySpace.id, fileSpace.id, defaultProperties, $0.baseAddress) }
            guard status >= 0 else { throw ReptileError(path: file.path, "cannot write \(name)", fix: "check free disk space") }
        }
    }

    public func writeStrings(rows: Range<Int>, _ values: [String]) throws {
        precondition(type == .string, "writeStrings on non-string dataset \(name)")
        guard values.count == rows.count else {
            throw ReptileError(path: file.path, "writing \(values.count) strings into \(rows.count) rows of \(name)")
        }
        guard !rows.isEmpty else { return }
        try withHDF5 {
            let (fileSpace, memorySpace) = try selection(rows: rows)
            let stringType = try makeStringType(path: file.path)
            var pointers: [UnsafeMutablePointer<CChar>?] = values.map { strdup($0) }
            defer { pointers.forEach { free($0) } }
            guard H5Dwrite(handle.id, stringType.id, memorySpace.id, fileSpace.id, defaultProperties, &pointers) >= 0 else {
                throw ReptileError(path: file.path, "cannot write \(name)", fix: "check free disk space")
            }
        }
    }

    /// A file's dataset of another element type than the reader expects is the file's fault, not a trap.
    private func checkReadable<Element>(as elementType: Element.Type) throws {
        guard type != .string, MemoryLayout<Element>.size == type.byteCount else {
            throw ReptileError(path: file.path, "dataset \(quoted(name)) has the wrong element type (\(type))", fix: "rewrite the file with Reptile")
        }
    }

    public func read<Element>(rows: Range<Int>, as elementType: Element.Type) throws -> [Element] where Element: Numeric {
        try checkReadable(as: elementType)
        var values = [Element](repeating: 0, count: rows.count * rowSize)
        guard !rows.isEmpty else { return values }
        try withHDF5 {
            let (fileSpace, memorySpace) = try selection(rows: rows)
            let status = values.withUnsafeMutableBytes { H5Dread(handle.id, type.memoryType, memorySpace.id, fileSpace.id, defaultProperties, $0.baseAddress) }
            guard status >= 0 else {
                throw ReptileError(path: file.path, "cannot read rows \(rows.lowerBound)..<\(rows.upperBound) of \(name) (damaged file?)",
                                   fix: "re-create the shard")
            }
        }
        return values
    }

    public func readStrings(rows: Range<Int>) throws -> [String] {
        guard type == .string else {
            throw ReptileError(path: file.path, "dataset \(quoted(name)) holds numbers, not strings", fix: "rewrite the file with Reptile")
        }
        guard !rows.isEmpty else { return [] }
        return try withHDF5 {
            let (fileSpace, memorySpace) = try selection(rows: rows)
            let fileType = try HDF5Handle(H5Dget_type(handle.id), close: H5Tclose, path: file.path, failure: "cannot read the type of \(name)")
            if H5Tis_variable_str(fileType.id) <= 0 {
                return try readFixedLengthStrings(rows: rows, fileType: fileType, fileSpace: fileSpace, memorySpace: memorySpace)
            }
            // In the file's character set (h5py writes `bytes` as ASCII): HDF5 does not convert ASCII to UTF-8.
            let stringType = try makeStringType(path: file.path)
            H5Tset_cset(stringType.id, H5Tget_cset(fileType.id))
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: rows.count)
            guard H5Dread(handle.id, stringType.id, memorySpace.id, fileSpace.id, defaultProperties, &pointers) >= 0 else {
                throw ReptileError(path: file.path, "cannot read rows of \(name) (damaged file?)", fix: "re-create the shard")
            }
            defer { reptile_h5_reclaim(stringType.id, memorySpace.id, &pointers) }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
    }

    /// Fixed-length strings (numpy `S` arrays through h5py): read in the file's own type, then cut
    /// at the padding (NULs, or spaces with space padding).
    private func readFixedLengthStrings(rows: Range<Int>, fileType: HDF5Handle, fileSpace: HDF5Handle, memorySpace: HDF5Handle) throws -> [String] {
        let width = H5Tget_size(fileType.id)
        guard width > 0, width <= 1 << 20 else {
            throw ReptileError(path: file.path, "dataset \(quoted(name)) has strings of \(width) bytes each", fix: "store variable-length strings")
        }
        var bytes = [UInt8](repeating: 0, count: rows.count * width)
        guard H5Dread(handle.id, fileType.id, memorySpace.id, fileSpace.id, defaultProperties, &bytes) >= 0 else {
            throw ReptileError(path: file.path, "cannot read rows \(rows.lowerBound)..<\(rows.upperBound) of \(name) (damaged file?)", fix: "re-create the shard")
        }
        let spacePadded = H5Tget_strpad(fileType.id) == H5T_STR_SPACEPAD
        return (0..<rows.count).map { row in
            var text = bytes[(row * width)..<((row + 1) * width)].prefix { $0 != 0 }
            while spacePadded, text.last == 0x20 { text = text.dropLast() }
            return String(decoding: text, as: UTF8.self)
        }
    }

    /// The chunk shape, or nil for contiguous storage.
    /// Writes the whole dataset at once (any rank, scalars included).
    public func writeAll<Element>(_ values: [Element]) throws {
        precondition(type != .string && MemoryLayout<Element>.size == type.byteCount, "element type mismatch writing \(name)")
        guard values.count == shape.reduce(1, *) else {
            throw ReptileError(path: file.path, "writing \(values.count) values into dataset \(name) of shape \(shape)")
        }
        guard !values.isEmpty else { return }
        try withHDF5 {
            let all = hid_t(H5S_ALL)
            let status = values.withUnsafeBytes { H5Dwrite(handle.id, type.memoryType, all, all, defaultProperties, $0.baseAddress) }
            guard status >= 0 else { throw ReptileError(path: file.path, "cannot write \(name)", fix: "check free disk space") }
        }
    }

    /// Reads the whole dataset at once (any rank, scalars included).
    public func readAll<Element>(as elementType: Element.Type) throws -> [Element] where Element: Numeric {
        try checkReadable(as: elementType)
        var values = [Element](repeating: 0, count: shape.reduce(1, *))
        guard !values.isEmpty else { return values }
        try withHDF5 {
            let all = hid_t(H5S_ALL)
            let status = values.withUnsafeMutableBytes { H5Dread(handle.id, type.memoryType, all, all, defaultProperties, $0.baseAddress) }
            guard status >= 0 else {
                throw ReptileError(path: file.path, "cannot read dataset \(name) (damaged or cut short?)", fix: "write the file again")
            }
        }
        return values
    }

    public func chunkShape() -> [Int]? {
        withHDF5 {
            let creation = H5Dget_create_plist(handle.id)
            guard creation >= 0 else { return nil }
            defer { H5Pclose(creation) }
            guard H5Pget_layout(creation) == H5D_CHUNKED else { return nil }
            var chunk = [hsize_t](repeating: 0, count: shape.count)
            H5Pget_chunk(creation, Int32(shape.count), &chunk)
            return chunk.map { Int($0) }
        }
    }
}
