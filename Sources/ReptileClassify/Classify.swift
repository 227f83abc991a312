import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// One line of `reptile classify` output. Exactly one of `index` (a dataset record), `file` (a PNG or JPEG,
/// relative to the folder given) and `text` (a line of a text file) says which input it is.
public struct Prediction: Codable, Equatable, Sendable {
    public var index: Int?
    public var file: String?
    public var text: String?
    public var label: String
    public var probability: Double
    /// Dataset records: the stored label, to compare with.
    public var trueLabel: String?
}

public struct ClassifyOptions {
    public var classifier: String
    public var input: String
    public var batchSize = 256
    public var threads: Int
    public init(classifier: String, input: String, threads: Int) {
        self.classifier = classifier
        self.input = input
        self.threads = threads
    }
}

/// `reptile classify`: predictions for a dataset split (`FOLDER[:SPLIT]`, default test), a folder
/// of PNG and JPEG images (read and converted as ingest does, searched recursively in sorted order) or a text file
/// (one text a line), handed to `emit` one at a time so memory stays bounded by a batch.
public func classify(_ options: ClassifyOptions, emit: (Prediction) throws -> Void) throws {
    let model = try ClassifierArchitectures.load(from: options.classifier)
    let config = model.config
    BLAS.setThreadCount(options.threads)
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: options.input, isDirectory: &isDirectory)
    let datasetInfo = URL(fileURLWithPath: options.input).appendingPathComponent(DatasetInfo.fileName).path

    if !exists || (isDirectory.boolValue && FileManager.default.fileExists(atPath: datasetInfo)) {
        // A dataset split (a missing path gets DatasetFolder's error).
        let source = try ShardSource(options.input, defaultSplit: "test")
        let labelMap = try source.labelMap(for: config, checkpoint: options.classifier)
        let predictions = try predict(model, source: source, labelMap: labelMap, batchSize: options.batchSize)
        for index in predictions.labels.indices {
            try emit(Prediction(index: index, label: config.classNames[predictions.predicted[index]],
                                probability: Double(predictions.probabilities[index]), trueLabel: config.classNames[predictions.labels[index]]))
        }
    } else if isDirectory.boolValue {
        guard config.kind == "image" else {
            throw ReptileError(path: options.input, "is a folder of images but \(options.classifier) is a \(config.kind) classifier",
                               fix: "give a text file (one text a line) or a text dataset")
        }
        try classifyImageFolder(options, model: model, emit: emit)
    } else {
        guard config.kind == "text" else {
            throw ReptileError(path: options.input, "is a file, but \(options.classifier) is an image classifier",
                               fix: "give a folder of PNG or JPEG images, or an image dataset")
        }
        try classifyTextFile(options, model: model, emit: emit)
    }
}

private func classifyImageFolder(_ options: ClassifyOptions, model: any TrainableClassifier, emit: (Prediction) throws -> Void) throws {
    let config = model.config
    let root = URL(fileURLWithPath: options.input)
    let files = (FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? [])
        .filter { ImageFile.hasImageExtension($0) && !$0.split(separator: "/").contains { $0.hasPrefix(".") } }
        .sorted()
    guard !files.isEmpty else {
        throw ReptileError(path: options.input, "holds no .png, .jpg or .jpeg files", fix: "give a folder of PNG or JPEG images, or a dataset")
    }
    let height = config.imageHeight!, width = config.imageWidth!, channels = config.imageChannels!
    for start in stride(from: 0, to: files.count, by: options.batchSize) {
        let names = Array(files[start..<min(files.count, start + options.batchSize)])
        var batch = ClassifierBatch()
        for name in names {
            let path = root.appendingPathComponent(name).path
            let image = try ImageFile.read(at: path, channels: channels)
            guard image.width == width, image.height == height else {
                throw ReptileError(path: path, "is \(image.width)×\(image.height) but the classifier reads \(width)×\(height) images",
                                   fix: "resize it to \(width)x\(height) (as `reptile ingest --resize` does) or remove it")
            }
            batch.images += image.pixels.map(ImageScaling.float)
            batch.labels.append(0)
        }
        let predictions = try predictOnce(model, batch)
        for (offset, name) in names.enumerated() {
            try emit(Prediction(file: name, label: config.classNames[predictions.predicted[offset]],
                                probability: Double(predictions.probabilities[offset])))
        }
    }
}

private func classifyTextFile(_ options: ClassifyOptions, model: any TrainableClassifier, emit: (Prediction) throws -> Void) throws {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: options.input))
    } catch {
        throw ReptileError(path: options.input, "cannot read (\(error.localizedDescription))", fix: "check the path and permissions")
    }
    guard let content = String(data: data, encoding: .utf8) else {
        throw ReptileError(path: options.input, "is not valid UTF-8", fix: "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)")
    }
    // Lines split on \n only and trimmed of spaces, tabs and CR, as `reptile ingest text` reads them.
    var lines = content.split(separator: "\n", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t\r"))
    }
    if lines.last == "" { lines.removeLast() }
    for start in stride(from: 0, to: lines.count, by: options.batchSize) {
        var batch = ClassifierBatch()
        batch.texts = Array(lines[start..<min(lines.count, start + options.batchSize)])
        batch.labels = [Int](repeating: 0, count: batch.texts.count)
        let predictions = try predictOnce(model, batch)
        for (offset, text) in batch.texts.enumerated() {
            try emit(Prediction(text: text, label: model.config.classNames[predictions.predicted[offset]],
                                probability: Double(predictions.probabilities[offset])))
        }
    }
}

private func predictOnce(_ model: any TrainableClassifier, _ batch: ClassifierBatch) throws -> Predictions {
    var served = false
    return try predict(model) { next in
        if served { return false }
        served = true
        next = batch
        return true
    }
}
