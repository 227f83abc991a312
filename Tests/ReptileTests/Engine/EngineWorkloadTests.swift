import Foundation
import ReptileBench
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

/// Speed of the W1 and W4 steps, through the same code as `reptile bench` (ReptileBench).
/// Off by default; run in release with
/// `REPTILE_ENGINE_BENCH=1 swift test -c release --filter EngineBenchmarks` (REPTILE_ENGINE_BENCH_THREADS=1 for one thread).
/// `reptile bench W1 W4 --threads N` is the usual way.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH"] != nil))
struct EngineBenchmarks {
    private var threads: Int { Int(ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH_THREADS"] ?? "") ?? 2 }
    private var timedSteps: Int { Int(ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH_STEPS"] ?? "") ?? 20 }
    private var options: EngineBenchOptions { EngineBenchOptions(steps: timedSteps, warmup: 5, threads: threads) }

    private func medianSeconds(warmup: Int = 5, steps: Int, _ body: () -> Void) -> Double {
        measureSteps(warmup: warmup, steps: steps, body).medianSeconds
    }

    @Test func w1ConditionalDCGAN() {
        let (result, measurement) = measureConditionalDCGANStep(options)
        print(result.jsonLine)
        Support.expectMeasured(["images_per_s": result.value])
        #expect(measurement.stepSeconds.count == timedSteps)
    }

    @Test func w4ConvolutionalClassifier() {
        let (result, measurement) = measureClassifierStep(options)
        print(result.jsonLine)
        Support.expectMeasured(["images_per_s": result.value])
        #expect(measurement.stepSeconds.count == timedSteps)
    }
}

extension EngineBenchmarks {
    /// The column copies alone, for the discriminator's second convolution (docs/platform.md §5 measured 3–4 ms).
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
        Support.expectMeasured(["fill": fillSeconds, "im2col": copySeconds, "col2im": addSeconds])
    }
}

extension EngineBenchmarks {
    /// The sgemm ceiling on this machine right now (docs/platform.md §3: ~100 GFLOP/s on one thread).
    @Test func sgemmRate() {
        let gigaflops = measureSgemmCeiling(threads: threads)
        print("sgemm 1024³: \(gigaflops) GFLOP/s with \(threads) thread(s)")
        Support.expectMeasured(["sgemm_gflops": gigaflops])
    }
}

/// `reptile bench W4` end to end with a tiny step count (fast in debug): one JSON line in the
/// documented format, documented keys first, then the engine fields.
@Suite struct EngineBenchCommandTests {
    @Test func benchW4PrintsOneValidJSONLine() throws {
        let result = try Support.reptile(["bench", "W4", "--steps", "2", "--warmup", "1", "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        try #require(lines.count == 1, "\(result.standardOutput)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["workload"] as? String == "W4")
        #expect(object["metric"] as? String == "images_per_s")
        #expect((object["value"] as? Double ?? 0) > 0)
        #expect(object["steps"] as? Int == 2)
        #expect(object["threads"] as? Int == 1)
        #expect((object["peak_rss_mb"] as? Double ?? 0) > 0)
        let share = try #require(object["sgemm_share"] as? Double)
        #expect(share > 0 && share <= 1)
        #expect((object["sgemm_gflops"] as? Double ?? 0) > 0)
        #expect(object["fresh_allocations"] as? Int == 0)
        #expect(lines[0].hasPrefix(#"{"workload":"W4","metric":"images_per_s","value":"#))
        let keys = ["\"workload\"", "\"metric\"", "\"value\"", "\"steps\"", "\"threads\"", "\"peak_rss_mb\"", "\"median_step_ms\""]
        let positions = keys.map { lines[0].range(of: $0)!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test func benchW2ReportsTokensPerSecond() throws {
        let result = try Support.reptile(["bench", "W2", "--steps", "1", "--warmup", "1", "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["workload"] as? String == "W2")
        #expect(object["metric"] as? String == "tokens_per_s")
        #expect((object["value"] as? Double ?? 0) > 0)
        #expect(object["fresh_allocations"] as? Int == 0)
    }

    /// `--probe` brackets the results with the core probe, the sgemm ceiling and the OpenBLAS
    /// kernels in use (`$OPENBLAS_CORETYPE` decides them: the same here as in this process).
    @Test func benchProbeNamesTheKernelsItRanOn() throws {
        let result = try Support.reptile(["bench", "W4", "--steps", "1", "--warmup", "0", "--threads", "1", "--probe"])
        try #require(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        try #require(lines.count == 3, "\(result.standardOutput)")
        for probe in [lines[0], lines[2]] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(probe.utf8)) as? [String: Any])
            #expect(object["probe"] as? String == "cores")
            #expect((object["sgemm_1024_gflops"] as? Double ?? 0) > 0)
            #expect(object["blas_core"] as? String == BLAS.coreName)
        }
        #expect(lines[1].hasPrefix(#"{"workload":"W4""#))
    }

    @Test func benchRejectsAnUnknownWorkloadAndZeroSteps() throws {
        let unknown = try Support.reptile(["bench", "W9"])
        #expect(unknown.status != 0)
        let zero = try Support.reptile(["bench", "W4", "--steps", "0"])
        #expect(zero.status == 1 && zero.standardError.contains("--steps"), "\(zero.standardError)")
    }
}
