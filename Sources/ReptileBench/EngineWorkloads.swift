import Foundation
import ReptileCore
import ReptileEngine
import ReptileSynthesis

/// How the engine workloads (W1, W4) are timed: WORKLOADS.md says 5 untimed warm-up steps, then
/// the median of 50 timed steps, with as many engine threads as the machine has cores.
public struct EngineBenchOptions: Sendable {
    public var steps: Int
    public var warmup: Int
    public var threads: Int

    public init(steps: Int = 50, warmup: Int = 5, threads: Int = EngineBenchOptions.machineCores) {
        self.steps = steps
        self.warmup = warmup
        self.threads = threads
    }

    /// The default thread count: the processors this process may run on.
    public static var machineCores: Int { ProcessInfo.processInfo.activeProcessorCount }
}

/// The timed part of an engine workload.
public struct StepMeasurement: Sendable {
    /// Every timed step's wall time, in seconds, in the order they ran.
    public var stepSeconds: [Double]
    /// Time inside sgemm and its 2·M·N·K flops, summed over the timed steps.
    public var sgemmSeconds: Double
    public var sgemmFlops: Double
    /// Tensor blocks the storage pool had to get from the system during the timed steps (0 when
    /// every step reuses the buffers of the one before).
    public var freshAllocations: Int

    public var medianSeconds: Double { median(stepSeconds) }
    /// The fraction of the timed steps' wall time spent inside sgemm.
    public var sgemmShare: Double {
        let total = stepSeconds.reduce(0, +)
        return total > 0 ? sgemmSeconds / total : 0
    }
    /// The rate sgemm achieved inside the steps, GFLOP/s.
    public var sgemmGigaflops: Double { sgemmSeconds > 0 ? sgemmFlops / sgemmSeconds / 1e9 : 0 }
}

/// Runs `body` `warmup` times untimed, then `steps` times timed, counting sgemm time and fresh
/// tensor storage in the timed steps only. Runs on a private storage pool that is emptied afterwards.
public func measureSteps(warmup: Int, steps: Int, _ body: () -> Void) -> StepMeasurement {
    precondition(warmup >= 0 && steps >= 1, "measureSteps needs warmup ≥ 0 and steps ≥ 1, got \(warmup) and \(steps)")
    let pool = StoragePool()
    return StoragePool.$current.withValue(pool) {
        for _ in 0..<warmup { body() }
        let profile = BLAS.profile
        let allocationsBefore = pool.freshAllocationCount
        profile.reset()
        profile.setOn(true)
        var times: [Double] = []
        times.reserveCapacity(steps)
        for _ in 0..<steps { times.append(seconds(body)) }
        profile.setOn(false)
        return StepMeasurement(stepSeconds: times, sgemmSeconds: profile.seconds, sgemmFlops: profile.flops,
                               freshAllocations: pool.freshAllocationCount - allocationsBefore)
    }
}

/// W1: one conditional DCGAN step (D on 64 real + 64 generated, then G on 64 generated) on
/// synthetic images in [−1, 1] with cycling labels; images_per_s = 64 / median step time.
public func measureConditionalDCGANStep(_ options: EngineBenchOptions) -> (result: BenchResult, measurement: StepMeasurement) {
    BLAS.setThreadCount(options.threads)
    let batch = 64
    var random = SeededRandom(seed: 1)
    let measurement = StoragePool.$current.withValue(StoragePool()) {
        let trainer = ConditionalDCGANTrainer(batchSize: batch, random: &random)
        let images = Tensor(uniformShape: [batch, 1, 28, 28], in: -1...1, random: &random)
        let labels = (0..<batch).map { $0 % 10 }
        return measureSteps(warmup: options.warmup, steps: options.steps) {
            trainer.step(realImages: images, realLabels: labels, random: &random)
        }
    }
    return (engineResult("W1", imagesPerStep: batch, measurement, options), measurement)
}

/// W4: one step of the convolutional classifier (forward, cross-entropy, backward, Adam 1e-3) on
/// a synthetic standard-normal batch of 128; images_per_s = 128 / median step time.
public func measureClassifierStep(_ options: EngineBenchOptions) -> (result: BenchResult, measurement: StepMeasurement) {
    BLAS.setThreadCount(options.threads)
    let batch = 128
    var random = SeededRandom(seed: 2)
    let measurement = StoragePool.$current.withValue(StoragePool()) {
        let trainer = ClassifierTrainer(model: ConvolutionalClassifier(random: &random))
        let images = Tensor(normalShape: [batch, 1, 28, 28], random: &random)
        let labels = (0..<batch).map { $0 % 10 }
        return measureSteps(warmup: options.warmup, steps: options.steps) {
            trainer.step(images: images, labels: labels)
        }
    }
    return (engineResult("W4", imagesPerStep: batch, measurement, options), measurement)
}

/// W2: one step of the class-conditional GRU language model (vocabulary 5000, embedding 128, hidden
/// 256, class embedding as the initial state; teacher forcing, cross-entropy over every position,
/// Adam 1e-3) on synthetic token sequences, batch 64 × 32; tokens_per_s = 64·32 / median step time.
public func measureTextGeneratorStep(_ options: EngineBenchOptions) -> (result: BenchResult, measurement: StepMeasurement) {
    BLAS.setThreadCount(options.threads)
    let batch = 64, length = 32, vocabulary = 5000
    var random = SeededRandom(seed: 3)
    let measurement = StoragePool.$current.withValue(StoragePool()) {
        let trainer = TextGeneratorTrainer(model: TextGenerator(vocabularySize: vocabulary, random: &random))
        let sequences = (0..<(batch * (length + 1))).map { _ in random.nextIndex(below: vocabulary) }
        var inputs: [Int] = [], targets: [Int] = []
        for row in 0..<batch {
            let sequence = sequences[(row * (length + 1))..<((row + 1) * (length + 1))]
            inputs += sequence.dropLast()
            targets += sequence.dropFirst()
        }
        let classes = (0..<batch).map { $0 % 10 }
        return measureSteps(warmup: options.warmup, steps: options.steps) {
            trainer.step(inputTokens: inputs, targetTokens: targets, classes: classes)
        }
    }
    var result = engineResult("W2", imagesPerStep: batch * length, measurement, options)
    result.metric = "tokens_per_s"
    return (result, measurement)
}

/// W3: one PPO iteration of the text generator (`TextPolicyOptimizer`, what `train text
/// --ppo-iterations` runs): the W2 generator as policy with a value head Linear(256 → 1); sample 64
/// sequences of 32 tokens (classes round-robin), score them with the W3 CNN discriminator (reward
/// at the last token), GAE (γ 1, λ 0.95), then 4 PPO epochs over minibatches of 32 (clip 0.2,
/// value loss 0.5, entropy 0.01). sequences_per_s = 64 / median iteration time, over at most 10
/// timed iterations (WORKLOADS.md).
public func measureTextPPOIteration(_ options: EngineBenchOptions) -> (result: BenchResult, measurement: StepMeasurement) {
    BLAS.setThreadCount(options.threads)
    let rollouts = 64, length = 32, vocabulary = 5000, classCount = 10
    var random = SeededRandom(seed: 7)
    let timedIterations = min(options.steps, 10)
    let measurement = StoragePool.$current.withValue(StoragePool()) {
        let policy = TextGenerator(vocabularySize: vocabulary, classCount: classCount, random: &random)
        let valueHead = Linear(inputSize: 256, outputSize: 1, name: "value_head", random: &random)
        let discriminator = TextConvolutionalDiscriminator(vocabularySize: vocabulary, random: &random)
        discriminator.setParametersRequireGradient(false)
        var hyperparameters = TextPPOHyperparameters()
        hyperparameters.rollouts = rollouts
        hyperparameters.learningRate = 1e-5
        let optimizer = TextPolicyOptimizer(policy: policy, valueHead: valueHead, reference: nil,
                                            optimizer: Adam(parameters: policy.parameters + valueHead.parameters, learningRate: hyperparameters.learningRate),
                                            hyperparameters: hyperparameters, forbidden: [], endToken: nil)
        let classes = (0..<rollouts).map { $0 % classCount }
        return measureSteps(warmup: options.warmup, steps: timedIterations) {
            let collected = optimizer.collect(classes: classes, length: length, random: &random)
            let rewards = discriminator(tokens: collected.sequences.flatMap { $0 }, batch: rollouts).value.scalars
            _ = optimizer.update(collected, finalRewards: rewards, random: &random)
        }
    }
    var result = engineResult("W3", imagesPerStep: rollouts, measurement, options)
    result.metric = "sequences_per_s"
    result.steps = timedIterations
    return (result, measurement)
}

/// W5: the pretrained text encoder (all-MiniLM-L6-v2's shape: 6 layers, hidden 384, 12 heads, FFN
/// 1536) at sequence length 64, batch 32, on synthetic token ids. train_sequences_per_s: mean
/// pooling, Linear(384 → 2) head, cross-entropy, backward and AdamW(2e-5) over all weights, dropout on;
/// embed_sequences_per_s: the forward pass and mean pooling only, recording no graph. With
/// `encoderFolder` the real weights are loaded (their values do not change the work); without it
/// the encoder starts from BERT's random initialisation at MiniLM's shape.
public func measureTextEncoderSteps(_ options: EngineBenchOptions, encoderFolder: String?) throws -> [BenchResult] {
    BLAS.setThreadCount(options.threads)
    let batch = 32, length = 64, classCount = 2
    var random = SeededRandom(seed: 5)
    return try StoragePool.$current.withValue(StoragePool()) {
        let encoder = try encoderFolder.map { try TextEncoder.load(folder: $0, name: SentenceClassifier.encoderName) }
            ?? TextEncoder(config: TextEncoderConfig(vocabSize: 30522, hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12,
                                                     intermediateSize: 1536),
                           name: SentenceClassifier.encoderName, random: &random)
        let model = SentenceClassifier(encoder: encoder, classCount: classCount, random: &random)
        let trainer = SentenceClassifierTrainer(model: model, learningRate: 2e-5)
        // Ids of ordinary words (BERT's first 1000 are special and unused); every position real,
        // as in a batch of long sentences.
        let firstWord = min(1000, encoder.config.vocabSize / 2)
        let ids = (0..<(batch * length)).map { _ in firstWord + random.nextIndex(below: encoder.config.vocabSize - firstWord) }
        let mask = [Bool](repeating: true, count: batch * length)
        let labels = (0..<batch).map { $0 % classCount }
        var dropoutRandom = random.derived("dropout")
        let training = measureSteps(warmup: options.warmup, steps: options.steps) {
            trainer.step(ids: ids, mask: mask, batch: batch, sequence: length, labels: labels, random: &dropoutRandom)
        }
        encoder.prepareForInference()
        let embedding = measureSteps(warmup: options.warmup, steps: options.steps) {
            _ = maskedMeanPooling(encoder(ids: ids, mask: mask, batch: batch, sequence: length), mask: mask)
        }
        var trainResult = engineResult("W5", imagesPerStep: batch, training, options)
        trainResult.metric = "train_sequences_per_s"
        var embedResult = engineResult("W5", imagesPerStep: batch, embedding, options)
        embedResult.metric = "embed_sequences_per_s"
        return [trainResult, embedResult]
    }
}

private func engineResult(_ workload: String, imagesPerStep: Int, _ measurement: StepMeasurement,
                          _ options: EngineBenchOptions) -> BenchResult {
    var result = BenchResult(workload: workload, metric: "images_per_s", value: Double(imagesPerStep) / measurement.medianSeconds,
                             steps: options.steps, threads: options.threads, peakResidentMegabytes: peakResidentMegabytes())
    result.medianStepMilliseconds = measurement.medianSeconds * 1000
    result.sgemmShare = measurement.sgemmShare
    result.sgemmGigaflops = measurement.sgemmGigaflops
    result.freshAllocations = measurement.freshAllocations
    return result
}

/// The sgemm ceiling right now: GFLOP/s of a 1024³ product, the median of `repeats` (docs/platform.md §3
/// measured ≈ 100 on one thread, ≈ 200 on two in a good window).
public func measureSgemmCeiling(threads: Int, size: Int = 1024, repeats: Int = 9) -> Double {
    BLAS.setThreadCount(threads)
    var random = SeededRandom(seed: 4)
    return StoragePool.$current.withValue(StoragePool()) {
        let a = Tensor(normalShape: [size, size], random: &random), b = Tensor(normalShape: [size, size], random: &random)
        _ = matrixMultiply(a, b)
        let times = (0..<repeats).map { _ in seconds { _ = matrixMultiply(a, b) } }
        return 2 * Double(size * size * size) / median(times) / 1e9
    }
}

/// docs/platform.md §0's probe: two equal halves of a CPU-bound loop under `concurrentPerform`. About
/// 0.06 s means two cores were available, about 0.12 s only one. Returns the median of `repeats`.
public func measureCoreProbe(repeats: Int = 3) -> Double {
    // Each half writes its own slot, so the result is used and the loop cannot be dropped.
    nonisolated(unsafe) let sink = UnsafeMutablePointer<Double>.allocate(capacity: 2)
    defer { sink.deallocate() }
    let times = (0..<repeats).map { _ in
        seconds {
            DispatchQueue.concurrentPerform(iterations: 2) { half in
                var total = 0.0
                for index in 0..<25_000_000 { total += Double(index & 1023).squareRoot() }
                sink[half] = total
            }
        }
    }
    return median(times)
}
