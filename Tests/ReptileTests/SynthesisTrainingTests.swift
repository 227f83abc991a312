import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileEngine
@testable import ReptileSynthesis

/// The adversarial step and the PPO iteration, in process on a toy two-class image set.
@Suite struct SynthesisTrainingTests {
    /// A few GAN steps change both networks' weights and the discriminator learns: its loss on the
    /// last steps is below its loss on the first ones (both heads; spectral norm and DiffAugment on
    /// in the projection case, so those paths train too).
    @Test(arguments: [(DiscriminatorHead.acgan, false), (DiscriminatorHead.projection, true)])
    func aFewAdversarialStepsChangeTheWeightsAndLowerTheDiscriminatorLoss(head: DiscriminatorHead, regularised: Bool) throws {
        let state = ImageGANState(config: SynthesisTesting.toyConfig(head: head, spectralNorm: regularised, batchSize: 8))
        let generatorBefore = SynthesisTesting.bits(state.generator)
        let discriminatorBefore = SynthesisTesting.bits(state.discriminator)
        let averageBefore = SynthesisTesting.bits(state.averageGenerator)
        var data = SeededRandom(seed: 5)
        var losses: [Float] = []
        for _ in 0..<8 {
            let (images, labels) = SynthesisTesting.toyBatch(size: 8, random: &data)
            losses.append(adversarialStep(state, realImages: images, realLabels: labels, diffAugment: regularised, emaDecay: 0.9).discriminatorLoss)
        }
        #expect(SynthesisTesting.bits(state.generator) != generatorBefore)
        #expect(SynthesisTesting.bits(state.discriminator) != discriminatorBefore)
        #expect(SynthesisTesting.bits(state.averageGenerator) != averageBefore)
        #expect(state.step == 8)
        let first = losses.prefix(3).reduce(0, +) / 3, last = losses.suffix(3).reduce(0, +) / 3
        #expect(last < first, "discriminator loss did not fall: \(losses)")
    }

    /// The EMA generator's batch-norm statistics are its own: after a few steps they are not the raw
    /// generator's, the recalibration is seeded (same seed, same statistics), it leaves the weights
    /// and the training streams alone, and the generator is back in evaluation mode.
    @Test func theAverageGeneratorsBatchNormStatisticsAreMeasuredOnItsOwnWeights() throws {
        let state = ImageGANState(config: SynthesisTesting.toyConfig(batchSize: 8))
        var data = SeededRandom(seed: 5)
        for _ in 0..<6 {
            let (images, labels) = SynthesisTesting.toyBatch(size: 8, random: &data)
            adversarialStep(state, realImages: images, realLabels: labels, diffAugment: false, emaDecay: 0.9)
        }
        func buffers(_ generator: ImageGenerator) -> [[UInt32]] { generator.buffers.map { $0.value.scalars.map(\.bitPattern) } }
        let weights = SynthesisTesting.bits(state.averageGenerator)
        var unused = SeededRandom(seed: 0)
        let twin = ImageGenerator(state.config.architecture, name: "twin", random: &unused)
        twin.copyWeights(from: state.averageGenerator)
        var noiseStream = state.noiseRandom
        var first = SeededRandom(seed: 1).derived("recalibration")
        GeneratorAverage.recalibrateBatchNorm(state.averageGenerator, random: &first)
        let recalibrated = buffers(state.averageGenerator)
        #expect(recalibrated != buffers(state.generator))
        #expect(SynthesisTesting.bits(state.averageGenerator) == weights)
        #expect(state.noiseRandom.next() == noiseStream.next())
        var again = SeededRandom(seed: 1).derived("recalibration")
        GeneratorAverage.recalibrateBatchNorm(twin, random: &again)
        #expect(buffers(twin) == recalibrated)
        #expect(!state.averageGenerator.projectionNorm.isTraining)
    }

    /// One PPO iteration raises the policy's mean reward (D logit + w·log p_C − β·KL) on a fixed
    /// batch of noise and labels that the rollouts never saw.
    @Test func aPPOIterationRaisesTheMeanRewardOnAFixedBatch() throws {
        let folder = try Support.makeTemporaryFolder("ppo")
        defer { Support.remove(folder) }
        let classifierPath = folder.appendingPathComponent("classifier.h5").path
        try SynthesisTesting.toyClassifier(at: classifierPath, steps: 8)
        var config = SynthesisTesting.toyConfig()
        let state = ImageGANState(config: config)
        var data = SeededRandom(seed: 5)
        for _ in 0..<4 {
            let (images, labels) = SynthesisTesting.toyBatch(size: 16, random: &data)
            adversarialStep(state, realImages: images, realLabels: labels, diffAugment: false, emaDecay: 0.9)
        }
        var options = ImagePPOOptions(iterations: 1)
        options.classifier = classifierPath
        // σ 0.2: at the default 0.05 one iteration on this toy set moves the objective by less than
        // its noise (measured −0.977 → −0.980 at lr 2e-5, β 0.001); at 0.2 it rises (−0.8192 → −0.8154 here).
        options.rollouts = 128
        options.epochs = 2
        options.learningRate = 5e-5
        options.sigma = 0.2
        options.klWeight = 0.001
        let settings = try options.settings(for: config, previous: nil)
        config.ppo = settings
        let refinement = try ImagePPORefinement(state: state, settings: settings, dataset: nil)
        var fixed = SeededRandom(seed: 99)
        let noise = Tensor(normalShape: [32, config.architecture.noiseSize], random: &fixed)
        let labels = (0..<32).map { $0 % 2 }
        let before = refinement.meanObjective(noise: noise, labels: labels)
        let policyBefore = SynthesisTesting.bits(refinement.policy)
        let referenceBefore = SynthesisTesting.bits(state.averageGenerator)
        let fields = try refinement.iterate()
        let after = refinement.meanObjective(noise: noise, labels: labels)
        #expect(SynthesisTesting.bits(refinement.policy) != policyBefore)
        #expect(SynthesisTesting.bits(state.averageGenerator) == referenceBefore, "the pre-PPO generator must stay frozen")
        #expect(after > before, "mean reward \(before) → \(after); \(fields)")
        for key in ["mean_reward", "kl", "clip_fraction", "approx_kl"] { #expect(fields[key] != nil, "missing \(key)") }
    }
}
