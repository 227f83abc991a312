import ArgumentParser
import ReptileBench
import ReptileCore

extension Workload: ExpressibleByArgument {}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the fixed workloads of shared/bench/WORKLOADS.md and print one JSON line per result.",
        discussion: Workload.allCases.map { "\($0.rawValue): \($0.summary)" }.joined(separator: "\n"))

    @Argument(help: "Workloads to run (default: all of \(Workload.allCases.map(\.rawValue).joined(separator: ", "))).")
    var workloads: [Workload] = []

    @Option(help: "Passes per figure; each figure is the median over them.")
    var repeats: Int = 5

    @Option(help: "Folder for temporary files (default: the system's temporary folder).")
    var scratch: String?

    @Option(help: "W6 reads this dataset's train split instead of its synthetic images (e.g. datasets/mnist-sample).")
    var dataset: String?

    func run() throws {
        try runReportingErrors {
            guard repeats >= 1 else { throw ReptileError("--repeats must be at least 1", fix: "use e.g. 5") }
            for workload in workloads.isEmpty ? Workload.allCases : workloads {
                for result in try runWorkload(workload, repeats: repeats, scratch: scratch, readDataset: dataset) {
                    print(result.jsonLine)
                }
            }
        }
    }
}
