import Foundation
import ReptileCore
@testable import ReptileEngine
import Testing

/// A measurement harness for engine speed work, off by default. Runs one workload's training step
/// (WORKLOADS.md W1, W2 or W4) and prints the median step time:
/// `REPTILE_PERF_PROBE=W4 REPTILE_PERF_STEPS=9 REPTILE_PERF_THREADS=1 swift test -c release -Xswiftc -enable-testing --filter EnginePerformanceProbe`.
/// The timed steps run inside `measuredProbeSteps`, so an instruction count can be limited to
/// them: `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measuredProbeSteps*' <test binary> …`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["REPTILE_PERF_PROBE"] != nil))
struct EnginePerformanceProbe {
    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    @Test func workloadStep() {
        let workload = environment["REPTILE_PERF_PROBE"] ?? "W4"
        let threads = Int(environment["REPTILE_PERF_THREADS"] ?? "") ?? 1
        let steps = Int(environment["REPTILE_PERF_STEPS"] ?? "") ?? 9
        let warmup = Int(environment["REPTILE_PERF_WARMUP"] ?? "") ?? 2
        BLAS.setThreadCount(threads)
        let step: () -> Void
        var random = SeededRandom(seed: 11)
        let itemsPerStep: Double
        switch workload {
        case "W1":
            let trainer = ConditionalDCGANTrainer(random: &random)
            let images = Tensor(uniformShape: [64, 1, 28, 28], in: -1...1, random: &random)
            let labels = (0..<64).map { $0 % 10 }
            var stepRandom = SeededRandom(seed: 12)
            step = { _ = trainer.step(realImages: images, realLabels: labels, random: &stepRandom) }
            itemsPerStep = 64
        case "W2":
            let trainer = TextGeneratorTrainer(model: TextGenerator(random: &random))
            let inputs = (0..<(64 * 32)).map { _ in random.nextIndex(below: 5000) }
            let targets = (0..<(64 * 32)).map { _ in random.nextIndex(below: 5000) }
            let classes = (0..<64).map { $0 % 10 }
            step = { _ = trainer.step(inputTokens: inputs, targetTokens: targets, classes: classes) }
            itemsPerStep = 64 * 32
        default:
            let trainer = ClassifierTrainer(model: ConvolutionalClassifier(random: &random))
            let images = Tensor(normalShape: [128, 1, 28, 28], random: &random)
            let labels = (0..<128).map { $0 % 10 }
            step = { _ = trainer.step(images: images, labels: labels) }
            itemsPerStep = 128
        }
        for _ in 0..<warmup { step() }
        let times = measuredProbeSteps(steps, step).sorted()
        let median = times[times.count / 2]
        print(#"{"probe":"\#(workload)","median_step_ms":\#(median * 1000),"items_per_s":\#(itemsPerStep / median),"#
              + #""min_step_ms":\#(times[0] * 1000),"steps":\#(steps),"threads":\#(threads)}"#)
        Support.expectMeasured(["median_step_s": median, "min_step_s": times[0]])
        #expect(times.count == steps)
    }
}

@inline(never)
func measuredProbeSteps(_ steps: Int, _ step: () -> Void) -> [Double] {
    var times: [Double] = []
    for _ in 0..<steps {
        let start = DispatchTime.now().uptimeNanoseconds
        step()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times
}
