import Foundation
import ReptileCore
import ReptileFormats

/// Writes a split of a text dataset as JSON Lines, one `{"text", "label"}` object a line (the label
/// by class name, records in stored order), the layout of `generate`'s synthetic.jsonl that
/// pandas, `datasets` and jq read. `write` receives the lines a batch at a time, so memory is
/// bounded by the batch, not the dataset.
public func exportJSONL(dataset: String, split: String, showProgress: Bool = true, write: (Data) throws -> Void) throws -> ExportResult {
    let folder = try DatasetFolder(path: dataset)
    guard folder.info.kind == .text else {
        throw ReptileError(path: dataset, "is an image dataset; JSON Lines export needs texts", fix: "use `reptile export png` for images")
    }
    let shards = try folder.shards(of: split)
    let classNames = folder.info.classNames
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    let quotedNames = try classNames.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
    let total = shards.reduce(0) { $0 + $1.count }
    let progress = ProgressBar("exporting \(split)", total: total, unit: "texts", enabled: showProgress && ProgressBar.terminalAttached)
    var classCounts = [Int](repeating: 0, count: classNames.count)
    var count = 0
    for shard in shards {
        for batchStart in stride(from: 0, to: shard.count, by: 4096) {
            let rows = batchStart..<min(shard.count, batchStart + 4096)
            var lines = Data()
            for (text, label) in zip(try shard.texts(rows), try shard.labels(rows)) {
                let quotedText = String(decoding: try encoder.encode(text), as: UTF8.self)
                lines.append(contentsOf: Array("{\"text\":\(quotedText),\"label\":\(quotedNames[Int(label)])}\n".utf8))
                classCounts[Int(label)] += 1
                count += 1
            }
            try write(lines)
            progress.advance(by: rows.count)
        }
    }
    progress.finish()
    return ExportResult(path: dataset, count: count, classCounts: classCounts)
}
