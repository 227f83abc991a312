import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress bar on standard error, drawn only when it is a terminal (quiet in pipes, logs and
/// with --json). Shows done/total, rate and time left; redraws at most ten times a second.
public final class ProgressBar {
    public let label: String
    public let total: Int
    public let unit: String
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    public private(set) var completed = 0
    /// Shown after the ETA, e.g. a training loss: set it before `advance`.
    public var detail = ""

    public init(_ label: String, total: Int, unit: String = "items", enabled: Bool = ProgressBar.terminalAttached) {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
    }

    nonisolated(unsafe) public static var suppressed = false
    public static var terminalAttached: Bool { !suppressed && isatty(STDERR_FILENO) == 1 }

    public func advance(by count: Int = 1) {
        completed += count
        guard enabled else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= 0.1 || completed >= total {
            lastDraw = now
            draw(now: now)
        }
    }

    public func finish() {
        guard enabled else { return }
        draw(now: Date())
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(completed) / elapsed
        let fraction = total > 0 ? min(Double(completed) / Double(total), 1) : 1
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let remaining = rate > 0 ? Double(total - completed) / rate : 0
        let line = "\r\(label) \(bar) \(completed)/\(total) \(unit)  \(Self.format(rate: rate))/s  ETA \(Self.format(seconds: remaining))\(detail.isEmpty ? "" : "  " + detail)   "
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func format(rate: Double) -> String {
        rate >= 1000 ? String(format: "%.1fk", rate / 1000) : String(format: "%.1f", rate)
    }

    static func format(seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            : String(format: "%d:%02d", whole / 60, whole % 60)
    }
}
