import ArgumentParser
import ReptileDatasetTools

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a dataset folder or one shard: kind, shape, classes, counts per split and class, samples.")

    @Argument(help: "A dataset folder (with dataset_info.json) or a .h5 shard.")
    var path: String

    @Option(parsing: .unconditional, help: "Sample texts (or image previews with --preview) to show per split.")
    var samples: Int = 3

    @Flag(help: "Draw images as character art.")
    var preview = false

    @Flag(help: "Check every shard's sha256 against dataset_info.json (reads every byte).")
    var verify = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            try checkCounts([("--samples", samples, 0)])
            let report = try inspect(path: path, sampleCount: samples, previews: preview, verify: verify)
            if json {
                try printJSON(report)
            } else {
                print(renderReport(report))
            }
        }
    }
}
