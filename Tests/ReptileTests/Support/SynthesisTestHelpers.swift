import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileEngine
@testable import ReptileSynthesis

/// Shared pieces of the image-synthesis tests: a toy two-class image set, a run config for it, and
/// a small classifier checkpoint made the way `reptile pretrain` would (ImageClassifierCheckpoint.save).
enum SynthesisTesting {
    /// Class 0: a bright square in the top-left quarter; class 1: in the bottom-right. Light noise.
    static func toyBatch(size: Int, random: inout SeededRandom) -> (images: Tensor, labels: [Int]) {
        var values = [Float](repeating: -1, count: size * 28 * 28)
        var labels: [Int] = []
        for image in 0..<size {
            let label = image % 2
            labels.append(label)
            let origin = label == 0 ? 3 : 15
            for row in origin..<(origin + 10) {
                for column in origin..<(origin + 10) { values[image * 784 + row * 28 + column] = 1 }
            }
            for index in 0..<784 { values[image * 784 + index] += 0.1 * (random.nextUnitFloat() - 0.5) }
        }
        return (Tensor(shape: [size, 1, 28, 28], values: values), labels)
    }

    static func toyConfig(head: DiscriminatorHead = .acgan, spectralNorm: Bool = false, batchSize: Int = 16,
                          conditioning: GeneratorConditioning = .input, loss: AdversarialLoss? = nil,
                          policy: DiffAugmentPolicy? = nil, discriminatorLearningRate: Float? = nil) -> ImageGANRunConfig {
        var config = ImageGANRunConfig(dataset: "toy", datasetInfoSha256: "", classNames: ["top-left", "bottom-right"],
                                       imageHeight: 28, imageWidth: 28, imageChannels: 1,
                                       architecture: ImageGANArchitecture(imageSize: 28, channels: 1, classCount: 2, discriminatorHead: head,
                                                                          spectralNorm: spectralNorm, generatorConditioning: conditioning),
                                       diffAugment: false, emaDecay: 0.9, epochs: 1, batchSize: batchSize, learningRate: 2e-4, seed: 3, threads: 1)
        config.adversarialLoss = loss
        config.diffAugmentPolicy = policy
        config.discriminatorLearningRate = discriminatorLearningRate
        return config
    }

    /// The W4 CNN trained for a few steps on the toy set and saved as a classifier checkpoint.
    static func toyClassifier(at path: String, classNames: [String] = ["top-left", "bottom-right"], imageSize: Int = 28, steps: Int = 15) throws {
        var random = SeededRandom(seed: 11)
        let model = ConvolutionalClassifier(inputChannels: 1, imageHeight: imageSize, imageWidth: imageSize, classCount: classNames.count, random: &random)
        let trainer = ClassifierTrainer(model: model)
        if imageSize == 28 && classNames.count == 2 {
            for _ in 0..<steps {
                let (images, labels) = toyBatch(size: 8, random: &random)
                trainer.step(images: images, labels: labels)
            }
        }
        let config = ClassifierConfig(kind: "image", architecture: "cnn", classNames: classNames,
                                      imageHeight: imageSize, imageWidth: imageSize, imageChannels: 1)
        try ImageClassifierCheckpoint.save(model, config: config, to: path)
    }

    /// Bit patterns of every parameter, to tell "changed" from "unchanged" exactly.
    static func bits(_ layer: any Layer) -> [[UInt32]] {
        layer.parameters.map { $0.value.scalars.map(\.bitPattern) }
    }
}
