import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileEngine

/// Not part of the test run: the CAS measurement of issue 5 (classification accuracy score: a
/// classifier trained on synthetic images only, tested on real ones). It runs only when
/// REPTILE_CAS_SYNTHETIC names a synthetic dataset folder and REPTILE_CAS_REAL the real dataset
/// whose test split it is scored on; build with `swift build -c release --build-tests` and run
/// `swift test -c release --skip-build --filter casOfASyntheticDataset`.
@Suite struct SynthesisMeasurementTests {
    static let environment = ProcessInfo.processInfo.environment

    @Test(.enabled(if: environment["REPTILE_CAS_SYNTHETIC"] != nil && environment["REPTILE_CAS_REAL"] != nil))
    func casOfASyntheticDataset() throws {
        let synthetic = try DatasetFolder(path: Self.environment["REPTILE_CAS_SYNTHETIC"]!)
        let real = try DatasetFolder(path: Self.environment["REPTILE_CAS_REAL"]!)
        let epochs = Int(Self.environment["REPTILE_CAS_EPOCHS"] ?? "5") ?? 5
        let seed = UInt64(Self.environment["REPTILE_CAS_SEED"] ?? "1") ?? 1
        let shape = try #require(synthetic.info.imageShape)
        #expect(synthetic.info.classNames == real.info.classNames && real.info.imageShape == shape)
        BLAS.setThreadCount(ProcessInfo.processInfo.activeProcessorCount)
        var random = SeededRandom(seed: seed)
        // The W4 CNN with Adam 1e-3, batch 128 (WORKLOADS.md), on the [-1, 1] scale of ImageScaling.
        let model = ConvolutionalClassifier(inputChannels: shape.channels, imageHeight: shape.height, imageWidth: shape.width,
                                            classCount: synthetic.info.classNames.count, random: &random)
        let trainer = ClassifierTrainer(model: model)
        // REPTILE_CAS_SPLIT=train trains on the real data instead (the real-only baseline, and a
        // reward classifier for PPO when REPTILE_CAS_SAVE names where to save it).
        let split = Self.environment["REPTILE_CAS_SPLIT"] ?? "synthetic"
        let training = try ShardBatchReader(folder: split == "synthetic" ? synthetic : real, split: split, batchSize: 128, shuffle: true, seed: seed,
                                            scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset)
        var batch = ShardBatch()
        let started = Date()
        for _ in 0..<epochs {
            while try training.next(into: &batch) {
                trainer.step(images: channelsFirst(batch.images, count: batch.count, height: shape.height, width: shape.width, channels: shape.channels),
                             labels: batch.labels.map { Int($0) })
            }
            training.startEpoch()
        }
        model.setTraining(false)
        if let path = Self.environment["REPTILE_CAS_SAVE"] {
            try ImageClassifierCheckpoint.save(model, config: ClassifierConfig(kind: "image", architecture: "cnn", classNames: real.info.classNames,
                                                                               imageHeight: shape.height, imageWidth: shape.width, imageChannels: shape.channels),
                                               to: path)
        }
        model.setParametersRequireGradient(false)
        let test = try ShardBatchReader(folder: real, split: "test", batchSize: 500, shuffle: false, seed: 0,
                                        scale: ImageScaling.readerScale, offset: ImageScaling.readerOffset)
        var correct = 0, total = 0
        while try test.next(into: &batch) {
            let logits = model(Variable(channelsFirst(batch.images, count: batch.count, height: shape.height, width: shape.width, channels: shape.channels))).value
            let classes = logits.shape[1], values = logits.scalars
            for row in 0..<batch.count {
                let scores = values[(row * classes)..<((row + 1) * classes)]
                if scores.firstIndex(of: scores.max()!)! - row * classes == Int(batch.labels[row]) { correct += 1 }
            }
            total += batch.count
        }
        print(String(format: "CAS: %.2f %% (%d/%d real test images) after %d epochs on %d \(split) images, seed %d, %.0f s",
                     100 * Double(correct) / Double(total), correct, total, epochs, training.count, seed, Date().timeIntervalSince(started)))
    }
}
