import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileEngine

/// A small CNN for the MNIST check: conv(1→16, k5, s2) ReLU → conv(16→32, k3, s2) ReLU → 1568 → 10.
/// Strided convolutions instead of W4's convolution + pooling pairs: the debug build's elementwise
/// loops (im2col, ReLU, pooling) cost ~15 ns per element, so fewer activations per image is what
/// makes training fit in seconds there.
private final class SmallDigitNetwork: Layer {
    let convolution1: Conv2d, convolution2: Conv2d, output: Linear

    init(random: inout SeededRandom) {
        convolution1 = Conv2d(inputChannels: 1, outputChannels: 16, kernelSize: 5, stride: 2, padding: 2, name: "digits.conv1", random: &random)
        convolution2 = Conv2d(inputChannels: 16, outputChannels: 32, kernelSize: 3, stride: 2, padding: 1, name: "digits.conv2", random: &random)
        output = Linear(inputSize: 32 * 7 * 7, outputSize: 10, name: "digits.fc", random: &random)
    }

    var parameters: [Variable] { convolution1.parameters + convolution2.parameters + output.parameters }

    func callAsFunction(_ images: Variable) -> Variable {
        let x = relu(convolution2(relu(convolution1(images))))
        return output(reshape(x, [images.shape[0], -1]))
    }
}

@Suite struct EngineMNISTTests {
    /// The check: a small CNN reaches ≥ 97 % on the bundled MNIST sample's 2,000 test
    /// images after training on its 8,000 training images (ingested by the real `reptile` binary,
    /// read with ShardBatchReader). Seeded and on one OpenBLAS thread, so the accuracy is the same
    /// every run. Adam 3e-3, linear decay to 0 over the run, batch 64.
    @Test func aSmallCNNReaches97PercentOnTheMNISTSample() throws {
        let parent = try Support.makeTemporaryFolder("mnist-cnn")
        defer { Support.remove(parent) }
        let mnist = Support.packageRoot.appendingPathComponent("datasets/samples/mnist")
        let ingest = try IngestTesting.ingest(["ingest", "image", mnist.path, "--name", "mnist",
                                               "--test-fraction", "0.2", "--seed", "1"], parent: parent)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        let folder = try DatasetFolder(path: parent.appendingPathComponent("mnist").path)

        // Measured in the debug build (2 vCPUs, other work on the machine): 4 epochs reach 97.5 %,
        // 5 epochs 98.0 % (1960/2000) with ~26 s of training, ~30 s for the whole test.
        let epochs = 5, batchSize = 64
        let learningRate: Float = 3e-3
        // The usual MNIST normalisation: (x − 0.1307) / 0.3081 with x in [0, 1].
        let scale: Float = 1 / 0.3081, offset: Float = -0.1307 / 0.3081

        // One OpenBLAS thread: small products interleaved with Swift loops run faster without a
        // spinning second thread (docs/platform.md §3), and the accuracy is then the same every run.
        let previousThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousThreads) }
        var random = SeededRandom(seed: 1)
        let model = SmallDigitNetwork(random: &random)
        let optimizer = Adam(parameters: model.parameters, learningRate: learningRate)
        let training = try ShardBatchReader(folder: folder, split: "train", batchSize: batchSize, shuffle: true, seed: 1,
                                            scale: scale, offset: offset)
        #expect(training.count == 8_000)
        var batch = ShardBatch()
        let start = Date()
        let stepsPerEpoch = (training.count + batchSize - 1) / batchSize
        let schedule = LearningRateSchedule.warmupThenLinearDecay(warmupSteps: 1, totalSteps: epochs * stepsPerEpoch + 1)
        var step = 0
        for epoch in 0..<epochs {
            if epoch > 0 { training.startEpoch() }
            while try training.next(into: &batch) {
                optimizer.learningRate = learningRate * schedule.factor(atStep: step)
                step += 1
                // Channel-last [B, 28, 28, 1] is the same memory as the engine's [B, 1, 28, 28].
                let images = Tensor(shape: [batch.count, 1, 28, 28], values: batch.images)
                optimizer.zeroGradients()
                let loss = crossEntropy(logits: model(Variable(images)), labels: batch.labels.map { Int($0) })
                loss.backward()
                optimizer.step()
            }
        }
        let trainingSeconds = Date().timeIntervalSince(start)

        model.setParametersRequireGradient(false)
        let test = try ShardBatchReader(folder: folder, split: "test", batchSize: 500, shuffle: false, seed: 1,
                                        scale: scale, offset: offset)
        #expect(test.count == 2_000)
        var correct = 0
        while try test.next(into: &batch) {
            let logits = model(Variable(Tensor(shape: [batch.count, 1, 28, 28], values: batch.images))).value.scalars
            for row in 0..<batch.count {
                let scores = logits[(row * 10)..<(row * 10 + 10)]
                if scores.indices.max(by: { scores[$0] < scores[$1] })! - row * 10 == Int(batch.labels[row]) { correct += 1 }
            }
        }
        let accuracy = Double(correct) / Double(test.count)
        print("MNIST sample: \(correct)/\(test.count) = \(accuracy * 100) % after \(epochs) epochs (batch \(batchSize), lr \(learningRate)), training \(trainingSeconds) s")
        #expect(accuracy >= 0.97, "accuracy \(accuracy) on the 2,000 test images")
    }
}
