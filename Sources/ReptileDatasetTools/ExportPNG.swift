import Foundation
import ReptileCore
import ReptileFormats

public struct ExportResult: Sendable {
    public var path: String
    public var count: Int
    public var classCounts: [Int]
}

/// Writes a split of an image dataset as an ImageFolder tree (`root/<class>/<index>.png`, the layout
/// torchvision's ImageFolder reads), built in a staging folder and renamed into place when complete.
public func exportPNG(dataset: String, split: String, destination: String, force: Bool, showProgress: Bool = true) throws -> ExportResult {
    let folder = try DatasetFolder(path: dataset)
    guard folder.info.kind == .image else {
        throw ReptileError(path: dataset, "is a text dataset; PNG export needs images", fix: "export an image dataset")
    }
    let shards = try folder.shards(of: split)
    let staging = try StagingFolder(destination: destination, force: force)
    let classNames = folder.info.classNames
    for name in classNames {
        try FileManager.default.createDirectory(atPath: staging.path(folderName(forClass: name)), withIntermediateDirectories: true)
    }
    let total = shards.reduce(0) { $0 + $1.count }
    let progress = ProgressBar("exporting \(split)", total: total, unit: "images", enabled: showProgress && ProgressBar.terminalAttached)
    var classCounts = [Int](repeating: 0, count: classNames.count)
    var index = 0
    for shard in shards {
        guard let shape = shard.imageShape else { continue }
        for batchStart in stride(from: 0, to: shard.count, by: 512) {
            let rows = batchStart..<min(shard.count, batchStart + 512)
            let pixels = try shard.images(rows)
            let labels = try shard.labels(rows)
            for (offset, label) in labels.enumerated() {
                let start = offset * shape.pixelCount
                let image = PixelImage(width: shape.width, height: shape.height, channels: shape.channels,
                                       pixels: Array(pixels[start..<(start + shape.pixelCount)]))
                let path = staging.path(folderName(forClass: classNames[Int(label)]) + "/" + imageFileName(index: index))
                try PNGFile.write(image, to: path)
                classCounts[Int(label)] += 1
                index += 1
            }
            progress.advance(by: rows.count)
        }
    }
    progress.finish()
    try staging.commit()
    return ExportResult(path: staging.destination.path, count: index, classCounts: classCounts)
}
