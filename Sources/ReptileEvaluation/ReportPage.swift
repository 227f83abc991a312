import Foundation
import ReptileClassify
import ReptileCore
import ReptileFormats

/// A few records of each class, synthetic next to real, for the page a person reads: the
/// figures say how far apart the two sets are, the examples show it.
public struct EvaluationExamples: Sendable {
    public struct ClassExamples: Sendable {
        public var name: String
        /// Images: one strip of each set's images; texts: each set's texts.
        public var syntheticImages: PixelImage?, realImages: PixelImage?
        public var syntheticTexts: [String], realTexts: [String]
    }

    public var perClass: Int
    public var classes: [ClassExamples]
}

/// Up to `perClass` synthetic records and as many real test records of every class, a seeded
/// sample of each (`options.seed`), read from the shards `evaluate` compares.
public func evaluationExamples(_ options: EvaluateOptions, perClass: Int = 10) throws -> EvaluationExamples {
    let synthetic = try ShardSource(options.synthetic, defaultSplit: "synthetic")
    let test = try ShardSource(options.dataset + ":test", defaultSplit: "test")
    let classNames = test.classNames
    let syntheticToDataset = synthetic.classNames.map { name -> Int in
        guard let index = classNames.firstIndex(of: name) else { return -1 }
        return index
    }
    func chosen(_ source: ShardSource, labelMap: [Int]?, purpose: String) throws -> [[Int]] {
        let labels = try readLabels(source, labelMap: labelMap)
        return classNames.indices.map { label in
            seededSample(labels.indices.filter { labels[$0] == label }, size: perClass, seed: options.seed, purpose: "\(purpose)-\(label)")
        }
    }
    let syntheticChoice = try chosen(synthetic, labelMap: syntheticToDataset, purpose: "page-synthetic")
    let realChoice = try chosen(test, labelMap: nil, purpose: "page-real")
    var classes = classNames.map {
        EvaluationExamples.ClassExamples(name: $0, syntheticImages: nil, realImages: nil, syntheticTexts: [], realTexts: [])
    }
    if test.kind == .text {
        let syntheticTexts = try records(synthetic, at: syntheticChoice.flatMap { $0 }) { shard, row in try shard.texts(row..<(row + 1))[0] }
        let realTexts = try records(test, at: realChoice.flatMap { $0 }) { shard, row in try shard.texts(row..<(row + 1))[0] }
        for label in classNames.indices {
            classes[label].syntheticTexts = syntheticChoice[label].map { syntheticTexts[$0]! }
            classes[label].realTexts = realChoice[label].map { realTexts[$0]! }
        }
    } else if let shape = test.folder.info.imageShape {
        let syntheticImages = try records(synthetic, at: syntheticChoice.flatMap { $0 }) { shard, row in try shard.images(row..<(row + 1)) }
        let realImages = try records(test, at: realChoice.flatMap { $0 }) { shard, row in try shard.images(row..<(row + 1)) }
        for label in classNames.indices {
            classes[label].syntheticImages = imageStrip(syntheticChoice[label].map { syntheticImages[$0]! }, shape: shape)
            classes[label].realImages = imageStrip(realChoice[label].map { realImages[$0]! }, shape: shape)
        }
    }
    return EvaluationExamples(perClass: perClass, classes: classes)
}

/// The records at `indices` (positions in the split, across its shards), by position.
private func records<Value>(_ source: ShardSource, at indices: [Int],
                            _ read: (ShardReader, Int) throws -> Value) throws -> [Int: Value] {
    var result: [Int: Value] = [:]
    var start = 0
    let wanted = Set(indices)
    for shard in try source.folder.shards(of: source.split) {
        for index in wanted where index >= start && index < start + shard.count {
            result[index] = try read(shard, index - start)
        }
        start += shard.count
    }
    return result
}

/// Images side by side with a 2-pixel gap, on black (nil for none).
private func imageStrip(_ images: [[UInt8]], shape: ImageShape) -> PixelImage? {
    guard !images.isEmpty else { return nil }
    let gap = 2, channels = shape.channels
    let width = images.count * shape.width + (images.count + 1) * gap, height = shape.height + 2 * gap
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    for (index, image) in images.enumerated() {
        let left = gap + index * (shape.width + gap)
        for y in 0..<shape.height {
            let source = y * shape.width * channels, destination = ((gap + y) * width + left) * channels
            pixels.replaceSubrange(destination..<(destination + shape.width * channels),
                                   with: image[source..<(source + shape.width * channels)])
        }
    }
    return PixelImage(width: width, height: height, channels: channels, pixels: pixels)
}

/// The report as one self-contained HTML page: the summary, the tables of `evaluationTable`, the
/// notes, the examples (images embedded as PNG data), and the data and classifier used with their sha256.
public func evaluationPage(_ report: EvaluationReport, examples: EvaluationExamples) throws -> String {
    func table(_ rows: [EvaluationRow]) -> String {
        let used = EvaluationColumn.used(by: rows)
        let showSampled = rows.contains { $0.sampled != nil }
        var html = "<table>\n<tr><th>class</th><th>records</th>" + (showSampled ? "<th>sampled</th>" : "")
            + used.map { "<th>\(escaped($0.header))</th>" }.joined() + "</tr>\n"
        for row in rows {
            html += "<tr><td>\(escaped(row.class))</td><td>\(row.records)</td>"
                + (showSampled ? "<td>\(row.sampled.map(String.init) ?? "")</td>" : "")
                + used.map { "<td>\($0.cell(row))</td>" }.joined() + "</tr>\n"
        }
        return html + "</table>\n"
    }
    func image(_ strip: PixelImage?, _ description: String) throws -> String {
        guard let strip else { return "<td>none</td>" }
        let data = Data(try PNGFile.encode(strip)).base64EncodedString()
        return "<td><img alt=\"\(escaped(description))\" width=\"\(strip.width * 3)\" height=\"\(strip.height * 3)\" "
            + "src=\"data:image/png;base64,\(data)\"></td>"
    }
    func list(_ texts: [String]) -> String {
        texts.isEmpty ? "<td>none</td>" : "<td><ol>" + texts.map { "<li>\(escaped($0))</li>" }.joined() + "</ol></td>"
    }

    let title = "Reptile evaluation: \(report.synthetic.dataset):\(report.synthetic.split)"
    var html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(escaped(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em; max-width: 80em; }
        table { border-collapse: collapse; margin: 1em 0; }
        th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
        th:first-child, td:first-child, .examples td { text-align: left; }
        img { image-rendering: pixelated; }
        code { font-size: 0.9em; }
        </style>
        </head>
        <body>
        <h1>\(escaped(title))</h1>
        <p>\(escaped(evaluationSummary(report)))</p>

        """
    html += "<h2>Synthetic \(escaped(report.kind))s</h2>\n" + table([report.overall] + report.classes)
    if let realTest = report.realTest {
        html += "<h2>The real test split, for comparison</h2>\n" + table(realTest)
    }
    html += evaluationNotes(report).map { "<p>\(escaped($0))</p>\n" }.joined()
    html += "<h2>Examples</h2>\n<p>A seeded sample of at most \(examples.perClass) records per class (seed \(report.settings.seed)).</p>\n"
    html += "<table class=\"examples\">\n<tr><th>class</th><th>synthetic</th><th>real (test split)</th></tr>\n"
    for examples in examples.classes {
        html += "<tr><td>\(escaped(examples.name))</td>"
        if report.kind == "image" {
            html += try image(examples.syntheticImages, "synthetic \(examples.name)") + image(examples.realImages, "real \(examples.name)")
        } else {
            html += list(examples.syntheticTexts) + list(examples.realTexts)
        }
        html += "</tr>\n"
    }
    html += "</table>\n<h2>Data</h2>\n<table>\n<tr><th>role</th><th>shard</th><th>records</th><th>sha256</th></tr>\n"
    for (role, data) in [("synthetic", report.synthetic), ("reference (test)", report.reference), ("train", report.train)] {
        for shard in data.shards {
            html += "<tr><td>\(role)</td><td><code>\(escaped(shard.file))</code></td><td>\(shard.count)</td><td><code>\(shard.sha256)</code></td></tr>\n"
        }
    }
    if let classifier = report.classifier {
        html += "<tr><td>classifier</td><td><code>\(escaped(classifier.path))</code></td><td></td><td><code>\(classifier.sha256)</code></td></tr>\n"
    }
    html += "</table>\n<p>reptile \(escaped(report.toolVersion))</p>\n</body>\n</html>\n"
    return html
}

/// Text as HTML character data or attribute value.
func escaped(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}
