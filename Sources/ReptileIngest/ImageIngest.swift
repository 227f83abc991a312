import Foundation
import ReptileCore
import ReptileFormats

public enum ImageSourceFormat: String, CaseIterable, Sendable {
    case idx
    case imageFolder = "imagefolder"
}

public struct ImageIngestOptions: Sendable {
    /// SRC: a folder of IDX files, an ImageFolder tree, or nil with `imagesFile`/`labelsFile`.
    public var source: String?
    public var imagesFile: String?
    public var labelsFile: String?
    public var format: ImageSourceFormat?
    /// A separate test source of the same kind (`--test`).
    public var testSource: String?
    /// 1 or 3; nil keeps the channel count of the first image.
    public var channels: Int?
    /// Resize every image to width × height (otherwise differing sizes are an error).
    public var resize: (width: Int, height: Int)?
    public var split = SplitOptions()
    public var output: OutputOptions
    public var showProgress = true

    public init(source: String?, name: String) {
        self.source = source
        output = OutputOptions(name: name)
    }
}

/// The outcome of an ingest, for the summary the command prints.
public struct IngestResult: Sendable {
    public var path: String
    public var info: DatasetInfo
}

/// Images read from a source, decoded on demand so that an ImageFolder never sits in memory whole.
struct ImageRecords {
    var labels: [String]
    var files: [(path: String, role: String)]
    var format: ImageSourceFormat
    /// The native size of the first image (what other images are compared against).
    var firstShape: ImageShape
    /// Decodes record `index` to `shape` (channels converted, resized when allowed).
    var decode: (Int, ImageShape) throws -> [UInt8]
}

public func ingestImages(_ options: ImageIngestOptions) throws -> IngestResult {
    let separateTest = options.testSource != nil
    try validateSplitOptions(options.split, separateTest: separateTest)
    try validateDatasetName(options.output.name)
    if let channels = options.channels, channels != 1 && channels != 3 {
        throw ReptileError("--channels \(channels) is not supported", fix: "use 1 (gray) or 3 (RGB)")
    }
    let training = try readImageRecords(source: options.source, imagesFile: options.imagesFile, labelsFile: options.labelsFile,
                                        format: options.format, role: "train", resize: options.resize)
    var test: ImageRecords? = nil
    if let testSource = options.testSource {
        test = try readImageRecords(source: testSource, imagesFile: nil, labelsFile: nil, format: options.format ?? training.records.format,
                                    role: "test", resize: options.resize).records
    } else {
        test = training.pairedTest
    }
    let first = training.records.firstShape
    if let testShape = test?.firstShape, options.resize == nil,
       testShape.width != first.width || testShape.height != first.height {
        throw ReptileError(path: test?.files.first?.path, "test images are \(testShape.width)×\(testShape.height) but training images are \(first.width)×\(first.height)",
                           fix: "pass --resize \(first.width)x\(first.height) to resize every image")
    }
    let shape = ImageShape(height: options.resize?.height ?? first.height, width: options.resize?.width ?? first.width,
                           channels: options.channels ?? first.channels)
    let sourcePath = options.source ?? options.imagesFile ?? ""
    let classNames = orderedClassNames(training.records.labels)
    let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
    let labels = training.records.labels.map { classIndex[$0]! }
    var counts = [Int](repeating: 0, count: classNames.count)
    for label in labels { counts[label] += 1 }
    try checkClasses(classNames, counts: counts, sourcePath: sourcePath)
    var testLabels: [Int]? = nil
    if let test {
        testLabels = try test.labels.enumerated().map { index, name in
            guard let label = classIndex[name] else {
                // An ImageFolder names the image file; an IDX source the record in its labels file.
                let imageFolder = test.format == .imageFolder
                throw ReptileError(path: imageFolder ? test.files[index].path : test.files[1].path,
                                   location: imageFolder ? nil : "label \(index)",
                                   "label \(quoted(name)) does not occur in the training source (classes: \(classNames.joined(separator: ", ")))",
                                   fix: "give a test source with the same classes")
            }
            return label
        }
    }
    let plan = try planSplits(labels: labels, classNames: classNames, testLabels: testLabels, options: options.split)

    func records(_ name: String, _ indices: [Int], from source: ImageRecords, labels sourceLabels: [Int]) -> SplitRecords {
        SplitRecords(name: name, labels: indices.map { sourceLabels[$0] }) { writer, range in
            var pixels: [UInt8] = []
            pixels.reserveCapacity(range.count * shape.pixelCount)
            for position in range { pixels += try source.decode(indices[position], shape) }
            try writer.appendImages(pixels, labels: range.map { Int64(sourceLabels[indices[$0]]) },
                                    integerColumns: ["source_index": range.map { Int64(indices[$0]) }])
        }
    }
    var splits = [records("train", plan.train, from: training.records, labels: labels),
                  records("val", plan.validation, from: training.records, labels: labels)]
    if let test, let testLabels {
        splits.append(records("test", plan.test, from: test, labels: testLabels))
    } else {
        splits.append(records("test", plan.test, from: training.records, labels: labels))
    }

    let files = try describeSourceFiles(training.records.files + (test?.files ?? []))
    var config: [String: JSONValue] = splitConfig(options.split, separateTest: test != nil)
    config["kind"] = "image"
    config["format"] = .string(training.records.format.rawValue)
    config["channels"] = .integer(Int64(shape.channels))
    config["resize"] = options.resize.map { .string("\($0.width)x\($0.height)") } ?? .null
    config["source_sha256"] = .array(files.map { .string($0.sha256) })
    var processing: [String: JSONValue] = [:]
    processing["channels_from_source"] = .integer(Int64(first.channels))
    processing["size_from_source"] = .string("\(first.width)x\(first.height)")
    processing["resized"] = .bool(options.resize != nil)
    let description = DatasetDescription(
        kind: .image, imageShape: shape, classNames: classNames,
        source: .init(format: training.records.format.rawValue, files: files,
                      records: training.records.labels.count + (test?.labels.count ?? 0), processing: processing),
        seed: options.split.seed, config: .object(config))
    let written = try writeDataset(description, splits: splits, output: options.output,
                                   shardSize: options.split.shardSize, progressEnabled: options.showProgress)
    return IngestResult(path: written.path, info: written.info)
}

/// A source's records and, for an IDX folder that holds both `train-*` and `t10k-*` files, its test part.
private struct ImageSourceReading {
    var records: ImageRecords
    var pairedTest: ImageRecords?
}

private func readImageRecords(source: String?, imagesFile: String?, labelsFile: String?, format: ImageSourceFormat?,
                              role: String, resize: (width: Int, height: Int)?) throws -> ImageSourceReading {
    if let imagesFile, let labelsFile {
        return ImageSourceReading(records: try idxRecords(images: imagesFile, labels: labelsFile, role: role, resize: resize), pairedTest: nil)
    }
    if imagesFile != nil || labelsFile != nil {
        throw ReptileError("--images and --labels go together", fix: "give both IDX files, or a folder as SRC")
    }
    guard let source else {
        throw ReptileError("no source given", fix: "give SRC (an IDX folder or an ImageFolder tree) or --images and --labels")
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
        throw ReptileError(path: source, "no such file or folder", fix: "check the path")
    }
    guard isDirectory.boolValue else {
        throw ReptileError(path: source, "is a file; SRC is a folder of IDX files or of class folders",
                           fix: "give the folder, or the IDX files with --images and --labels")
    }
    let pairs = try findIDXPairs(in: source)
    let detected: ImageSourceFormat = format ?? (pairs.isEmpty ? .imageFolder : .idx)
    switch detected {
    case .imageFolder:
        return ImageSourceReading(records: try imageFolderRecords(root: source, role: role, resize: resize), pairedTest: nil)
    case .idx:
        guard !pairs.isEmpty else {
            throw ReptileError(path: source, "holds no IDX image/label pair (files named *images*idx3* and *labels*idx1*)",
                               fix: "give --images and --labels explicitly")
        }
        if pairs.count == 1 {
            return ImageSourceReading(records: try idxRecords(images: pairs[0].images, labels: pairs[0].labels, role: role, resize: resize),
                                      pairedTest: nil)
        }
        let train = pairs.first { $0.prefix.hasPrefix("train") }
        let test = pairs.first { $0.prefix.hasPrefix("t10k") || $0.prefix.hasPrefix("test") }
        guard let train, let test, pairs.count == 2 else {
            throw ReptileError(path: source, "holds several IDX pairs (\(pairs.map(\.prefix).joined(separator: ", ")))",
                               fix: "give --images and --labels to choose one")
        }
        return ImageSourceReading(records: try idxRecords(images: train.images, labels: train.labels, role: "train", resize: resize),
                                  pairedTest: try idxRecords(images: test.images, labels: test.labels, role: "test", resize: resize))
    }
}

private struct IDXPair {
    var prefix: String
    var images: String
    var labels: String
}

/// MNIST-style names: `PREFIX-images-idx3-ubyte[.gz]` with `PREFIX-labels-idx1-ubyte[.gz]` (also `.` instead of `-`).
private func findIDXPairs(in folder: String) throws -> [IDXPair] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    var pairs: [IDXPair] = []
    for name in names.sorted() where name.contains("idx3") {
        guard let range = name.range(of: "images") else { continue }
        let prefix = String(name[..<range.lowerBound])
        let labelsName = names.sorted().first { candidate in
            candidate.hasPrefix(prefix + "labels") && candidate.contains("idx1")
        }
        guard let labelsName else {
            throw ReptileError(path: URL(fileURLWithPath: folder).appendingPathComponent(name).path,
                               "has no matching labels file (\(prefix)labels-idx1-ubyte[.gz])", fix: "add it, or give --images and --labels")
        }
        pairs.append(IDXPair(prefix: prefix.trimmingCharacters(in: CharacterSet(charactersIn: "-._")),
                             images: (folder as NSString).appendingPathComponent(name),
                             labels: (folder as NSString).appendingPathComponent(labelsName)))
    }
    return pairs
}

private func idxRecords(images imagesPath: String, labels labelsPath: String, role: String,
                        resize: (width: Int, height: Int)?) throws -> ImageRecords {
    let images = try IDXFile.readImages(at: imagesPath)
    let labels = try IDXFile.readLabels(at: labelsPath)
    guard labels.count == images.count else {
        throw ReptileError(path: labelsPath, "holds \(labels.count) labels but \(imagesPath) holds \(images.count) images",
                           fix: "give the labels file that belongs to these images")
    }
    let native = ImageShape(height: images.height, width: images.width, channels: images.channels)
    return ImageRecords(labels: labels.map { String($0) }, files: [(imagesPath, "\(role) images"), (labelsPath, "\(role) labels")],
                        format: .idx, firstShape: native) { index, shape in
        let start = index * native.pixelCount
        let image = PixelImage(width: native.width, height: native.height, channels: native.channels,
                               pixels: Array(images.pixels[start..<(start + native.pixelCount)]))
        return fitted(image, to: shape, allowResize: resize != nil, path: imagesPath, location: "image \(index)")
    }
}

/// `root/<class>/<file>.png|.jpg|.jpeg`, classes and files in sorted order; each file is decoded as
/// what its first bytes say it is. Sizes are checked from the headers before anything is decoded,
/// so a mismatch is reported at once.
private func imageFolderRecords(root: String, role: String, resize: (width: Int, height: Int)?) throws -> ImageRecords {
    let rootURL = URL(fileURLWithPath: root)
    let entries = try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
    var classFolders: [String] = []
    for entry in entries {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: rootURL.appendingPathComponent(entry).path, isDirectory: &isDirectory)
        if isDirectory.boolValue { classFolders.append(entry) }
    }
    guard !classFolders.isEmpty else {
        throw ReptileError(path: root, "holds no class folders (expected ROOT/<class>/<image>.png or .jpg)", fix: "arrange the images by class, or give IDX files")
    }
    var paths: [String] = []
    var labels: [String] = []
    for className in classFolders {
        let folder = rootURL.appendingPathComponent(className)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted()
        var found = 0
        for file in files {
            let path = folder.appendingPathComponent(file).path
            guard ImageFile.hasImageExtension(file) else {
                throw ReptileError(path: path, "is not a .png, .jpg or .jpeg file",
                                   fix: "only PNG and JPEG images are read; convert it or move it out of the tree")
            }
            paths.append(path)
            labels.append(className)
            found += 1
        }
        guard found > 0 else {
            throw ReptileError(path: folder.path, "class folder holds no PNG or JPEG images", fix: "add images or remove the empty folder")
        }
    }
    // Headers first: the size check costs no decoding.
    let first = try ImageFile.readHeader(at: paths[0])
    if resize == nil {
        for path in paths.dropFirst() {
            let header = try ImageFile.readHeader(at: path)
            if header.width != first.width || header.height != first.height {
                throw ReptileError(path: path, "is \(header.width)×\(header.height) but \(paths[0]) is \(first.width)×\(first.height)",
                                   fix: "pass --resize \(first.width)x\(first.height) to resize every image")
            }
        }
    }
    let firstShape = ImageShape(height: first.height, width: first.width, channels: first.channels)
    return ImageRecords(labels: labels, files: paths.map { ($0, role) }, format: .imageFolder, firstShape: firstShape) { index, shape in
        let image = try ImageFile.read(at: paths[index], channels: shape.channels)
        return fitted(image, to: shape, allowResize: resize != nil, path: paths[index], location: nil)
    }
}

/// Converts channels and, when resizing is on, the size.
private func fitted(_ image: PixelImage, to shape: ImageShape, allowResize: Bool, path: String, location: String?) -> [UInt8] {
    var image = image.converted(toChannels: shape.channels)
    if image.width != shape.width || image.height != shape.height {
        precondition(allowResize, "size mismatch at \(path) passed the header check")
        image = resized(image, width: shape.width, height: shape.height)
    }
    return image.pixels
}
