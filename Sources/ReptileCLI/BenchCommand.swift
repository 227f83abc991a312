import ArgumentParser
import Foundation
import ReptileBench
import ReptileCore
import ReptileEngine

extension Workload: ExpressibleByArgument {}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the fixed workloads of docs/workloads.md and print one JSON line per result.",
        discussion: Workload.allCases.map { "\($0.rawValue): \($0.summary)" }.joined(separator: "\n")
            + "\n\nW1, W2, W3, W4, W5 and W7 also report median_step_ms, sgemm_share (step time inside sgemm), sgemm_gflops and "
            + "fresh_allocations (tensor blocks newly allocated during the timed steps). --threads applies to W1, W2, W3, W4, W5 and W7.")

    @Argument(help: "Workloads to run (default: all of \(Workload.allCases.map(\.rawValue).joined(separator: ", "))).")
    var workloads: [Workload] = []

    @OptionGroup var threads: ThreadOptions

    @Option(parsing: .unconditional, help: "Timed steps of W1, W2, W3, W4 and W5 (W7: at most 20 training, 5 generation); each figure is their median.")
    var steps: Int = 50

    @Option(parsing: .unconditional, help: "Untimed warm-up steps of W1, W2, W3, W4 and W5 (W7: at most 5 and 2).")
    var warmup: Int = 5

    @Option(parsing: .unconditional, help: "W6: passes per figure; each figure is the median over them.")
    var repeats: Int = 5

    @Option(help: "Folder for temporary files (default: the system's temporary folder).")
    var scratch: String?

    @Option(help: "W6 reads this dataset's train split instead of its synthetic images (e.g. datasets/mnist-sample).")
    var dataset: String?

    @Option(help: "W5's pretrained encoder folder (Hugging Face layout); default models/all-MiniLM-L6-v2, else ../shared/models/all-MiniLM-L6-v2, else random weights of that shape.")
    var encoder: String?

    @Option(help: "W7's language model: a folder holding one .gguf file; default models/SmolLM2-135M-Instruct, else ../shared/models/SmolLM2-135M-Instruct, else random weights of that shape.")
    var languageModel: String?

    @Flag(help: "Also print, before and after the workloads, the core probe of docs/platform.md §0 (≈0.06 s: two cores, ≈0.12 s: one), the 1024³ sgemm GFLOP/s and the OpenBLAS kernels in use.")
    var probe = false

    func run() throws {
        try runReportingErrors {
            try checkCounts([("--steps", steps, 1), ("--warmup", warmup, 0), ("--repeats", repeats, 1)])
            guard repeats >= 1 else { throw ReptileError("--repeats must be at least 1", fix: "use e.g. 5") }
            guard steps >= 1 else { throw ReptileError("--steps must be at least 1", fix: "use e.g. 50") }
            guard warmup >= 0 else { throw ReptileError("--warmup must not be negative", fix: "use e.g. 5") }
            let engine = EngineBenchOptions(steps: steps, warmup: warmup, threads: threads.resolved)
            if probe { printProbe(engine.threads) }
            for workload in workloads.isEmpty ? Workload.allCases : workloads {
                for result in try runWorkload(workload, engine: engine, repeats: repeats, scratch: scratch, readDataset: dataset,
                                              encoderFolder: workload == .w5 ? encoderFolder : nil,
                                              languageModelFile: workload == .w7 ? try languageModelFile() : nil) {
                    emit(result.jsonLine)
                }
            }
            if probe { printProbe(engine.threads) }
        }
    }

    /// --encoder, or the fetched (models/) or shared MiniLM when it is there.
    private var encoderFolder: String? {
        if let encoder { return encoder }
        guard let installed = installedModelFolder("all-MiniLM-L6-v2") else { return nil }
        return FileManager.default.fileExists(atPath: (installed as NSString).appendingPathComponent("config.json")) ? installed : nil
    }

    /// The .gguf file of --language-model, or of the fetched (models/) or shared SmolLM2.
    private func languageModelFile() throws -> URL? {
        let folder = languageModel ?? installedModelFolder("SmolLM2-135M-Instruct") ?? "models/SmolLM2-135M-Instruct"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.filter { $0.hasSuffix(".gguf") } ?? []
        if files.count == 1 { return URL(fileURLWithPath: folder).appendingPathComponent(files[0]) }
        if languageModel == nil { return nil }
        throw ReptileError(path: folder, "holds \(files.count) .gguf files", fix: "give a folder holding exactly one .gguf file")
    }

    private func printProbe(_ threads: Int) {
        let probeSeconds = measureCoreProbe()
        let gigaflops = measureSgemmCeiling(threads: threads)
        emit(String(format: "{\"probe\":\"cores\",\"seconds\":%.3f,\"sgemm_1024_gflops\":%.1f,\"threads\":%d", probeSeconds, gigaflops, threads)
             + ",\"blas_core\":\"\(BLAS.coreName)\"}")
    }

    /// One line, unbuffered, so a long run shows each result as soon as it exists.
    private func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
