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

    public init(destination path: String, force: Bool) throws {
        destination = URL(fileURLWithPath: path).standardizedFileURL
        let parent = destination.deletingLastPathComponent()
        let name = destination.lastPathComponent
        if FileManager.default.fileExists(atPath: destination.path) && !force {
            throw ReptileError(path: path, "already exists", fix: "choose another name or pass --force to replace it")
        }
        do {
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw ReptileError(path: parent.path, "cannot create the folder (\(error.localizedDescription))", fix: "check the path and permissions")
        }
        Self.removeAbandonedSiblings(of: name, in: parent)
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
    public func commit() throws {
        // Every file and folder inside (an export has class folders), then the staging folder itself.
        let entries = (try? FileManager.default.subpathsOfDirectory(atPath: staging.path)) ?? []
        for entry in entries { try synchronizeToDisk(staging.appendingPathComponent(entry).path) }
        try synchronizeToDisk(staging.path)
        let fileManager = FileManager.default
        var replaced: URL? = nil
        if fileManager.fileExists(atPath: destination.path) {
            let aside = staging.deletingLastPathComponent()
                .appendingPathComponent(".\(destination.lastPathComponent).replaced-\(getpid())")
            try? fileManager.removeItem(at: aside)
            guard rename(destination.path, aside.path) == 0 else {
                throw ReptileError(path: destination.path, "cannot move the old folder aside (\(String(cString: strerror(errno))))")
            }
            replaced = aside
        }
        guard rename(staging.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let replaced { _ = rename(replaced.path, destination.path) }
            throw ReptileError(path: destination.path, "cannot move the finished folder into place (\(reason))")
        }
        finished = true
        InterruptCleanup.unregister(staging.path)
        if let replaced { try? fileManager.removeItem(at: replaced) }
        try? synchronizeToDisk(destination.deletingLastPathComponent().path)
    }

    public func discard() {
        finished = true
        try? FileManager.default.removeItem(at: staging)
        InterruptCleanup.unregister(staging.path)
    }

    /// Staging folders left by a process that was killed outright (SIGKILL, power loss).
    private static func removeAbandonedSiblings(of name: String, in parent: URL) {
        let prefix = ".\(name).partial-"
        let siblings = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        for sibling in siblings where sibling.hasPrefix(prefix) {
            let pidText = sibling.dropFirst(prefix.count).split(separator: "-").first.map(String.init) ?? ""
            if let pid = Int32(pidText), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: parent.appendingPathComponent(sibling))
            }
        }
    }
}
