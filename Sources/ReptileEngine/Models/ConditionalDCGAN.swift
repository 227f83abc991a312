import ReptileCore

// The conditional DCGAN of workload W1 (docs/workloads.md): 28×28×1 images, 10 classes,
// an AC-GAN discriminator with a real/fake head and a class head.

/// z (100) ++ one-hot class (10) → Linear → BN → ReLU → [128, 7, 7] → deconv → BN → ReLU → deconv → tanh.
public final class ConditionalGenerator: Layer {
    public let noiseSize: Int, classCount: Int
    let projection: Linear
    let projectionNorm: BatchNorm
    let deconvolution1: ConvTranspose2d
    let deconvolution1Norm: BatchNorm
    let deconvolution2: ConvTranspose2d

    public init(noiseSize: Int = 100, classCount: Int = 10, name: String = "generator", random: inout SeededRandom) {
        self.noiseSize = noiseSize
        self.classCount = classCount
        projection = Linear(inputSize: noiseSize + classCount, outputSize: 128 * 7 * 7,
                            name: qualifiedName(name, "fc"), random: &random)
        projectionNorm = BatchNorm(featureCount: 128 * 7 * 7, name: qualifiedName(name, "fc_norm"))
        deconvolution1 = ConvTranspose2d(inputChannels: 128, outputChannels: 64, kernelSize: 4, stride: 2, padding: 1,
                                         name: qualifiedName(name, "deconv1"), random: &random)
        deconvolution1Norm = BatchNorm(featureCount: 64, name: qualifiedName(name, "deconv1_norm"))
        deconvolution2 = ConvTranspose2d(inputChannels: 64, outputChannels: 1, kernelSize: 4, stride: 2, padding: 1,
                                         name: qualifiedName(name, "deconv2"), random: &random)
    }

    public var parameters: [Variable] {
        projection.parameters + projectionNorm.parameters + deconvolution1.parameters
            + deconvolution1Norm.parameters + deconvolution2.parameters
    }
    public var buffers: [Variable] { projectionNorm.buffers + deconvolution1Norm.buffers }

    public func setTraining(_ training: Bool) {
        projectionNorm.setTraining(training)
        deconvolution1Norm.setTraining(training)
    }

    /// noise [B, noiseSize] and class labels → images [B, 1, 28, 28] in [−1, 1].
    public func callAsFunction(noise: Tensor, labels: [Int]) -> Variable {
        let batch = noise.shape[0]
        let conditioned = concat([Variable(noise), Variable(oneHot(labels, classCount: classCount))], alongAxis: 1)
        var x = relu(projectionNorm(projection(conditioned)))
        x = reshape(x, [batch, 128, 7, 7])
        x = relu(deconvolution1Norm(deconvolution1(x)))
        return tanh(deconvolution2(x))
    }
}

/// [1, 28, 28] → conv → LeakyReLU → conv → BN → LeakyReLU → 6272 → real/fake logit and class logits.
public final class ConditionalDiscriminator: Layer {
    let convolution1: Conv2d
    let convolution2: Conv2d
    let convolution2Norm: BatchNorm
    let realHead: Linear
    let classHead: Linear

    public init(classCount: Int = 10, name: String = "discriminator", random: inout SeededRandom) {
        convolution1 = Conv2d(inputChannels: 1, outputChannels: 64, kernelSize: 4, stride: 2, padding: 1,
                              name: qualifiedName(name, "conv1"), random: &random)
        convolution2 = Conv2d(inputChannels: 64, outputChannels: 128, kernelSize: 4, stride: 2, padding: 1,
                              name: qualifiedName(name, "conv2"), random: &random)
        convolution2Norm = BatchNorm(featureCount: 128, name: qualifiedName(name, "conv2_norm"))
        realHead = Linear(inputSize: 128 * 7 * 7, outputSize: 1, name: qualifiedName(name, "real_head"), random: &random)
        classHead = Linear(inputSize: 128 * 7 * 7, outputSize: classCount, name: qualifiedName(name, "class_head"), random: &random)
    }

    public var parameters: [Variable] {
        convolution1.parameters + convolution2.parameters + convolution2Norm.parameters + realHead.parameters + classHead.parameters
    }
    public var buffers: [Variable] { convolution2Norm.buffers }
    public func setTraining(_ training: Bool) { convolution2Norm.setTraining(training) }

    /// images [B, 1, 28, 28] → (real/fake logits [B, 1], class logits [B, classCount]).
    public func callAsFunction(_ images: Variable) -> (realLogits: Variable, classLogits: Variable) {
        var x = leakyRelu(convolution1(images), negativeSlope: 0.2)
        x = leakyRelu(convolution2Norm(convolution2(x)), negativeSlope: 0.2)
        let features = reshape(x, [images.shape[0], -1])
        return (realHead(features), classHead(features))
    }
}

/// One-hot rows [labels.count, classCount].
public func oneHot(_ labels: [Int], classCount: Int) -> Tensor {
    var result = Tensor(zeros: [labels.count, classCount])
    let pointer = result.mutablePointer
    for (row, label) in labels.enumerated() {
        precondition(label >= 0 && label < classCount, "oneHot: label \(label) outside 0..<\(classCount)")
        pointer[row * classCount + label] = 1
    }
    return result
}

/// Both networks, their Adam optimizers (lr 2e-4, β₁ 0.5, β₂ 0.999) and one AC-GAN training step.
public final class ConditionalDCGANTrainer {
    public let generator: ConditionalGenerator
    public let discriminator: ConditionalDiscriminator
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam
    public let classCount: Int
    private var ones: Tensor, zeros: Tensor

    public init(classCount: Int = 10, batchSize: Int = 64, learningRate: Float = 2e-4, random: inout SeededRandom) {
        self.classCount = classCount
        generator = ConditionalGenerator(classCount: classCount, random: &random)
        discriminator = ConditionalDiscriminator(classCount: classCount, random: &random)
        generatorOptimizer = Adam(parameters: generator.parameters, learningRate: learningRate, beta1: 0.5, beta2: 0.999)
        discriminatorOptimizer = Adam(parameters: discriminator.parameters, learningRate: learningRate, beta1: 0.5, beta2: 0.999)
        ones = Tensor(shape: [batchSize, 1], repeating: 1)
        zeros = Tensor(zeros: [batchSize, 1])
    }

    public struct StepLosses: Sendable {
        public var discriminator: Float
        public var generator: Float
    }

    /// D update on the real batch and a generated batch, then G update on the same generated batch
    /// (non-saturating BCE-with-logits plus cross-entropy on the class head).
    @discardableResult
    public func step(realImages: Tensor, realLabels: [Int], random: inout SeededRandom) -> StepLosses {
        let batch = realImages.shape[0]
        precondition(realLabels.count == batch && batch == ones.shape[0],
                     "ConditionalDCGANTrainer.step: images \(realImages.shape), \(realLabels.count) labels, batch size \(ones.shape[0])")
        let noise = Tensor(normalShape: [batch, generator.noiseSize], random: &random)
        let fakeLabels = (0..<batch).map { _ in random.nextIndex(below: classCount) }
        let fakeImages = generator(noise: noise, labels: fakeLabels)

        // Discriminator: the generated images enter as constants (PyTorch's fake.detach()).
        discriminatorOptimizer.zeroGradients()
        let real = discriminator(Variable(realImages))
        let fake = discriminator(Variable(fakeImages.value))
        let discriminatorLoss = binaryCrossEntropyWithLogits(logits: real.realLogits, targets: ones)
            + binaryCrossEntropyWithLogits(logits: fake.realLogits, targets: zeros)
            + crossEntropy(logits: real.classLogits, labels: realLabels)
            + crossEntropy(logits: fake.classLogits, labels: fakeLabels)
        discriminatorLoss.backward()
        discriminatorOptimizer.step()

        // Generator: fool the updated discriminator and make the class recognisable. The
        // discriminator is frozen meanwhile: its weight gradients would be discarded anyway.
        generatorOptimizer.zeroGradients()
        discriminator.setParametersRequireGradient(false)
        let judged = discriminator(fakeImages)
        let generatorLoss = binaryCrossEntropyWithLogits(logits: judged.realLogits, targets: ones)
            + crossEntropy(logits: judged.classLogits, labels: fakeLabels)
        generatorLoss.backward()
        discriminator.setParametersRequireGradient(true)
        generatorOptimizer.step()
        return StepLosses(discriminator: discriminatorLoss.value.scalarValue, generator: generatorLoss.value.scalarValue)
    }
}
