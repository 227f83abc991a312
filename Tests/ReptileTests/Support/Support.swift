import Foundation
import Testing

/// Helpers shared by the test files: where the shared datasets are, scratch folders, and running
/// the real `reptile` binary and python3 (h5py, Pillow) as a user would.
enum Support {
    /// The package root (this file is Tests/ReptileTests/Support/Support.swift: four folders up).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What a benchmark test checks besides printing its figures: each is a measurement, positive
    /// and finite (a step that did nothing, or a failed clock, gives 0, inf or nan).
    static func expectMeasured(_ figures: [String: Double], sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, value) in figures.sorted(by: { $0.key < $1.key }) {
            #expect(value > 0 && value.isFinite, "\(name) is \(value)", sourceLocation: sourceLocation)
        }
    }

    /// `../shared` beside the clone, or `$REPTILE_SHARED`.
    static let shared: URL = {
        if let override = ProcessInfo.processInfo.environment["REPTILE_SHARED"] {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    static func sharedDataset(_ relativePath: String) -> String {
        shared.appendingPathComponent("datasets").appendingPathComponent(relativePath).path
    }

    /// A fresh empty folder, removed by the caller's `defer { Support.remove(folder) }`.
    static func makeTemporaryFolder(_ label: String = "test") throws -> URL {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("reptile-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    static func remove(_ folder: URL) {
        try? FileManager.default.removeItem(at: folder)
    }

    /// The `reptile` executable that `swift test` built next to the test bundle
    /// (`$REPTILE_EXECUTABLE` runs the tests against another build, e.g. to see a test fail before a fix).
    static let reptileExecutable: URL = {
        if let override = ProcessInfo.processInfo.environment["REPTILE_EXECUTABLE"] { return URL(fileURLWithPath: override) }
        let bundleFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleFolder, bundleFolder.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("reptile")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return packageRoot.appendingPathComponent(".build/debug/reptile")
    }()

    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs a program to completion and captures what it printed.
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                    currentDirectory: URL? = nil, standardInput: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        // Files, not pipes: a chatty child can never block on a full pipe.
        let captureFolder = try makeTemporaryFolder("capture")
        defer { remove(captureFolder) }
        let outputURL = captureFolder.appendingPathComponent("stdout")
        let errorURL = captureFolder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let outputHandle = try FileHandle(forWritingTo: outputURL)
        let errorHandle = try FileHandle(forWritingTo: errorURL)
        process.standardOutput = outputHandle
        process.standardError = errorHandle
        let inputPipe = Pipe()
        process.standardInput = inputPipe
        try process.run()
        if let standardInput { inputPipe.fileHandleForWriting.write(Data(standardInput.utf8)) }
        try? inputPipe.fileHandleForWriting.close()
        process.waitUntilExit()
        try? outputHandle.close()
        try? errorHandle.close()
        return Result(status: process.terminationStatus,
                      standardOutput: String(decoding: try Data(contentsOf: outputURL), as: UTF8.self),
                      standardError: String(decoding: try Data(contentsOf: errorURL), as: UTF8.self))
    }

    /// Runs the built `reptile` binary.
    static func reptile(_ arguments: [String], environment: [String: String] = [:],
                        currentDirectory: URL? = nil) throws -> Result {
        try run(reptileExecutable, arguments, environment: environment, currentDirectory: currentDirectory)
    }

    /// Starts `reptile arguments` and sends it `signal` (SIGKILL unless told) as soon as `path`
    /// exists, so that a run is cut right after it saved a checkpoint; fails the test if the run
    /// ended first. Returns what the run wrote on standard error.
    @discardableResult
    static func reptileKilled(_ arguments: [String], once path: String, within seconds: TimeInterval = 120,
                              signal: Int32 = SIGKILL) throws -> String {
        let process = Process()
        process.executableURL = reptileExecutable
        process.arguments = arguments
        let captureFolder = try makeTemporaryFolder("killed")
        defer { remove(captureFolder) }
        let errorURL = captureFolder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: errorURL)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorHandle
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, process.isRunning, !FileManager.default.fileExists(atPath: path) { usleep(5_000) }
        try #require(process.isRunning, "the run finished before it could be killed")
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        try? errorHandle.close()
        return String(decoding: try Data(contentsOf: errorURL), as: UTF8.self)
    }

    /// Runs a python3 script (h5py / Pillow interoperability checks); the script's stdout is returned.
    static func python(_ script: String, arguments: [String] = []) throws -> Result {
        try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script] + arguments)
    }
}
