import Foundation
import ReptileCore

/// One row of `reptile compare`: what a pretrain or finetune report says about accuracy on held-out
/// real data, with the training data it came from.
public struct ComparisonRow: Codable, Equatable, Sendable {
    public var label: String
    public var report: String
    /// Mean over the report's runs (one unless `--repeats`), and the sample standard deviation.
    public var accuracy: MeanAndDeviation
    public var macroF1: MeanAndDeviation
    /// The evaluation split, e.g. `datasets/mnist-sample:test`.
    public var evaluatedOn: String
    /// Training sources with their record counts, e.g. `datasets/mnist-sample:train (7200)`.
    public var trainedOn: [String]
    /// For a finetune that continued a classifier: what that classifier was trained on, one entry
    /// (its sources joined by " + ") per earlier stage, oldest first, read from the report next to
    /// its checkpoint; the checkpoint's path when there is no such report.
    public var earlierStages: [String]
}

/// The parts of pretrain and finetune reports that a comparison reads; both kinds decode into it.
private struct ReportSummaryFields: Decodable {
    struct Metrics: Decodable { var accuracy: Double; var macroF1: Double }
    struct Used: Decodable { var dataset: String; var split: String; var records: Int }
    struct Summary: Decodable { var accuracy: MeanAndDeviation; var macroF1: MeanAndDeviation }
    struct FinetuneData: Decodable { var train: [Used]; var evaluation: Used }
    struct Start: Decodable { var checkpoint: String?; var sha256: String?; var scratch: Bool }
    /// Every classifier report describes its classifier; other JSON files do not.
    struct Present: Decodable {
        init(from decoder: Decoder) throws { _ = try decoder.container(keyedBy: AnyKey.self) }
        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }
    var classifier: Present
    var test: Metrics?
    var after: Metrics?
    var summary: Summary?
    var data: FinetuneDataOrSplits?
    var start: Start?

    /// Pretrain reports keep `data` as a map from split name to what was used; finetune reports
    /// as a record with `train` and `evaluation`.
    enum FinetuneDataOrSplits: Decodable {
        case finetune(FinetuneData)
        case splits([String: Used])
        init(from decoder: Decoder) throws {
            if let finetune = try? FinetuneData(from: decoder) { self = .finetune(finetune); return }
            self = .splits(try [String: Used](from: decoder))
        }
    }
}

/// Reads `LABEL=PATH` pairs (PATH a report.json or the folder holding one) into comparison rows.
public func compareReports(_ entries: [(label: String, path: String)]) throws -> [ComparisonRow] {
    try entries.map { entry in
        var path = entry.path
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            path = (path as NSString).appendingPathComponent(ClassifierRunFiles.report)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReptileError(path: path, "no such report", fix: "pass the report.json (or the folder) that `reptile pretrain` or `reptile finetune` wrote")
        }
        let fields: ReportSummaryFields
        do {
            fields = try StableJSON.decode(ReportSummaryFields.self, from: data)
        } catch {
            throw ReptileError(path: path, "is not a pretrain or finetune report", fix: "pass a report.json written by `reptile pretrain` or `reptile finetune`")
        }
        if let summary = fields.summary, case .finetune(let used)? = fields.data {
            return ComparisonRow(label: entry.label, report: path, accuracy: summary.accuracy, macroF1: summary.macroF1,
                                 evaluatedOn: "\(used.evaluation.dataset):\(used.evaluation.split)",
                                 trainedOn: fields.trainedOn, earlierStages: earlierStages(of: fields))
        }
        guard let test = fields.test, case .splits(let splits)? = fields.data, let evaluation = splits["test"] else {
            throw ReptileError(path: path, "has no accuracy on a test split", fix: "pretrain on a dataset with a test split, or pass a finetune report")
        }
        return ComparisonRow(label: entry.label, report: path, accuracy: MeanAndDeviation([test.accuracy]),
                             macroF1: MeanAndDeviation([test.macroF1]),
                             evaluatedOn: "\(evaluation.dataset):\(evaluation.split)",
                             trainedOn: fields.trainedOn, earlierStages: [])
    }
}

extension ReportSummaryFields {
    var trainedOn: [String] {
        let describe = { (used: Used) in "\(used.dataset):\(used.split) (\(used.records))" }
        switch data {
        case .finetune(let used)?: return used.train.map(describe)
        case .splits(let splits)?: return splits["train"].map { [describe($0)] } ?? []
        case nil: return []
        }
    }
}

/// The stages before a finetune, followed through the reports next to each starting checkpoint
/// while that checkpoint is still the one the finetune started from (a few stages at most: a chain
/// that long is more likely a loop of copied folders).
private func earlierStages(of fields: ReportSummaryFields) -> [String] {
    var stages: [String] = []
    var current = fields
    while let start = current.start, !start.scratch, let checkpoint = start.checkpoint, stages.count < 8 {
        guard start.sha256 == nil || (try? SHA256.hex(ofFileAt: checkpoint)) == start.sha256 else {
            stages.append("from \(checkpoint) (replaced since)")
            break
        }
        let report = ((checkpoint as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent(ClassifierRunFiles.report)
        guard let data = FileManager.default.contents(atPath: report),
              let earlier = try? StableJSON.decode(ReportSummaryFields.self, from: data) else {
            stages.append("from \(checkpoint)")
            break
        }
        stages.append(earlier.trainedOn.joined(separator: " + "))
        current = earlier
    }
    return stages.reversed()
}

/// A Markdown table: accuracy and macro-F1 in percent (mean ± std when there were repeats), the
/// difference to the first row (with its standard error when both rows have repeats, marked when
/// it is within twice that), and the training data, earlier stages first ("A, then B").
public func comparisonTable(_ rows: [ComparisonRow]) -> String {
    func percent(_ value: MeanAndDeviation) -> String {
        let mean = String(format: "%.2f", value.mean * 100)
        return value.values.count > 1 ? "\(mean) ± \(String(format: "%.2f", value.std * 100))" : mean
    }
    var lines = ["| run | test accuracy % | macro-F1 % | vs. first | trained on |", "|---|---|---|---|---|"]
    var anyStandardError = false
    for row in rows {
        let difference = (row.accuracy.mean - rows[0].accuracy.mean) * 100
        var versusFirst = row == rows[0] ? "" : String(format: "%+.2f", difference)
        if row != rows[0], let standardError = differenceStandardError(row.accuracy, rows[0].accuracy) {
            anyStandardError = true
            versusFirst += String(format: " ± %.2f", standardError * 100) + (abs(difference) < 2 * standardError * 100 ? " (within noise)" : "")
        }
        lines.append("| \(row.label) | \(percent(row.accuracy)) | \(percent(row.macroF1)) | \(versusFirst) | \((row.earlierStages + [row.trainedOn.joined(separator: " + ")]).joined(separator: ", then ")) |")
    }
    let evaluations = Set(rows.map(\.evaluatedOn))
    lines.append("")
    if anyStandardError {
        lines.append("± after a difference: its standard error from both rows' seeds, √(s₁²/n₁ + s₂²/n₂); "
                     + "\"within noise\": the difference is smaller than twice that.")
    }
    lines.append(evaluations.count == 1
        ? "All evaluated on \(rows[0].evaluatedOn) (held-out real data)."
        : "Warning: the rows were evaluated on different splits: \(evaluations.sorted().joined(separator: ", ")).")
    return lines.joined(separator: "\n")
}

/// The standard error of the difference of two means (Welch), when both have at least two runs.
func differenceStandardError(_ first: MeanAndDeviation, _ second: MeanAndDeviation) -> Double? {
    guard first.values.count > 1, second.values.count > 1 else { return nil }
    return (first.std * first.std / Double(first.values.count) + second.std * second.std / Double(second.values.count)).squareRoot()
}
