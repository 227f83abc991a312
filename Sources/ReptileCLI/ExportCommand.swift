import ArgumentParser
import Foundation
import ReptileCore
import ReptileDatasetTools

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dataset to files other tools read.",
        subcommands: [ExportPNG.self, ExportJSONL.self])
}

struct ExportPNG: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "png",
        abstract: "Write a split of an image dataset as PNGs in the ImageFolder layout: OUT/<class>/<index>.png.")

    @Argument(help: "The dataset folder.")
    var dataset: String

    @Option(help: "The folder to create.")
    var out: String

    @Option(help: "The split to export.")
    var split: String = "train"

    @Flag(help: "Replace an existing folder (only once the export is complete).")
    var force = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let result = try exportPNG(dataset: dataset, split: split, destination: out, force: force, showProgress: !json)
            if json {
                try printJSON(["path": .string(result.path), "count": .integer(Int64(result.count)),
                               "class_counts": .array(result.classCounts.map { .integer(Int64($0)) })] as [String: JSONValue])
            } else {
                print("wrote \(result.count) PNGs to \(result.path)")
            }
        }
    }
}

struct ExportJSONL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jsonl",
        abstract: "Write a split of a text dataset as JSON Lines: one {\"text\", \"label\"} object a line (label by class name).")

    @Argument(help: "The dataset folder.")
    var dataset: String

    @Option(help: "The file to create (e.g. trec-train.jsonl).")
    var out: String

    @Option(help: "The split to export.")
    var split: String = "train"

    @Flag(help: "Replace an existing file (only once the export is complete).")
    var force = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            var result: ExportResult?
            try writeAtomically(to: out, force: force) { handle in
                result = try exportJSONL(dataset: dataset, split: split, showProgress: !json) { handle.write($0) }
            }
            guard let result else { return }
            if json {
                try printJSON(["path": .string(out), "count": .integer(Int64(result.count)),
                               "class_counts": .array(result.classCounts.map { .integer(Int64($0)) })] as [String: JSONValue])
            } else {
                print("wrote \(result.count) texts to \(out)")
            }
        }
    }
}
