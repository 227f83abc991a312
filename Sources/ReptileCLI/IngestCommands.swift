import ArgumentParser
import Foundation
import ReptileCore
import ReptileDatasetTools
import ReptileFormats
import ReptileIngest
import ReptileSynthesis

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn raw images or labelled texts into a dataset of HDF5 shards (datasets/NAME).",
        subcommands: [IngestImage.self, IngestText.self])
}

extension ImageSourceFormat: ExpressibleByArgument {}
extension TextFormat: ExpressibleByArgument {}
extension TextEncoding: ExpressibleByArgument {}
extension LabelLevel: ExpressibleByArgument {}

extension SplitArguments {
    var options: SplitOptions {
        var options = SplitOptions()
        options.testFraction = testFraction
        options.validationFraction = validationFraction
        options.perClass = perClass
        options.allowFewer = allowFewer
        options.seed = seed
        options.shardSize = shardSize
        return options
    }
}

extension OutputArguments {
    var options: OutputOptions {
        var options = OutputOptions(name: name)
        options.parent = parent
        options.force = force
        options.command = commandLineText
        if deterministic {
            options.created = deterministicCreationTimestamp()
        }
        return options
    }
}

/// What every ingest prints: the dataset as `inspect` shows it, or JSON.
func reportIngest(_ result: IngestResult, json: Bool) throws {
    let report = try inspect(path: result.path, sampleCount: json ? 0 : 3)
    if json {
        try printJSON(report)
    } else {
        print(renderReport(report))
    }
}

struct IngestImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Ingest images: IDX files (raw or .gz) or an ImageFolder tree of PNG/JPEG images (ROOT/<class>/<image>.png|.jpg).",
        discussion: """
            Examples:
              reptile ingest image datasets/samples/mnist --name mnist --test-fraction 0.2 --seed 1
              reptile ingest image --images t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz --name mnist
              reptile ingest image photos/ --name photos --channels 3 --resize 32x32
            An IDX folder holding both train-* and t10k-* files gives the train and test splits.
            JPEGs may be grayscale or RGB (CMYK is refused); their EXIF orientation is applied.
            `train image` takes 28x28 or 32x32 images with 1 or 3 channels: other sizes get a warning.
            """)

    @Argument(help: "A folder of IDX files or an ImageFolder tree.")
    var source: String?

    @Option(help: "An IDX images file (with --labels) instead of SRC.")
    var images: String?

    @Option(help: "An IDX labels file (with --images).")
    var labels: String?

    @Option(help: "The source format: idx or imagefolder (default: detected).")
    var format: ImageSourceFormat?

    @Option(help: "A separate test source of the same format; then --test-fraction is not used.")
    var test: String?

    @Option(parsing: .unconditional, help: "Channels to store: 1 (gray) or 3 (RGB). Default: what the first image has.")
    var channels: Int?

    @Option(help: "Resize every image to WIDTHxHEIGHT (e.g. 32x32); without it, differing sizes are an error.")
    var resize: String?

    @OptionGroup var split: SplitArguments
    @OptionGroup var output: OutputArguments

    func run() throws {
        try runReportingErrors {
            try checkCounts(split.counts + [("--channels", channels, 1)])
            var options = ImageIngestOptions(source: source, name: output.name)
            options.imagesFile = images
            options.labelsFile = labels
            options.format = format
            options.testSource = test
            options.channels = channels
            options.resize = try resize.map(parseSize)
            options.split = split.options
            options.output = output.options
            options.showProgress = !output.json
            let result = try ingestImages(options)
            if let shape = result.info.imageShape, let reason = untrainableImageShapeReason(shape) {
                warn("\(result.path): \(reason)")
            }
            try reportIngest(result, json: output.json)
        }
    }

    private func parseSize(_ text: String) throws -> (width: Int, height: Int) {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]),
              (1...PNGFile.maximumSide).contains(width), (1...PNGFile.maximumSide).contains(height) else {
            throw ReptileError("--resize \(quoted(text)) is not WIDTHxHEIGHT", fix: "write e.g. --resize 32x32")
        }
        return (width, height)
    }
}

/// Why `train image` would refuse a dataset of this shape, with the fix, or nil when it takes it:
/// said at ingest time so a user does not learn it one stage later.
func untrainableImageShapeReason(_ shape: ImageShape) -> String? {
    let sizes = ImageGANArchitecture.supportedImageSizes
    if shape.height == shape.width, sizes.contains(shape.height), shape.channels == 1 || shape.channels == 3 { return nil }
    let accepted = sizes.map { "\($0)×\($0)" }.joined(separator: " or ")
    let suggested = sizes.min { abs($0 - max(shape.width, shape.height)) < abs($1 - max(shape.width, shape.height)) }!
    return "images are \(shape.width)×\(shape.height), but `train image` takes \(accepted) images, so this dataset can train "
        + "classifiers but not a generator; to train one, re-ingest with --resize \(suggested)x\(suggested) --force"
}

struct IngestText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "Ingest labelled texts: CSV/TSV, JSON Lines, class folders of .txt, label<TAB>text, TREC, fastText, or one file per class.",
        discussion: """
            Examples:
              reptile ingest text SMSSpamCollection --name sms --dedup
              reptile ingest text train_5500.label --test TREC_10.label --encoding latin1 --name trec
              reptile ingest text --class-file pos=rt-polarity.pos --class-file neg=rt-polarity.neg --encoding cp1252 --name mr
              reptile ingest text train.tsv --test dev.tsv --name sst2
            Lines split on \\n only; texts are trimmed of surrounding spaces and tabs.
            """)

    @Argument(help: "A file, or a folder of class folders of .txt files. Omit with --class-file.")
    var source: String?

    @Option(help: "The format: \(TextFormat.allCases.map(\.rawValue).joined(separator: ", ")) (default: from the extension or content).")
    var format: TextFormat?

    @Option(help: "Text encoding: utf8 (strict), latin1 or cp1252.")
    var encoding: TextEncoding = .utf8

    @Option(help: "The text column (name, or 0-based index); repeat to join several with a space. Default: text or sentence.")
    var textColumn: [String] = []

    @Option(help: "The label column (name or 0-based index). Default: label or class.")
    var labelColumn: String?

    @Flag(help: "The CSV/TSV file has no header row; give columns by index.")
    var noHeader = false

    @Option(help: "TREC labels: coarse (DESC) or fine (DESC:manner).")
    var labelLevel: LabelLevel = .coarse

    @Option(help: "LABEL=PATH: every line of PATH is a text of class LABEL (repeat per class).")
    var classFile: [String] = []

    @Option(help: "A separate test source read the same way; then --test-fraction is not used.")
    var test: String?

    @Flag(help: "Drop exact duplicate (text, label) pairs before splitting.")
    var dedup = false

    @Option(help: "The classes, comma-separated, in this order; any other label is an error.")
    var classes: String?

    @OptionGroup var split: SplitArguments
    @OptionGroup var output: OutputArguments

    func run() throws {
        try runReportingErrors {
            try checkCounts(split.counts)
            var options = TextIngestOptions(source: source, name: output.name)
            options.testSource = test
            options.reading.format = format
            options.reading.encoding = encoding
            options.reading.textColumns = textColumn
            options.reading.labelColumn = labelColumn
            options.reading.hasHeader = !noHeader
            options.reading.labelLevel = labelLevel
            options.reading.classFiles = try classFile.map { pair in
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex, pair.index(after: equals) != pair.endIndex else {
                    throw ReptileError("--class-file \(quoted(pair)) is not LABEL=PATH", fix: "write e.g. --class-file pos=rt-polarity.pos")
                }
                return ClassFile(label: String(pair[..<equals]), path: String(pair[pair.index(after: equals)...]))
            }
            if source == nil && options.reading.classFiles.isEmpty {
                throw ReptileError("no source given", fix: "give SRC, or --class-file LABEL=PATH for each class")
            }
            options.deduplicate = dedup
            options.classes = classes.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            options.split = split.options
            options.output = output.options
            options.showProgress = !output.json
            try reportIngest(try ingestTexts(options), json: output.json)
        }
    }
}
