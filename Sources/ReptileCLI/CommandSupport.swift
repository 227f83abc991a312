import ArgumentParser
import Dispatch
import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command's library call: a ReptileError becomes one line on standard error and exit
/// status 1; an interrupt removes half-made outputs before exiting.
func runReportingErrors(_ body: () throws -> Void) throws {
    installInterruptHandlers()
    do {
        try body()
    } catch _ where interruptInProgress {
        // The interrupt handler is removing the outputs this body was writing (which is why it
        // failed); let it finish and exit with 130/143 rather than report that failure as exit 1.
        while true { pause() }
    } catch let error as ReptileError {
        throw reportFailure(error)
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("reptile: error: \(String(describing: error).replacingOccurrences(of: "\n", with: " "))\n".utf8))
        throw ExitCode(1)
    }
}

/// Writes a ReptileError as the one line on standard error every refusal gives; exit status 1.
func reportFailure(_ error: ReptileError) -> ExitCode {
    FileHandle.standardError.write(Data("reptile: error: \(error.description)\n".utf8))
    return ExitCode(1)
}

nonisolated(unsafe) private var signalSources: [DispatchSourceSignal] = []
nonisolated(unsafe) private var interruptInProgress = false

/// SIGINT/SIGTERM: remove staging folders, then exit 130/143 like a shell would report.
private func installInterruptHandlers() {
    guard signalSources.isEmpty else { return }
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler {
            interruptInProgress = true
            InterruptCleanup.removeAll()
            let kept = InterruptCleanup.keptNote.map { "; \($0)" } ?? ""
            FileHandle.standardError.write(Data("\nreptile: interrupted; unfinished output removed\(kept)\n".utf8))
            // _exit, not exit: exit runs the libraries' destructors (OpenBLAS frees its buffers)
            // while engine workers may still be inside a matrix product, which then crashes.
            _exit(128 + signalNumber)
        }
        source.resume()
        signalSources.append(source)
    }
}

/// A pretrained model's folder, relative to the working folder: models/NAME (scripts/setup.sh fetches
/// it there) when it exists, else the shared copy ../shared/models/NAME; nil when neither exists.
func installedModelFolder(_ name: String) -> String? {
    ["models/\(name)", "../shared/models/\(name)"].first { FileManager.default.fileExists(atPath: $0) }
}

/// The folder an omitted model option stands for, or an error saying how to get the model.
func defaultModelFolder(_ name: String, option: String) throws -> String {
    guard let folder = installedModelFolder(name) else {
        throw ReptileError("no \(option) given, and neither models/\(name) nor ../shared/models/\(name) exists",
                           fix: "run scripts/setup.sh (it fetches the model into models/), or give \(option) PATH")
    }
    return folder
}

/// One line on standard error that does not stop the command: something the user should act on later.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("reptile: warning: \(message.replacingOccurrences(of: "\n", with: " "))\n".utf8))
}

/// Prints a value as one JSON document on standard output (`--json`).
func printJSON<Value: Encodable>(_ value: Value) throws {
    print(try StableJSON.string(value, pretty: true))
}

/// The command line as typed, for provenance.
var commandLineText: String {
    (["reptile"] + CommandLine.arguments.dropFirst()).map { argument in
        argument.contains(" ") || argument.isEmpty ? "'\(argument)'" : argument
    }.joined(separator: " ")
}

/// `--out`, `--force`, `--seed` and friends, shared by every ingest.
struct OutputArguments: ParsableArguments {
    @Option(name: .long, help: "The name of the dataset: a folder created under --out.")
    var name: String

    @Option(name: .customLong("out"), help: "The parent folder of the dataset.")
    var parent: String = "datasets"

    @Flag(help: "Replace an existing dataset of that name (only once the new one is complete).")
    var force = false

    @Flag(help: "Fix the `created` time stamp (to $SOURCE_DATE_EPOCH, or 1970-01-01) so the same input gives identical files.")
    var deterministic = false

    @Flag(help: "Print the result as JSON on standard output (no progress bar).")
    var json = false
}

struct SplitArguments: ParsableArguments {
    /// Its count options, for `checkCounts`.
    var counts: [(option: String, value: Int?, minimum: Int)] { [("--per-class", perClass, 1), ("--shard-size", shardSize, 1)] }

    @Option(parsing: .unconditional, help: "Share of each class held out as the test split (stratified, seeded), when there is no --test source.")
    var testFraction: Double = 0.2

    @Option(name: .customLong("val-fraction"), parsing: .unconditional, help: "Share of each class held out as the validation split.")
    var validationFraction: Double = 0

    @Option(parsing: .unconditional, help: "Keep N training records per class (seeded), for low-data experiments. The test split is never reduced.")
    var perClass: Int?

    @Flag(help: "With --per-class: a class with fewer training records keeps all of them instead of failing.")
    var allowFewer = false

    @Option(help: "Seed for splitting and ordering.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Records per shard file.")
    var shardSize: Int = 10_000
}

/// The `created` stamp of `--deterministic`: SOURCE_DATE_EPOCH when set, else the epoch itself, so
/// two runs write byte-identical files.
func deterministicCreationTimestamp() -> String {
    creationTimestamp(environment: ["SOURCE_DATE_EPOCH": ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] ?? "0"])
}

/// The largest count any option takes: sizes are computed from counts (records × pixels, steps ×
/// batch), so `Int.max` would overflow and trap instead of failing in one line.
let maximumCount = 1_000_000_000

/// Count options (option name, value if given, smallest allowed), checked before anything uses them.
func checkCounts(_ counts: [(option: String, value: Int?, minimum: Int)]) throws {
    for (option, value, minimum) in counts {
        guard let value else { continue }
        if value < minimum {
            throw ReptileError("\(option) must be at least \(minimum), got \(value)", fix: "give \(option) \(minimum) or more")
        }
        if value > maximumCount {
            throw ReptileError("\(option) must be at most \(maximumCount), got \(value)", fix: "give a smaller \(option)")
        }
    }
}

/// `--threads`, the one place it is declared, checked and resolved: the engine's worker threads,
/// which split large matrix products and the other parallel kernels (OpenBLAS itself always runs on
/// one thread). Default: the cores this process may run on.
struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Engine threads (default: the machine's cores). Bit-identical results need the same count.")
    var threads: Int?

    /// Refused like every count (one line, exit 1), before the command starts.
    func validate() throws {
        guard let threads else { return }
        if threads < 1 { throw reportFailure(ReptileError("--threads must be at least 1, got \(threads)", fix: "use e.g. 1 or 2")) }
        if threads > 1024 { throw reportFailure(ReptileError("--threads must be at most 1024, got \(threads)", fix: "use e.g. 1 or 2")) }
    }

    /// The count as given; nil leaves the choice to the library (a resumed run keeps its own count).
    var given: Int? { threads }

    /// The count in effect: --threads, else the cores.
    var resolved: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    func apply() { BLAS.setThreadCount(resolved) }
}
