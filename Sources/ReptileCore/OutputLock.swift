import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An advisory lock on one output (`.NAME.lock` beside it, holding the writer's PID), so that two
/// runs writing the same dataset or run exclude each other instead of the last one silently
/// replacing the first. The kernel drops the lock when the process dies, even by SIGKILL.
public final class OutputLock {
    public let path: String
    private var descriptor: Int32

    /// Takes the lock of `destination` or throws "in use by PID N" at once (no waiting).
    public init(for destination: URL) throws {
        let parent = destination.deletingLastPathComponent()
        path = parent.appendingPathComponent(".\(destination.lastPathComponent).lock").path
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw ReptileError(path: path, "cannot create the lock file (\(String(cString: strerror(errno))))",
                                   fix: "check that the folder is writable")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                let holder = Self.readPID(descriptor)
                close(descriptor)
                throw ReptileError(path: destination.path, "is in use by \(holder.map { "PID \($0)" } ?? "another process") (lock \(path))",
                                   fix: "wait for that run to finish, or choose another output")
            }
            // The previous holder may have removed the file between our open and flock: then this
            // lock is on a dead inode, and we try again on the current file.
            var held = stat(), current = stat()
            if fstat(descriptor, &held) == 0, stat(path, &current) == 0, held.st_ino == current.st_ino, held.st_dev == current.st_dev {
                let text = "\(getpid())\n"
                _ = ftruncate(descriptor, 0)
                _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
                self.descriptor = descriptor
                InterruptCleanup.register(path)
                return
            }
            close(descriptor)
        }
    }

    deinit { release() }

    /// Removes the lock file, then drops the lock (in this order, so nobody locks a removed file for good).
    public func release() {
        guard descriptor >= 0 else { return }
        unlink(path)
        close(descriptor)
        descriptor = -1
        InterruptCleanup.unregister(path)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Whether a process of this id is gone (a leftover of it may be removed or recovered).
public func processIsGone(_ pid: Int32) -> Bool {
    kill(pid, 0) != 0 && errno == ESRCH
}

/// Removes `.NAME.partial-PID…` siblings of `name` in `folder` whose process is gone: temporary
/// files or folders of a run killed outright (SIGKILL, power loss) before its rename.
public func removeAbandonedPartials(of name: String, in folder: URL) {
    let prefix = ".\(name).partial-"
    let siblings = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    for sibling in siblings where sibling.hasPrefix(prefix) {
        let pidText = sibling.dropFirst(prefix.count).prefix { $0.isNumber }
        if let pid = Int32(pidText), processIsGone(pid) {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(sibling))
        }
    }
}
