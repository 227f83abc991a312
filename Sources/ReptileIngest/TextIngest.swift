import Foundation
import ReptileCore
import ReptileFormats

public struct TextIngestOptions: Sendable {
    /// SRC: a file or folder; nil when the records come from `reading.classFiles`.
    public var source: String?
    /// A separate test source read with the same options (`--test`).
    public var testSource: String?
    public var reading = TextSourceOptions()
    /// Drop exact duplicate (text, label) pairs before splitting.
    public var deduplicate = false
    /// The class names in this order; a label outside them is an error. nil: the labels found, ordered.
    public var classes: [String]?
    public var split = SplitOptions()
    public var output: OutputOptions
    public var showProgress = true

    public init(source: String?, name: String) {
        self.source = source
        output = OutputOptions(name: name)
    }
}

public func ingestTexts(_ options: TextIngestOptions) throws -> IngestResult {
    let separateTest = options.testSource != nil
    try validateSplitOptions(options.split, separateTest: separateTest)
    try validateDatasetName(options.output.name)
    let training = try readTextSource(at: options.source, options: options.reading)
    guard !training.records.isEmpty else {
        throw ReptileError(path: options.source ?? training.files.first, "holds no records", fix: "check the file and --format")
    }
    let test = try options.testSource.map { path in
        var reading = options.reading
        reading.classFiles = []
        return try readTextSource(at: path, options: reading)
    }
    let (trainingRecords, trainingDuplicates) = options.deduplicate ? deduplicated(training.records) : (training.records, 0)
    let (testRecords, testDuplicates) = options.deduplicate ? deduplicated(test?.records ?? []) : (test?.records ?? [], 0)

    let classNames: [String]
    if let classes = options.classes {
        guard Set(classes).count == classes.count else {
            throw ReptileError("--classes names a class twice (\(classes.joined(separator: ",")))", fix: "list each class once")
        }
        classNames = classes
    } else {
        classNames = orderedClassNames(trainingRecords.map(\.label))
    }
    let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
    func labelIndices(_ records: [TextRecord]) throws -> [Int] {
        try records.map { record in
            guard let index = classIndex[record.label] else {
                let origin = options.classes != nil ? "--classes" : "the training source"
                throw ReptileError(path: record.file, location: record.location.isEmpty ? nil : record.location,
                                   "unknown label \(quoted(record.label)): not among the classes of \(origin) (\(classNames.prefix(20).joined(separator: ", ")))",
                                   fix: options.classes != nil ? "add it to --classes or fix the record" : "fix the record, or remove it from the test source")
            }
            return index
        }
    }
    let labels = try labelIndices(trainingRecords)
    var counts = [Int](repeating: 0, count: classNames.count)
    for label in labels { counts[label] += 1 }
    try checkClasses(classNames, counts: counts, sourcePath: options.source ?? training.files.first ?? "")
    let testLabels = test == nil ? nil : try labelIndices(testRecords)
    if let test, testRecords.isEmpty {
        throw ReptileError(path: options.testSource ?? test.files.first, "holds no records", fix: "check the test file")
    }
    let plan = try planSplits(labels: labels, classNames: classNames, testLabels: testLabels, options: options.split)

    func records(_ name: String, _ indices: [Int], from source: [TextRecord], labels sourceLabels: [Int]) -> SplitRecords {
        SplitRecords(name: name, labels: indices.map { sourceLabels[$0] }) { writer, range in
            try writer.appendTexts(range.map { source[indices[$0]].text }, labels: range.map { Int64(sourceLabels[indices[$0]]) },
                                   integerColumns: ["source_index": range.map { Int64(indices[$0]) }])
        }
    }
    var splits = [records("train", plan.train, from: trainingRecords, labels: labels),
                  records("val", plan.validation, from: trainingRecords, labels: labels)]
    if let testLabels {
        splits.append(records("test", plan.test, from: testRecords, labels: testLabels))
    } else {
        splits.append(records("test", plan.test, from: trainingRecords, labels: labels))
    }

    let files = try describeSourceFiles(training.files.map { ($0, "train") } + (test?.files.map { ($0, "test") } ?? []))
    var config: [String: JSONValue] = splitConfig(options.split, separateTest: separateTest)
    config["kind"] = "text"
    config["format"] = .string(training.format.rawValue)
    config["encoding"] = .string(options.reading.encoding.rawValue)
    config["text_columns"] = .array(options.reading.textColumns.map { .string($0) })
    config["label_column"] = options.reading.labelColumn.map { .string($0) } ?? .null
    config["header"] = .bool(options.reading.hasHeader)
    config["label_level"] = .string(options.reading.labelLevel.rawValue)
    config["class_files"] = .array(options.reading.classFiles.map { .string("\($0.label)=\($0.path)") })
    config["dedup"] = .bool(options.deduplicate)
    config["classes"] = options.classes.map { .array($0.map { .string($0) }) } ?? .null
    config["source_sha256"] = .array(files.map { .string($0.sha256) })
    let processing: [String: JSONValue] = [
        "encoding": .string(options.reading.encoding.rawValue),
        "duplicates_dropped": .object(["train": .integer(Int64(trainingDuplicates)), "test": .integer(Int64(testDuplicates))]),
    ]
    let description = DatasetDescription(
        kind: .text, imageShape: nil, classNames: classNames,
        source: .init(format: training.format.rawValue, files: files,
                      records: training.records.count + (test?.records.count ?? 0), processing: processing),
        seed: options.split.seed, config: .object(config))
    let written = try writeDataset(description, splits: splits, output: options.output,
                                   shardSize: options.split.shardSize, progressEnabled: options.showProgress)
    return IngestResult(path: written.path, info: written.info)
}

/// Keeps the first of each exact (text, label) pair; returns how many were dropped.
func deduplicated(_ records: [TextRecord]) -> ([TextRecord], Int) {
    struct Key: Hashable {
        var text: String
        var label: String
    }
    var seen = Set<Key>()
    let kept = records.filter { seen.insert(Key(text: $0.text, label: $0.label)).inserted }
    return (kept, records.count - kept.count)
}
