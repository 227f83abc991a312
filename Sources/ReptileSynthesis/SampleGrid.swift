import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// A PNG of generated images, one row per class and `columns` images a row, from noise that is the
/// same every epoch (drawn from the run's seed), so the grids of successive epochs compare directly.
enum SampleGrid {
    static let columns = 8
    static let gap = 2

    static func fixedNoise(seed: UInt64, classCount: Int, noiseSize: Int) -> (noise: Tensor, labels: [Int]) {
        var random = SeededRandom(seed: seed).derived("sample-grid")
        let noise = Tensor(normalShape: [classCount * columns, noiseSize], random: &random)
        let labels = (0..<classCount).flatMap { Array(repeating: $0, count: columns) }
        return (noise, labels)
    }

    /// Draws the generator's images for the fixed noise (evaluation mode) and writes the grid atomically.
    static func write(generator: ImageGenerator, seed: UInt64, to path: String) throws {
        let architecture = generator.architecture
        let (noise, labels) = fixedNoise(seed: seed, classCount: architecture.classCount, noiseSize: architecture.noiseSize)
        let images = generateWithoutGradients(generator, noise: noise, labels: labels)
        let size = architecture.imageSize, channels = architecture.channels
        let width = columns * size + (columns + 1) * gap
        let height = architecture.classCount * size + (architecture.classCount + 1) * gap
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        images.withUnsafeBufferPointer { values in
            for (index, _) in labels.enumerated() {
                let row = index / columns, column = index % columns
                let top = gap + row * (size + gap), left = gap + column * (size + gap)
                for y in 0..<size {
                    for x in 0..<size {
                        for channel in 0..<channels {
                            let value = values[((index * channels + channel) * size + y) * size + x]
                            pixels[((top + y) * width + left + x) * channels + channel] = ImageScaling.pixel(value)
                        }
                    }
                }
            }
        }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        let temporary = path + ".tmp.png"
        try PNGFile.write(PixelImage(width: width, height: height, channels: channels, pixels: pixels), to: temporary)
        try synchronizeToDisk(temporary)
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw ReptileError(path: path, "cannot move the sample grid into place", fix: "check the run folder's permissions")
        }
    }
}

/// A generator's images with no graph recorded (its parameters are switched off meanwhile).
func generateWithoutGradients(_ generator: ImageGenerator, noise: Tensor, labels: [Int]) -> Tensor {
    let required = generator.parameters.first?.requiresGradient ?? false
    generator.setParametersRequireGradient(false)
    defer { generator.setParametersRequireGradient(required) }
    return generator(noise: noise, labels: labels).value
}

/// The discriminator's real/fake logits and class logits with no graph recorded.
func judgeWithoutGradients(_ discriminator: ImageDiscriminator, images: Tensor, labels: [Int]) -> (realLogits: Tensor, classLogits: Tensor) {
    let required = discriminator.parameters.first?.requiresGradient ?? false
    discriminator.setParametersRequireGradient(false)
    defer { discriminator.setParametersRequireGradient(required) }
    let judged = discriminator(Variable(images), labels: labels)
    return (judged.realLogits.value, judged.classLogits.value)
}

/// Row-wise log-softmax of logits [B, K] (plain numbers, for rewards and confidences).
func logSoftmaxRows(_ logits: Tensor) -> [[Float]] {
    let rows = logits.shape[0], width = logits.shape[1]
    let values = logits.scalars
    return (0..<rows).map { row in
        let slice = values[(row * width)..<((row + 1) * width)]
        let maximum = slice.max() ?? 0
        let logTotal = log(slice.reduce(Float(0)) { $0 + exp($1 - maximum) })
        return slice.map { $0 - maximum - logTotal }
    }
}
