import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

@Suite struct EngineWorkloadModelTests {
    @Test func conditionalDCGANStepsRunWithStableStorageAndNamedParameters() {
        let pool = StoragePool()
        StoragePool.$current.withValue(pool) {
            var random = SeededRandom(seed: 1)
            let trainer = ConditionalDCGANTrainer(batchSize: 4, random: &random)
            #expect(trainer.generator.parameters.map { $0.name! }.contains("generator.deconv1.weight"))
            #expect(trainer.discriminator.parameters.map { $0.name! }.contains("discriminator.class_head.bias"))
            let images = Tensor(uniformShape: [4, 1, 28, 28], in: -1...1, random: &random)
            var allocations: [Int] = []
            for _ in 0..<3 {
                let losses = trainer.step(realImages: images, realLabels: [0, 1, 2, 3], random: &random)
                #expect(losses.discriminator.isFinite && losses.generator.isFinite)
                allocations.append(pool.freshAllocationCount)
            }
            #expect(allocations.allSatisfy { $0 == allocations[0] }, "\(allocations)")
            let generated = trainer.generator(noise: Tensor(zeros: [4, 100]), labels: [0, 1, 2, 3])
            #expect(generated.shape == [4, 1, 28, 28])
            #expect(generated.value.scalars.allSatisfy { abs($0) <= 1 })
        }
    }

    @Test func convolutionalClassifierLearnsAFixedBatch() {
        var random = SeededRandom(seed: 2)
        let trainer = ClassifierTrainer(model: ConvolutionalClassifier(random: &random))
        #expect(trainer.model.parameterCount == 320 + 9248 + 18496 + 36928 + 401_536 + 1290)
        let images = Tensor(normalShape: [8, 1, 28, 28], random: &random)
        let labels = [0, 1, 2, 3, 4, 5, 6, 7]
        let first = trainer.step(images: images, labels: labels)
        var last = first
        for _ in 0..<15 { last = trainer.step(images: images, labels: labels) }
        #expect(last < first * 0.5, "loss went from \(first) to \(last)")
    }
}

/// Speed of the W1 and W4 steps (WORKLOADS.md timing rules: 5 warm-up steps, then the median).
/// Off by default; run in release with
/// `REPTILE_ENGINE_BENCH=1 swift test -c release --filter EngineBenchmarks` (REPTILE_ENGINE_BENCH_THREADS=1 for one thread).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH"] != nil))
struct EngineBenchmarks {
    private var threads: Int { Int(ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH_THREADS"] ?? "") ?? 2 }
    private var timedSteps: Int { Int(ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH_STEPS"] ?? "") ?? 20 }

    private func medianSeconds(warmup: Int = 5, steps: Int, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times.sorted()[times.count / 2]
    }

    @Test func w1ConditionalDCGAN() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 1)
        let trainer = ConditionalDCGANTrainer(random: &random)
        let images = Tensor(uniformShape: [64, 1, 28, 28], in: -1...1, random: &random)
        let labels = (0..<64).map { $0 % 10 }
        let seconds = medianSeconds(steps: timedSteps) { trainer.step(realImages: images, realLabels: labels, random: &random) }
        print(#"{"workload":"W1","metric":"images_per_s","value":\#(64 / seconds),"median_step_ms":\#(seconds * 1000),"threads":\#(threads)}"#)
    }

    @Test func w4ConvolutionalClassifier() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 2)
        let trainer = ClassifierTrainer(model: ConvolutionalClassifier(random: &random))
        let images = Tensor(normalShape: [128, 1, 28, 28], random: &random)
        let labels = (0..<128).map { $0 % 10 }
        let seconds = medianSeconds(steps: timedSteps) { trainer.step(images: images, labels: labels) }
        print(#"{"workload":"W4","metric":"images_per_s","value":\#(128 / seconds),"median_step_ms":\#(seconds * 1000),"threads":\#(threads)}"#)
    }
}

extension EngineBenchmarks {
    /// The column copies alone, for the discriminator's second convolution (PLATFORM.md §5 measured 3–4 ms).
    @Test func im2colOfTheDiscriminatorsSecondConvolution() {
        var random = SeededRandom(seed: 3)
        let images = Tensor(normalShape: [64, 64, 14, 14], random: &random)
        let geometry = ConvolutionGeometry(channels: 64, height: 14, width: 14, kernelHeight: 4, kernelWidth: 4,
                                           strideHeight: 2, strideWidth: 2, paddingHeight: 1, paddingWidth: 1)
        var columns = Tensor(zeros: [geometry.columnRows, 64 * geometry.outputPositions])
        var gradient = Tensor(zeros: images.shape)
        let copySeconds = medianSeconds(steps: timedSteps) {
            imageToColumns(images.readPointer, batch: 64, geometry: geometry, into: columns.mutablePointer)
        }
        let addSeconds = medianSeconds(steps: timedSteps) {
            addColumnsToImage(columns.readPointer, batch: 64, geometry: geometry, into: gradient.mutablePointer)
        }
        let fillSeconds = medianSeconds(steps: timedSteps) { columns.fill(with: 1) }
        print("fill \(fillSeconds * 1000) ms, im2col \(copySeconds * 1000) ms, col2im \(addSeconds * 1000) ms for \(columns.count) column entries")
    }
}

extension EngineBenchmarks {
    /// The sgemm ceiling on this machine right now (PLATFORM.md §3: ~100 GFLOP/s on one thread).
    @Test func sgemmRate() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 4)
        let a = Tensor(normalShape: [1024, 1024], random: &random), b = Tensor(normalShape: [1024, 1024], random: &random)
        let seconds = medianSeconds(steps: timedSteps) { _ = matrixMultiply(a, b) }
        print("sgemm 1024³: \(2 * 1024.0 * 1024 * 1024 / seconds / 1e9) GFLOP/s with \(threads) thread(s)")
    }
}
