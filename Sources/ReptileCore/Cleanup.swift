import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Half-made outputs (staging folders) that must disappear if the process is interrupted.
/// The command line removes them on SIGINT/SIGTERM; normal error paths remove their own.
public enum InterruptCleanup {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    public static func register(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        paths.insert(path)
    }

    public static func unregister(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        paths.remove(path)
    }

    nonisolated(unsafe) private static var keptWork: String?

    /// What an interrupt leaves on purpose (work a later run can continue), said after the removal.
    public static var keptNote: String? {
        get { lock.lock(); defer { lock.unlock() }; return keptWork }
        set { lock.lock(); defer { lock.unlock() }; keptWork = newValue }
    }

    /// Runs on the signal thread while the command may still be writing into these folders, so a
    /// plain recursive delete can lose the race (a file created after the listing makes the final
    /// rmdir fail). Renaming first takes the whole folder out of the writer's reach at once: its
    /// next file fails to open. The new name keeps the `.partial-PID-` form, so a leftover would
    /// still be recognised as abandoned by the next run.
    public static func removeAll() {
        lock.lock(); defer { lock.unlock() }
        let fileManager = FileManager.default
        for path in paths {
            let doomed = path + ".removing"
            let target = rename(path, doomed) == 0 ? doomed : path
            for _ in 0..<20 {
                try? fileManager.removeItem(atPath: target)
                if target != path { try? fileManager.removeItem(atPath: path) }  // recreated by the writer
                if !fileManager.fileExists(atPath: target) && !fileManager.fileExists(atPath: path) { break }
                usleep(5_000)
            }
        }
        paths.removeAll()
    }
}

/// Forces a file or folder's data to disk (before a rename makes it visible).
public func synchronizeToDisk(_ path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else {
        throw ReptileError(path: path, "cannot open to flush to disk (\(String(cString: strerror(errno))))")
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
        throw ReptileError(path: path, "cannot flush to disk (\(String(cString: strerror(errno))))", fix: "check the disk")
    }
}
