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

    public static func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
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
