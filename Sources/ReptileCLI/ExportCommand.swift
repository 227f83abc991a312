import ArgumentParser
import Foundation
import ReptileCore
import ReptileDatasetTools

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dataset to files other tools read.",
        subcommands: [ExportPNG.self])
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
