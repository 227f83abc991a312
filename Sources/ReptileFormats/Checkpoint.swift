import Foundation
import ReptileCore
#if canImport(Glibc)
import Glibc
#endif

// The checkpoint file format (DESIGN.md: "HDF5, one dataset per parameter under its hierarchical
// name, readable by h5py").
//
//   /                              root attributes:
//     format = "reptile-checkpoint", schema_version = 1, tool_version,
//     tensor_names = JSON list of every tensor's dotted name, in the order written,
//     config = the model's config as JSON (when given), and the caller's other attributes
//   /generator/deconv1/weight      float32, the tensor's shape, contiguous (dots → groups)
//   /optimizer/generator/deconv1/weight/m   ... (the engine's optimizer state, same scheme)
//
// No object time stamps, attributes in sorted order and datasets in the order given, so the same
// content gives the same bytes. Written to a temporary name in the same folder, flushed, fsynced
// and renamed: an existing checkpoint is replaced only by a complete one.

/// A tensor as the file holds it: a dotted name (`generator.deconv1.weight`), a shape and its values.
public struct NamedTensor: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// `generator.deconv1.weight` → `generator/deconv1/weight`.
    public var datasetPath: String { CheckpointFile.datasetPath(forName: name) }
}

/// Everything a checkpoint file holds.
public struct Checkpoint: Sendable {
    public var path: String
    /// Tensors in the order they were written.
    public var tensors: [NamedTensor]
    /// String root attributes, `format`, `tool_version` and `tensor_names` included.
    public var attributes: [String: String]
    /// Integer root attributes, `schema_version` included.
    public var integerAttributes: [String: Int64]

    public var tensorNames: [String] { tensors.map(\.name) }

    public func tensor(_ name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// The model's config (JSON), when one was saved.
    public var config: String? { attributes[CheckpointFile.configAttribute] }
}

public enum CheckpointFile {
    public static let formatName = "reptile-checkpoint"
    public static let schemaVersion: Int64 = 1
    public static let formatAttribute = "format"
    public static let schemaVersionAttribute = "schema_version"
    public static let toolVersionAttribute = "tool_version"
    public static let tensorNamesAttribute = "tensor_names"
    public static let configAttribute = "config"
    public static let reservedAttributeNames: Set<String> = [formatAttribute, schemaVersionAttribute, toolVersionAttribute, tensorNamesAttribute]

    public static func datasetPath(forName name: String) -> String {
        name.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "/")
    }

    /// Checks a tensor name: dot-separated non-empty components without `/`, not `.` or `..`.
    static func validate(name: String, path: String) throws {
        let components = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, components.allSatisfy({ !$0.isEmpty && !$0.contains("/") }) else {
            throw ReptileError(path: path, "tensor name \(quoted(name)) is not a dotted name such as generator.conv1.weight",
                               fix: "name every parameter with non-empty, dot-separated parts without '/'")
        }
    }

    /// Writes a checkpoint atomically. `attributes["config"]` is the model's config as JSON.
    /// The reserved attributes (`format`, `schema_version`, `tool_version`, `tensor_names`) are
    /// written by this function and may not be given.
    public static func write(to path: String, tensors: [NamedTensor], attributes: [String: String] = [:],
                             integerAttributes: [String: Int64] = [:]) throws {
        // Everything is checked before any byte is written.
        var seen = Set<String>()
        var datasetPaths = Set<String>()
        for tensor in tensors {
            try validate(name: tensor.name, path: path)
            guard seen.insert(tensor.name).inserted else {
                throw ReptileError(path: path, "tensor name \(quoted(tensor.name)) appears twice", fix: "give every parameter a unique name")
            }
            datasetPaths.insert(tensor.datasetPath)
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.values.count else {
                throw ReptileError(path: path, "tensor \(quoted(tensor.name)) has \(tensor.values.count) values for shape \(tensor.shape)")
            }
        }
        // `a.b` and `a.b.c` cannot both exist: `a/b` would be a dataset and a group.
        for tensor in tensors {
            var prefix = ""
            for component in tensor.datasetPath.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + component
                if datasetPaths.contains(prefix) {
                    throw ReptileError(path: path, "tensor \(quoted(tensor.name)) lies under tensor \(quoted(prefix.replacingOccurrences(of: "/", with: ".")))",
                                       fix: "a name cannot be both a tensor and a prefix of another tensor's name")
                }
            }
        }
        let clashes = (Set(attributes.keys).union(integerAttributes.keys)).intersection(reservedAttributeNames)
        guard clashes.isEmpty else {
            throw ReptileError(path: path, "attributes \(clashes.sorted().joined(separator: ", ")) are reserved by the checkpoint format")
        }
        let both = Set(attributes.keys).intersection(integerAttributes.keys)
        guard both.isEmpty else {
            throw ReptileError(path: path, "attributes \(both.sorted().joined(separator: ", ")) are given both as text and as integers")
        }

        let destination = URL(fileURLWithPath: path).standardizedFileURL
        let folder = destination.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: folder.path) {
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw ReptileError(path: folder.path, "cannot create the folder (\(error.localizedDescription))", fix: "check the path and permissions")
            }
        }
        // A run killed (SIGKILL) while saving left its temporary file; its resume removes it.
        removeAbandonedPartials(of: destination.lastPathComponent, in: folder)
        var random = SystemRandomNumberGenerator()
        let temporary = folder.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())-\(random.next() % 1_000_000)").path
        InterruptCleanup.register(temporary)
        defer { InterruptCleanup.unregister(temporary) }
        do {
            // The file (and every id in it) is closed when this scope ends, before fsync and rename.
            try writeContents(to: temporary, tensors: tensors, attributes: attributes, integerAttributes: integerAttributes)
            try synchronizeToDisk(temporary)
            guard rename(temporary, destination.path) == 0 else {
                throw ReptileError(path: destination.path, "cannot move the finished checkpoint into place (\(String(cString: strerror(errno))))",
                                   fix: "check the permissions of the folder")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        try? synchronizeToDisk(folder.path)
    }

    private static func writeContents(to path: String, tensors: [NamedTensor], attributes: [String: String],
                                      integerAttributes: [String: Int64]) throws {
        let file = try HDF5File.create(at: path)
        try file.setAttribute(formatAttribute, formatName)
        try file.setAttribute(schemaVersionAttribute, schemaVersion)
        try file.setAttribute(toolVersionAttribute, ReptileVersion.current)
        try file.setAttribute(tensorNamesAttribute, StableJSON.string(tensors.map(\.name)))
        for key in attributes.keys.sorted() { try file.setAttribute(key, attributes[key]!) }
        for key in integerAttributes.keys.sorted() { try file.setAttribute(key, integerAttributes[key]!) }
        for tensor in tensors {
            let datasetPath = tensor.datasetPath
            try file.createIntermediateGroups(for: datasetPath)
            let dataset = try file.createDataset(datasetPath, type: .float32, shape: tensor.shape)
            try dataset.writeAll(tensor.values)
        }
        try file.flush()
    }

    /// Reads a whole checkpoint. A file that is not a complete Reptile checkpoint gives one
    /// ReptileError naming the path.
    public static func read(at path: String) throws -> Checkpoint {
        let fix = "give a checkpoint written by Reptile (a complete HDF5 file)"
        let file: HDF5File
        do {
            file = try HDF5File.open(at: path)
        } catch var error as ReptileError {
            if error.fix != nil, error.problem != "no such file" { error.fix = fix }
            throw error
        }
        guard let format = try? file.stringAttribute(formatAttribute), format == formatName else {
            throw ReptileError(path: path, "not a Reptile checkpoint (no format = \"\(formatName)\" attribute)", fix: fix)
        }
        guard let version = try? file.integerAttribute(schemaVersionAttribute), version <= schemaVersion else {
            throw ReptileError(path: path, "checkpoint schema version is missing or newer than \(schemaVersion)",
                               fix: "use a newer Reptile to read it")
        }
        guard let namesText = try file.stringAttribute(tensorNamesAttribute),
              let names = try? JSONDecoder().decode([String].self, from: Data(namesText.utf8)) else {
            throw ReptileError(path: path, "the \(tensorNamesAttribute) attribute is missing or not a JSON list of names", fix: fix)
        }
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(names.count)
        for name in names {
            let datasetPath = datasetPath(forName: name)
            let dataset: HDF5Dataset
            do {
                dataset = try file.dataset(datasetPath)
            } catch var error as ReptileError {
                error.problem = "tensor \(quoted(name)) listed in \(tensorNamesAttribute): " + error.problem
                error.fix = fix
                throw error
            }
            guard dataset.type == .float32 else {
                throw ReptileError(path: path, "dataset \(quoted(datasetPath)) is not float32", fix: fix)
            }
            tensors.append(NamedTensor(name: name, shape: dataset.shape, values: try dataset.readAll(as: Float.self)))
        }
        var attributes: [String: String] = [:]
        var integerAttributes: [String: Int64] = [:]
        for name in file.attributeNames() {
            if file.isStringAttribute(name) {
                attributes[name] = try file.stringAttribute(name)
            } else if let value = try? file.integerAttribute(name) {
                integerAttributes[name] = value
            }
        }
        return Checkpoint(path: path, tensors: tensors, attributes: attributes, integerAttributes: integerAttributes)
    }
}
