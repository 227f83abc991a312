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
    /// in the projection case, so those paths train too; the last two cases take the new options:
    /// conditional batch-norm in G, hinge loss, translation-only DiffAugment, D's own learning rate,
    /// with the AC-GAN and the TAC-GAN heads).
    @Test(arguments: [(DiscriminatorHead.acgan, false, false), (DiscriminatorHead.projection, true, false),
                      (DiscriminatorHead.acgan, true, true), (DiscriminatorHead.tacgan, true, true)])
    func aFewAdversarialStepsChangeTheWeightsAndLowerTheDiscriminatorLoss(head: DiscriminatorHead, regularised: Bool, conditional: Bool) throws {
        let config = conditional
            ? SynthesisTesting.toyConfig(head: head, batchSize: 8, conditioning: .batchnorm, loss: .hinge, policy: .translation,
                                         discriminatorLearningRate: 4e-4)
            : SynthesisTesting.toyConfig(head: head, spectralNorm: regularised, batchSize: 8)
        let state = ImageGANState(config: config)
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
        #expect(state.discriminator.parameters.contains { $0.name == "discriminator.twin_head.weight" } == (head == .tacgan))
        let first = losses.prefix(3).reduce(0, +) / 3, last = losses.suffix(3).reduce(0, +) / 3
        #expect(last < first, "discriminator loss did not fall: \(losses)")
    }

    /// A run saved before the recipe's options existed (no generator_conditioning, loss, policy or
    /// D learning rate in its config) loads as W1 with BCE and translation + cutout; a new run's
    /// config records each choice and reads back equal.
    @Test func runsMadeBeforeTheRecipeOptionsLoadAsW1AndNewOnesRecordTheirChoices() throws {
        let old = """
            {"architecture":{"channels":1,"class_count":10,"discriminator_head":"acgan","image_size":28,"noise_size":100,"spectral_norm":false},
             "batch_size":64,"class_names":["0","1"],"dataset":"d","dataset_info_sha256":"x","diff_augment":true,"ema_decay":0.999,
             "epochs":10,"image_channels":1,"image_height":28,"image_width":28,"learning_rate":0.0002,"role":"image-gan","seed":1,"threads":2}
            """
        let decoded = try StableJSON.decode(ImageGANRunConfig.self, from: Data(old.utf8))
        #expect(decoded.architecture.generatorConditioning == .input)
        #expect(decoded.loss == .bce && decoded.augmentPolicy == .translationCutout && decoded.discriminatorLearningRate == nil)
        var unused = SeededRandom(seed: 0)
        #expect(!ImageGenerator(decoded.architecture, random: &unused).parameters.contains { $0.name?.contains("class_weight") == true })

        let recipe = SynthesisTesting.toyConfig(conditioning: .batchnorm, loss: .hinge, policy: .translation, discriminatorLearningRate: 4e-4)
        let text = try StableJSON.string(recipe)
        for field in ["\"generator_conditioning\":\"batchnorm\"", "\"adversarial_loss\":\"hinge\"", "\"diff_augment_policy\":\"translation\"",
                      "\"discriminator_learning_rate\":0.0004"] {
            #expect(text.replacingOccurrences(of: " ", with: "").contains(field), "\(field) missing from \(text)")
        }
        #expect(try StableJSON.decode(ImageGANRunConfig.self, from: Data(text.utf8)) == recipe)
        let generator = ImageGenerator(recipe.architecture, random: &unused)
        #expect(generator.parameters.compactMap(\.name).filter { $0.hasSuffix("class_weight") } == ["generator.fc_norm.class_weight", "generator.deconv1_norm.class_weight"])
    }

    /// DiffAugment's translation policy only shifts (every kept pixel comes from one offset of at
    /// most 1/8 of the side, the rest is zero fill); translation + cutout also zeroes pixels the
    /// shift kept. Gradients pass back through the gather.
    @Test func diffAugmentTranslationOnlyShiftsAndCutoutAlsoZeroes() throws {
        let batch = 16, side = 28
        let values = (0..<(batch * side * side)).map { Float($0 % (side * side) + 1) }
        for policy in DiffAugmentPolicy.allCases {
            var random = SeededRandom(seed: 17)
            let input = Variable(Tensor(shape: [batch, 1, side, side], values: values), requiresGradient: true)
            let output = DiffAugment.apply(input, policy: policy, random: &random)
            let pixels = output.value.scalars
            var zeroedBeyondShift = 0
            for image in 0..<batch {
                let plane = Array(pixels[(image * side * side)..<((image + 1) * side * side)])
                // The offset from any kept pixel: value v came from index v − 1.
                guard let kept = plane.indices.first(where: { plane[$0] != 0 }) else { continue }
                let source = Int(plane[kept]) - 1
                let dy = kept / side - source / side, dx = kept % side - source % side
                #expect(abs(dy) <= 4 && abs(dx) <= 4)
                for index in plane.indices {
                    let row = index / side - dy, column = index % side - dx
                    let inFrame = row >= 0 && row < side && column >= 0 && column < side
                    if plane[index] != 0 {
                        #expect(inFrame && Int(plane[index]) - 1 == row * side + column)
                    } else if inFrame {
                        zeroedBeyondShift += 1
                    }
                }
            }
            if policy == .translation { #expect(zeroedBeyondShift == 0) } else { #expect(zeroedBeyondShift > batch * 50) }
            output.backward(seed: Tensor(shape: output.shape, repeating: 1))
            #expect(input.gradient!.scalars.reduce(0, +) == Float(pixels.filter { $0 != 0 }.count))
        }
    }

    /// The EMA generator's batch-norm statistics are its own: after a few steps they are not the raw
    /// generator's, the recalibration is seeded (same seed, same statistics), it leaves the weights
    /// and the training streams alone, and the generator is back in evaluation mode.
    @Test func theAverageGeneratorsBatchNormStatisticsAreMeasuredOnItsOwnWeights() {
        // One thread count for the whole test, whatever other tests set for the process: the two
        // recalibrations must see the same worker split to give the same bits.
        BLAS.$taskThreadCount.withValue(1) {
            let state = ImageGANState(config: SynthesisTesting.toyConfig(batchSize: 8))
            var data = SeededRandom(seed: 5)
            for _ in 0..<6 {
                let (images, labels) = SynthesisTesting.toyBatch(size: 8, random: &data)
                _ = adversarialStep(state, realImages: images, realLabels: labels, diffAugment: false, emaDecay: 0.9)
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
            _ = adversarialStep(state, realImages: images, realLabels: labels, diffAugment: false, emaDecay: 0.9)
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
