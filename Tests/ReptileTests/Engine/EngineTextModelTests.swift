import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

@Suite struct EngineTextModelTests {
    @Test func maxOverTimeAndTransposeValuesAndGradients() {
        let x = Variable(Tensor(shape: [1, 2, 3], values: [1, 7, 2, 9, 0, 4]))
        #expect(maxOverTime(x).value.scalars == [7, 9])
        #expect(transposeLastTwoAxes(x).shape == [1, 3, 2] && transposeLastTwoAxes(x).value.scalars == [1, 9, 7, 0, 2, 4])
        // Distinct values 0.1 apart, so a step of 0.01 never changes which element is the maximum.
        var random = SeededRandom(seed: 71)
        var values = (0..<(2 * 3 * 5)).map { Float($0) * 0.1 - 1.5 }
        random.shuffle(&values)
        let input = Variable(Tensor(shape: [2, 3, 5], values: values), requiresGradient: true)
        expectGradientsMatch(gradientCheck([input], elementsPerInput: 30) { maxOverTime($0[0]) })
        expectGradientsMatch(gradientCheck([input]) { transposeLastTwoAxes($0[0]) })
    }

    @Test func textCNNDiscriminatorGradients() {
        var random = SeededRandom(seed: 72)
        let discriminator = TextConvolutionalDiscriminator(vocabularySize: 20, embeddingSize: 6, channelsPerWidth: 4,
                                                           name: "discriminator", random: &random)
        #expect(discriminator.parameters.map { $0.name! } == [
            "discriminator.embedding.weight",
            "discriminator.conv3.weight", "discriminator.conv3.bias", "discriminator.conv4.weight", "discriminator.conv4.bias",
            "discriminator.conv5.weight", "discriminator.conv5.bias",
            "discriminator.output.weight", "discriminator.output.bias",
        ])
        let tokens = (0..<(2 * 9)).map { _ in random.nextIndex(below: 20) }
        #expect(discriminator(tokens: tokens, batch: 2).shape == [2, 1])
        // ReLU and the maximum are kinked: a small step keeps every perturbation on one side.
        expectGradientsMatch(gradientCheck(discriminator.parameters, stepSize: 1e-3, elementsPerInput: 12) { _ in
            discriminator(tokens: tokens, batch: 2)
        })
    }

    @Test func textGeneratorLearnsAFixedBatchThroughTheGRU() {
        var random = SeededRandom(seed: 73)
        let model = TextGenerator(vocabularySize: 12, embeddingSize: 8, hiddenSize: 16, classCount: 3, random: &random)
        #expect(model.parameters.map { $0.name! } == [
            "generator.embedding.weight", "generator.class_embedding.weight",
            "generator.gru.weight_ih_l0", "generator.gru.weight_hh_l0", "generator.gru.bias_ih_l0", "generator.gru.bias_hh_l0",
            "generator.output.weight", "generator.output.bias",
        ])
        let batch = 3, time = 6
        let sequences = (0..<(batch * (time + 1))).map { _ in random.nextIndex(below: 12) }
        var inputs: [Int] = [], targets: [Int] = []
        for row in 0..<batch {
            inputs += sequences[(row * (time + 1))..<(row * (time + 1) + time)]
            targets += sequences[(row * (time + 1) + 1)..<((row + 1) * (time + 1))]
        }
        let classes = [0, 1, 2]
        // The loss depends on the class embedding (the initial state) and every GRU weight.
        let parameters = [model.classEmbedding.weight] + model.recurrent.parameters
        expectGradientsMatch(gradientCheck(parameters, elementsPerInput: 10) { _ in
            crossEntropy(logits: model(tokens: inputs, classes: classes).logits, labels: targets)
        })
        let trainer = TextGeneratorTrainer(model: model, learningRate: 1e-2)
        let first = trainer.step(inputTokens: inputs, targetTokens: targets, classes: classes)
        var last = first
        for _ in 0..<40 { last = trainer.step(inputTokens: inputs, targetTokens: targets, classes: classes) }
        #expect(last < first * 0.5, "loss went from \(first) to \(last)")
    }
}

extension EngineTextModelTests {
    @Test func samplingIsSeededAndFollowsTheLogits() {
        var random = SeededRandom(seed: 76)
        let model = TextGenerator(vocabularySize: 15, embeddingSize: 4, hiddenSize: 8, classCount: 2, random: &random)
        var first = SeededRandom(seed: 5), second = SeededRandom(seed: 5)
        let a = model.sample(classes: [0, 1, 1], length: 7, startToken: 0, random: &first)
        let b = model.sample(classes: [0, 1, 1], length: 7, startToken: 0, random: &second)
        #expect(a.count == 21 && a == b && a.allSatisfy { (0..<15).contains($0) })
        #expect(model.parameters.allSatisfy { $0.requiresGradient })
        // A very low temperature picks the arg-max; categorical draws follow the probabilities.
        let scores = Tensor(shape: [4], values: [0, 2, 1, -1])
        #expect(sampleCategorical(scores.readPointer, count: 4, temperature: 0.01, random: &random) == 1)
        var counts = [0, 0, 0, 0]
        for _ in 0..<4000 { counts[sampleCategorical(scores.readPointer, count: 4, temperature: 1, random: &random)] += 1 }
        // softmax([0, 2, 1, −1]) ≈ [0.087, 0.644, 0.237, 0.032]
        #expect(abs(Double(counts[1]) / 4000 - 0.644) < 0.03 && abs(Double(counts[0]) / 4000 - 0.087) < 0.02)
    }
}

@Suite struct EngineTextStorageTests {
    @Test func textGeneratorStepsAllocateNoNewStorage() {
        let pool = StoragePool()
        StoragePool.$current.withValue(pool) {
            var random = SeededRandom(seed: 74)
            let trainer = TextGeneratorTrainer(model: TextGenerator(vocabularySize: 20, embeddingSize: 8, hiddenSize: 12,
                                                                    classCount: 2, random: &random))
            let inputs = (0..<(2 * 5)).map { _ in random.nextIndex(below: 20) }
            let targets = (0..<(2 * 5)).map { _ in random.nextIndex(below: 20) }
            var allocations: [Int] = []
            for _ in 0..<4 {
                #expect(trainer.step(inputTokens: inputs, targetTokens: targets, classes: [0, 1]).isFinite)
                allocations.append(pool.freshAllocationCount)
            }
            #expect(allocations.allSatisfy { $0 == allocations[0] }, "\(allocations)")
        }
    }

    @Test func attentionAndSpectralNormStepsAllocateNoNewStorage() {
        let pool = StoragePool()
        StoragePool.$current.withValue(pool) {
            var random = SeededRandom(seed: 75)
            let attention = MultiHeadSelfAttention(hiddenSize: 8, headCount: 2, name: "attention", random: &random)
            let head = Linear(inputSize: 8, outputSize: 3, name: "head", random: &random)
            let norm = SpectralNorm(weightShape: [3, 8], name: "head", random: &random)
            let optimizer = Adam(parameters: attention.parameters + head.parameters)
            let input = Variable(Tensor(normalShape: [2, 4, 8], random: &random))
            let mask = [true, true, true, false, true, true, false, false]
            var allocations: [Int] = []
            for _ in 0..<4 {
                optimizer.zeroGradients()
                let pooled = mean(attention(input, mask: mask), alongAxis: 1)
                let logits = linear(pooled, weight: norm(head.weight), bias: head.bias)
                crossEntropy(logits: logits, labels: [0, 2]).backward()
                optimizer.step()
                allocations.append(pool.freshAllocationCount)
            }
            #expect(allocations.allSatisfy { $0 == allocations[0] }, "\(allocations)")
        }
    }
}

/// Speed of the W2 step (WORKLOADS.md timing rules). Off by default; run in release with
/// `REPTILE_ENGINE_BENCH=1 swift test -c release --filter EngineTextBenchmarks`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["REPTILE_ENGINE_BENCH"] != nil))
struct EngineTextBenchmarks {
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

    @Test func w2TextGeneratorStep() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 3)
        let trainer = TextGeneratorTrainer(model: TextGenerator(random: &random))
        let batch = 64, time = 32
        let inputs = (0..<(batch * time)).map { _ in random.nextIndex(below: 5000) }
        let targets = (0..<(batch * time)).map { _ in random.nextIndex(below: 5000) }
        let classes = (0..<batch).map { $0 % 10 }
        let seconds = medianSeconds(steps: timedSteps) {
            trainer.step(inputTokens: inputs, targetTokens: targets, classes: classes)
        }
        print(#"{"workload":"W2","metric":"tokens_per_s","value":\#(Double(batch * time) / seconds),"median_step_ms":\#(seconds * 1000),"threads":\#(threads)}"#)
        Support.expectMeasured(["median_step_s": seconds])
    }

    @Test func w3DiscriminatorForwardBackward() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 4)
        let discriminator = TextConvolutionalDiscriminator(random: &random)
        let tokens = (0..<(64 * 32)).map { _ in random.nextIndex(below: 5000) }
        let targets = Tensor(shape: [64, 1], repeating: 1)
        let seconds = medianSeconds(steps: timedSteps) {
            discriminator.zeroGradients()
            binaryCrossEntropyWithLogits(logits: discriminator(tokens: tokens, batch: 64), targets: targets).backward()
        }
        print(#"{"workload":"W3-discriminator","metric":"sequences_per_s","value":\#(64 / seconds),"median_step_ms":\#(seconds * 1000),"threads":\#(threads)}"#)
        Support.expectMeasured(["median_step_s": seconds])
    }
}

extension EngineTextBenchmarks {
    /// Where the W2 step's time goes: each part's forward + backward alone, at the W2 sizes.
    @Test func w2StepBreakdown() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 5)
        let batch = 64, time = 32, hidden = 256, vocabulary = 5000
        let layer = GRU(inputSize: 128, hiddenSize: hidden, name: "gru", random: &random)
        let embedded = Variable(Tensor(normalShape: [batch, time, 128], random: &random))
        let initial = Variable(Tensor(normalShape: [batch, hidden], random: &random), requiresGradient: true)
        let projection = Linear(inputSize: hidden, outputSize: vocabulary, name: "output", random: &random)
        let states = Variable(Tensor(normalShape: [batch * time, hidden], random: &random), requiresGradient: true)
        let logits = Variable(Tensor(normalShape: [batch * time, vocabulary], random: &random), requiresGradient: true)
        let labels = (0..<(batch * time)).map { _ in random.nextIndex(below: vocabulary) }
        let seed = Tensor(normalShape: [batch, time, hidden], random: &random)
        let projectionSeed = Tensor(normalShape: [batch * time, vocabulary], random: &random)
        let gruForward = medianSeconds(steps: timedSteps) { _ = layer(embedded, initialState: initial) }
        let gruTotal = medianSeconds(steps: timedSteps) { layer(embedded, initialState: initial).states.backward(seed: seed) }
        let linearTotal = medianSeconds(steps: timedSteps) { projection(states).backward(seed: projectionSeed) }
        let lossTotal = medianSeconds(steps: timedSteps) { crossEntropy(logits: logits, labels: labels).backward() }
        let model = TextGenerator(random: &random)
        let optimizer = Adam(parameters: model.parameters)
        for parameter in model.parameters { parameter.zeroGradient() }
        let adam = medianSeconds(steps: timedSteps) { optimizer.step() }
        print(#"{"w2_breakdown_ms":{"gru_forward":\#(gruForward * 1000),"gru_forward_backward":\#(gruTotal * 1000),"#
              + #""output_linear_forward_backward":\#(linearTotal * 1000),"cross_entropy_forward_backward":\#(lossTotal * 1000),"#
              + #""adam":\#(adam * 1000)},"threads":\#(threads)}"#)
        Support.expectMeasured(["gru_forward": gruForward, "gru_forward_backward": gruTotal, "output_linear_forward_backward": linearTotal,
                                "cross_entropy_forward_backward": lossTotal, "adam": adam])
    }
}

extension EngineTextBenchmarks {
    /// One W5-sized self-attention block (batch 32, sequence 64, hidden 384, 12 heads, a quarter of
    /// the positions padded): forward alone, and forward + backward.
    @Test func w5SelfAttentionBlock() {
        BLAS.setThreadCount(threads)
        var random = SeededRandom(seed: 7)
        let attention = MultiHeadSelfAttention(hiddenSize: 384, headCount: 12, name: "attention", random: &random)
        let input = Variable(Tensor(normalShape: [32, 64, 384], random: &random))
        let mask = (0..<(32 * 64)).map { $0 % 64 < 48 }
        let seed = Tensor(normalShape: [32, 64, 384], random: &random)
        let forward = medianSeconds(steps: timedSteps) { _ = attention(input, mask: mask) }
        let total = medianSeconds(steps: timedSteps) { attention(input, mask: mask).backward(seed: seed) }
        let core = medianSeconds(steps: timedSteps) { _ = multiHeadAttention(query: input, key: input, value: input, heads: 12, mask: mask) }
        let projection = medianSeconds(steps: timedSteps) { _ = attention.query(input) }
        print(#"{"w5_attention_block_ms":{"forward":\#(forward * 1000),"forward_backward":\#(total * 1000),"#
              + #""attention_core_forward":\#(core * 1000),"one_projection_forward":\#(projection * 1000)},"threads":\#(threads)}"#)
        Support.expectMeasured(["forward": forward, "forward_backward": total, "attention_core_forward": core, "one_projection_forward": projection])
    }
}
