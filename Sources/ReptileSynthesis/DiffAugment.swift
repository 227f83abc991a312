import ReptileCore
import ReptileEngine

/// Which transforms DiffAugment applies.
public enum DiffAugmentPolicy: String, Codable, Sendable, CaseIterable {
    /// A shift of up to 1/8 of the image's size in each direction (zero fill).
    case translation
    /// The shift plus a cutout: a square of half the image's side zeroed at a random place (the
    /// reference's CIFAR policy; on 28×28 digits it hides the class, see `DiffAugmentSetting`).
    case translationCutout = "translation-cutout"
}

/// Differentiable augmentation (DiffAugment, Zhao et al. 2020), the translation (and cutout)
/// policy. Applied to real and generated images alike, in the discriminator's and the generator's
/// updates, so D never sees an un-augmented image and cannot overfit a small training set, while
/// G's gradient flows back through the same transform.
public enum DiffAugment {
    static let translationRatio = 0.125
    static let cutoutRatio = 0.5

    /// Augments a batch [B, C, H, W] with transforms drawn from `random` (one per image, shared by
    /// its channels). The result is one gather, whose gradient is the matching scatter. Both
    /// policies draw the cutout's place, so they consume the random stream alike.
    public static func apply(_ images: Variable, policy: DiffAugmentPolicy = .translationCutout, random: inout SeededRandom) -> Variable {
        let shape = images.shape
        precondition(shape.count == 4, "DiffAugment needs [B, C, H, W], got \(shape)")
        let batch = shape[0], channels = shape[1], height = shape[2], width = shape[3]
        let shiftHeight = Int(Double(height) * translationRatio + 0.5), shiftWidth = Int(Double(width) * translationRatio + 0.5)
        let cutoutRatio = policy == .translationCutout ? Self.cutoutRatio : 0
        let cutHeight = Int(Double(height) * cutoutRatio + 0.5), cutWidth = Int(Double(width) * cutoutRatio + 0.5)
        var indices = [Int32](repeating: -1, count: images.value.count)
        let plane = height * width
        for image in 0..<batch {
            // Translation: output (r, c) reads input (r − dy, c − dx), as the reference's padded crop.
            let dy = random.nextIndex(below: 2 * shiftHeight + 1) - shiftHeight
            let dx = random.nextIndex(below: 2 * shiftWidth + 1) - shiftWidth
            // Cutout: a cutHeight × cutWidth square whose centre is anywhere on the image.
            let centreY = random.nextIndex(below: height + (1 - cutHeight % 2)), centreX = random.nextIndex(below: width + (1 - cutWidth % 2))
            let top = centreY - cutHeight / 2, left = centreX - cutWidth / 2
            for row in 0..<height {
                let sourceRow = row - dy
                let rowInCut = row >= top && row < top + cutHeight
                for column in 0..<width {
                    let sourceColumn = column - dx
                    guard sourceRow >= 0, sourceRow < height, sourceColumn >= 0, sourceColumn < width else { continue }
                    if rowInCut && column >= left && column < left + cutWidth { continue }
                    for channel in 0..<channels {
                        let base = (image * channels + channel) * plane
                        indices[base + row * width + column] = Int32(base + sourceRow * width + sourceColumn)
                    }
                }
            }
        }
        return gatherElements(images, sourceIndices: indices, shape: shape)
    }
}
