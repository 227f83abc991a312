import Foundation
import ReptileCore
#if canImport(Glibc)
import Glibc
#endif

/// An output folder that appears only complete: everything is written into a hidden sibling
/// (`.NAME.partial-PID-RANDOM`), flushed to disk, then renamed into place. An existing
/// destination is kept unless `force`, and even then it is replaced only once the new one is whole.
public final class StagingFolder {
    public let destination: URL
    public let staging: URL
    private var finished = false
    private let force: Bool
    /// Held from start to commit: a second writer of the same output stops at once.
    private let lock: OutputLock

    public init(destination path: String, force: Bool) throws {
        destination = URL(fileURLWithPath: path).standardizedFileURL
        self.force = force
        let parent = destination.deletingLastPathComponent()
        let name = destination.lastPathComponent
        try Self.refuseEnclosingFolder(path, destination)
        if FileManager.default.fileExists(atPath: destination.path) && !force {
            throw ReptileError(path: path, "already exists", fix: "choose another name or pass --force to replace it")
        }
        do {
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw ReptileError(path: parent.path, "cannot create the folder (\(error.localizedDescription))", fix: "check the path and permissions")
        }
        lock = try OutputLock(for: destination)
        Self.recoverInterruptedReplace(of: destination)
        if FileManager.default.fileExists(atPath: destination.path) {
            guard force else {
                throw ReptileError(path: path, "already exists", fix: "choose another name or pass --force to replace it")
            }
            try Self.checkReplaceable(destination, shownAs: path)
        }
        removeAbandonedPartials(of: name, in: parent)
        var random = SystemRandomNumberGenerator()
        staging = parent.appendingPathComponent(".\(name).partial-\(getpid())-\(String(random.next() % 1_000_000))")
        InterruptCleanup.register(staging.path)
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            InterruptCleanup.unregister(staging.path)
            throw ReptileError(path: parent.path, "cannot write here (\(error.localizedDescription))", fix: "check the permissions or choose --out")
        }
    }

    deinit { if !finished { discard() } }

    public func path(_ fileName: String) -> String {
        staging.appendingPathComponent(fileName).path
    }

    /// Flushes every file, then moves the folder into place (replacing an old one only now).
    /// Without `force`, an output that appeared meanwhile (made by another program) is kept and
    /// this one refused: a plain rename never replaces a folder that holds files.
    public func commit() throws {
        // Every file and folder inside (an export has class folders), then the staging folder itself.
        let entries = (try? FileManager.default.subpathsOfDirectory(atPath: staging.path)) ?? []
        for entry in entries { try synchronizeToDisk(staging.appendingPathComponent(entry).path) }
        try synchronizeToDisk(staging.path)
        let fileManager = FileManager.default
        let exists = fileManager.fileExists(atPath: destination.path)
        if exists && !force {
            discard()
            throw ReptileError(path: destination.path, "appeared while this run was writing it; it was kept and this output discarded",
                               fix: "choose another name or pass --force to replace it")
        }
        var replaced: URL? = nil
        if exists {
            try Self.checkReplaceable(destination, shownAs: destination.path)
            // Two renames: a crash between them leaves `.NAME.replaced-PID`, which the next run
            // on this output renames back (recoverInterruptedReplace).
            let aside = Self.replacedName(of: destination, pid: getpid())
            try? fileManager.removeItem(at: aside)
            guard rename(destination.path, aside.path) == 0 else {
                throw ReptileError(path: destination.path, "cannot move the old folder aside (\(String(cString: strerror(errno))))")
            }
            replaced = aside
        }
        guard rename(staging.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let replaced { _ = rename(replaced.path, destination.path) }
            discard()
            throw ReptileError(path: destination.path, "cannot move the finished folder into place (\(reason))",
                               fix: "choose another name, or check the permissions of the folder")
        }
        finished = true
        InterruptCleanup.unregister(staging.path)
        if let replaced { try? fileManager.removeItem(at: replaced) }
        try? synchronizeToDisk(destination.deletingLastPathComponent().path)
        lock.release()
    }

    public func discard() {
        finished = true
        try? FileManager.default.removeItem(at: staging)
        InterruptCleanup.unregister(staging.path)
        lock.release()
    }

    static func replacedName(of destination: URL, pid: Int32) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).replaced-\(pid)")
    }

    /// `.NAME.replaced-PID` of a run killed between the two renames of a replace: the old output
    /// goes back to its name if nothing took it, and is removed if the new one is in place.
    static func recoverInterruptedReplace(of destination: URL) {
        let parent = destination.deletingLastPathComponent()
        let prefix = ".\(destination.lastPathComponent).replaced-"
        let siblings = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        for sibling in siblings.sorted() where sibling.hasPrefix(prefix) {
            guard let pid = Int32(sibling.dropFirst(prefix.count)), processIsGone(pid) else { continue }
            let leftover = parent.appendingPathComponent(sibling)
            if FileManager.default.fileExists(atPath: destination.path) {
                try? FileManager.default.removeItem(at: leftover)
            } else {
                _ = rename(leftover.path, destination.path)
            }
        }
    }

    /// `.`, `..`, `/` and any folder holding the current one are never an output.
    static func refuseEnclosingFolder(_ path: String, _ destination: URL) throws {
        let lastComponent = URL(fileURLWithPath: path).lastPathComponent
        let resolved = destination.resolvingSymlinksInPath().path
        let current = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).resolvingSymlinksInPath().path
        let enclosesCurrent = resolved == "/" || current == resolved || current.hasPrefix(resolved + "/")
        if lastComponent == "." || lastComponent == ".." || path.hasSuffix("/.") || path.hasSuffix("/..") || enclosesCurrent {
            throw ReptileError(path: path, "is the current folder or one holding it, not an output folder",
                               fix: "give a new folder name, e.g. --out exports/NAME")
        }
    }

    /// `--force` replaces only what Reptile writes: a dataset (dataset_info.json), a run
    /// (config.json), a classifier or evaluation (report.json), a PNG export (class folders of
    /// PNGs), or an empty folder. Anything else may be the user's own files.
    static func checkReplaceable(_ destination: URL, shownAs path: String) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        let refusal = ReptileError(path: path, "is not an output of Reptile, so --force does not replace it",
                                   fix: "remove it yourself or choose another name")
        guard fileManager.fileExists(atPath: destination.path, isDirectory: &isDirectory), isDirectory.boolValue,
              let entries = try? fileManager.contentsOfDirectory(atPath: destination.path) else { throw refusal }
        if entries.isEmpty || entries.contains(where: { ["dataset_info.json", "config.json", "report.json"].contains($0) }) { return }
        let isPNGExport = entries.allSatisfy { entry in
            let folder = destination.appendingPathComponent(entry).path
            var isFolder: ObjCBool = false
            guard fileManager.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue,
                  let files = try? fileManager.contentsOfDirectory(atPath: folder) else { return false }
            return files.allSatisfy { $0.hasSuffix(".png") }
        }
        guard isPNGExport else { throw refusal }
    }
}
