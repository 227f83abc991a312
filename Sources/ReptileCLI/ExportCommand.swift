import ArgumentParser
import Foundation
import ReptileCore
import ReptileDatasetTools

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dataset to files other tools read.",
        subcommands: [ExportPNG.self, ExportJSONL.self])
}

/// What both exports take: the dataset, the split, where to write and how to report.
struct ExportArguments: ParsableArguments {
    @Argument(help: "The dataset folder.")
    var dataset: String

    @Option(help: "The folder (png) or file (jsonl) to create.")
    var out: String

    @Option(help: "The split to export.")
    var split: String = "train"

    @Flag(help: "Replace an existing output (only once the export is complete).")
    var force = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    /// The one-line summary, or the result as JSON with --json.
    func report(_ result: ExportResult, _ summary: String) throws {
        if json {
            try printJSON(["path": .string(result.path), "count": .integer(Int64(result.count)),
                           "class_counts": .array(result.classCounts.map { .integer(Int64($0)) })] as [String: JSONValue])
        } else {
            print(summary)
        }
    }
}

struct ExportPNG: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "png",
        abstract: "Write a split of an image dataset as PNGs in the ImageFolder layout: OUT/<class>/<index>.png.")

    @OptionGroup var arguments: ExportArguments

    func run() throws {
        try runReportingErrors {
            let result = try exportPNG(dataset: arguments.dataset, split: arguments.split, destination: arguments.out,
                                       force: arguments.force, showProgress: !arguments.json)
            try arguments.report(result, "wrote \(result.count) PNGs to \(result.path)")
        }
    }
}

struct ExportJSONL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jsonl",
        abstract: "Write a split of a text dataset as JSON Lines: one {\"text\", \"label\"} object a line (label by class name).")

    @OptionGroup var arguments: ExportArguments

    func run() throws {
        try runReportingErrors {
            var result: ExportResult?
            try writeAtomically(to: arguments.out, force: arguments.force) { handle in
                result = try exportJSONL(dataset: arguments.dataset, split: arguments.split, showProgress: !arguments.json) { try handle.write(contentsOf: $0) }
            }
            guard var result else { return }
            result.path = arguments.out
            try arguments.report(result, "wrote \(result.count) texts to \(arguments.out)")
        }
    }
}
