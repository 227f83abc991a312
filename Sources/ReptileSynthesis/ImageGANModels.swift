import ReptileCore
import ReptileEngine

// The image GAN: workload W1's conditional DCGAN (docs/workloads.md) generalised to the
// sizes Reptile accepts (28×28 or 32×32, 1 or 3 channels, any number of classes), with a choice of
// discriminator head and optional spectral normalisation. With 28×28×1, 10 classes, the AC-GAN head
// and no spectral norm it is exactly W1.

/// How the discriminator uses the class.
public enum DiscriminatorHead: String, Codable, Sendable, CaseIterable {
    /// AC-GAN (Odena et al. 2017): a real/fake logit plus an auxiliary classifier over the classes.
    case acgan
    /// Projection (Miyato & Koyama 2018): logit = ψ(φ(x)) + e_yᵀ φ(x), with a class embedding e.
    case projection
    /// Twin auxiliary classifiers (TAC-GAN, Gong et al. 2019): AC-GAN's class head (trained on real
    /// images) plus a twin head trained on generated ones; G minimises the first's cross-entropy and
    /// maximises the twin's, which cancels AC-GAN's pull towards easily classified samples.
    case tacgan
}

/// Where the generator sees the class.
public enum GeneratorConditioning: String, Codable, Sendable, CaseIterable {
    /// W1: a one-hot class concatenated to the noise, at the input only; plain batch-norms.
    case input
    /// The one-hot input plus conditional batch-norm: every batch-norm of G has per-class gains and
    /// biases (de Vries et al. 2017; Miyato & Koyama 2018; BigGAN), so the class shapes every layer
    /// and the noise is left to the style.
    case batchnorm
}

/// Everything that fixes the networks' shapes; saved in the run's config.
public struct ImageGANArchitecture: Codable, Equatable, Sendable {
    public var imageSize: Int
    public var channels: Int
    public var classCount: Int
    public var noiseSize: Int = 100
    public var discriminatorHead: DiscriminatorHead = .acgan
    public var spectralNorm = false
    /// Runs made before this field existed have none in their config: they are W1's `input`.
    public var generatorConditioning: GeneratorConditioning = .input

    public init(imageSize: Int, channels: Int, classCount: Int, discriminatorHead: DiscriminatorHead = .acgan, spectralNorm: Bool = false,
                generatorConditioning: GeneratorConditioning = .input) {
        self.imageSize = imageSize
        self.channels = channels
        self.classCount = classCount
        self.discriminatorHead = discriminatorHead
        self.spectralNorm = spectralNorm
        self.generatorConditioning = generatorConditioning
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        imageSize = try container.decode(Int.self, forKey: .imageSize)
        channels = try container.decode(Int.self, forKey: .channels)
        classCount = try container.decode(Int.self, forKey: .classCount)
        noiseSize = try container.decode(Int.self, forKey: .noiseSize)
        discriminatorHead = try container.decode(DiscriminatorHead.self, forKey: .discriminatorHead)
        spectralNorm = try container.decode(Bool.self, forKey: .spectralNorm)
        generatorConditioning = try container.decodeIfPresent(GeneratorConditioning.self, forKey: .generatorConditioning) ?? .input
    }

    /// The sizes the two stride-2 (de)convolutions map from and to: 7 for 28, 8 for 32.
    public static let supportedImageSizes = [28, 32]
    var baseSize: Int { imageSize / 4 }
    var pixelCount: Int { channels * imageSize * imageSize }
}

func childName(_ prefix: String, _ child: String) -> String { prefix.isEmpty ? child : "\(prefix).\(child)" }

/// A generator batch-norm: plain (W1) or with per-class gains and biases.
enum GeneratorNorm {
    case plain(BatchNorm)
    case conditional(ConditionalBatchNorm)

    init(featureCount: Int, architecture: ImageGANArchitecture, name: String) {
        switch architecture.generatorConditioning {
        case .input: self = .plain(BatchNorm(featureCount: featureCount, name: name))
        case .batchnorm: self = .conditional(ConditionalBatchNorm(featureCount: featureCount, classCount: architecture.classCount, name: name))
        }
    }

    var layer: any Layer {
        switch self {
        case .plain(let norm): return norm
        case .conditional(let norm): return norm
        }
    }

    var isTraining: Bool {
        switch self {
        case .plain(let norm): return norm.isTraining
        case .conditional(let norm): return norm.isTraining
        }
    }

    func callAsFunction(_ input: Variable, labels: [Int]) -> Variable {
        switch self {
        case .plain(let norm): return norm(input)
        case .conditional(let norm): return norm(input, labels: labels)
        }
    }
}

/// z ++ one-hot(y) → Linear → BN → ReLU → [128, s, s] → deconv → BN → ReLU → deconv → tanh, s = size / 4.
/// With `generatorConditioning == .batchnorm` both BNs take per-class gains and biases.
public final class ImageGenerator: Layer {
    public let architecture: ImageGANArchitecture
    let projection: Linear
    let projectionNorm: GeneratorNorm
    let deconvolution1: ConvTranspose2d
    let deconvolution1Norm: GeneratorNorm
    let deconvolution2: ConvTranspose2d

    public init(_ architecture: ImageGANArchitecture, name: String = "generator", random: inout SeededRandom) {
        self.architecture = architecture
        let base = architecture.baseSize
        projection = Linear(inputSize: architecture.noiseSize + architecture.classCount, outputSize: 128 * base * base,
                            name: childName(name, "fc"), random: &random)
        projectionNorm = GeneratorNorm(featureCount: 128 * base * base, architecture: architecture, name: childName(name, "fc_norm"))
        deconvolution1 = ConvTranspose2d(inputChannels: 128, outputChannels: 64, kernelSize: 4, stride: 2, padding: 1,
                                         name: childName(name, "deconv1"), random: &random)
        deconvolution1Norm = GeneratorNorm(featureCount: 64, architecture: architecture, name: childName(name, "deconv1_norm"))
        deconvolution2 = ConvTranspose2d(inputChannels: 64, outputChannels: architecture.channels, kernelSize: 4, stride: 2, padding: 1,
                                         name: childName(name, "deconv2"), random: &random)
    }

    public var parameters: [Variable] {
        projection.parameters + projectionNorm.layer.parameters + deconvolution1.parameters
            + deconvolution1Norm.layer.parameters + deconvolution2.parameters
    }
    public var buffers: [Variable] { projectionNorm.layer.buffers + deconvolution1Norm.layer.buffers }

    public func setTraining(_ training: Bool) {
        projectionNorm.layer.setTraining(training)
        deconvolution1Norm.layer.setTraining(training)
    }

    /// noise [B, noiseSize] and class labels → images [B, C, H, W] in [−1, 1].
    public func callAsFunction(noise: Tensor, labels: [Int]) -> Variable {
        let batch = noise.shape[0], base = architecture.baseSize
        let conditioned = concat([Variable(noise), Variable(oneHot(labels, classCount: architecture.classCount))], alongAxis: 1)
        var x = relu(projectionNorm(projection(conditioned), labels: labels))
        x = reshape(x, [batch, 128, base, base])
        x = relu(deconvolution1Norm(deconvolution1(x), labels: labels))
        return tanh(deconvolution2(x))
    }

    /// Overwrites this generator's parameters and buffers with another one's (same architecture).
    public func copyWeights(from other: ImageGenerator) {
        precondition(other.architecture == architecture, "copyWeights between generators of different architectures")
        for (target, source) in zip(parameters + buffers, other.parameters + other.buffers) {
            let values = source.value
            values.withUnsafeBufferPointer { from in
                target.value.withUnsafeMutableBufferPointer { to in
                    for index in to.indices { to[index] = from[index] }
                }
            }
        }
    }
}

/// [C, H, W] → conv → LeakyReLU → conv → BN → LeakyReLU → φ(x) → real/fake logit and class logits.
/// With spectral normalisation every weight (both convolutions and both heads) is divided by its
/// largest singular value, estimated by one power iteration per training forward.
public final class ImageDiscriminator: Layer {
    public let architecture: ImageGANArchitecture
    let convolution1: Conv2d
    let convolution2: Conv2d
    let convolution2Norm: BatchNorm
    let realHead: Linear
    /// AC-GAN: the auxiliary class head. Projection: the class embedding (rows e_y), no bias.
    let classHead: Linear
    /// TAC-GAN's twin class head (trained on generated images); nil for the other heads.
    let twinHead: Linear?
    let spectralNorms: [SpectralNorm]

    public init(_ architecture: ImageGANArchitecture, name: String = "discriminator", random: inout SeededRandom) {
        self.architecture = architecture
        let features = 128 * architecture.baseSize * architecture.baseSize
        convolution1 = Conv2d(inputChannels: architecture.channels, outputChannels: 64, kernelSize: 4, stride: 2, padding: 1,
                              name: childName(name, "conv1"), random: &random)
        convolution2 = Conv2d(inputChannels: 64, outputChannels: 128, kernelSize: 4, stride: 2, padding: 1,
                              name: childName(name, "conv2"), random: &random)
        convolution2Norm = BatchNorm(featureCount: 128, name: childName(name, "conv2_norm"))
        realHead = Linear(inputSize: features, outputSize: 1, name: childName(name, "real_head"), random: &random)
        switch architecture.discriminatorHead {
        case .acgan, .tacgan:
            classHead = Linear(inputSize: features, outputSize: architecture.classCount, name: childName(name, "class_head"), random: &random)
        case .projection:
            classHead = Linear(inputSize: features, outputSize: architecture.classCount, useBias: false,
                               name: childName(name, "class_embedding"), random: &random)
        }
        twinHead = architecture.discriminatorHead == .tacgan
            ? Linear(inputSize: features, outputSize: architecture.classCount, name: childName(name, "twin_head"), random: &random) : nil
        if architecture.spectralNorm {
            var normalised = [("conv1", convolution1.weight), ("conv2", convolution2.weight), ("real_head", realHead.weight),
                              (architecture.discriminatorHead == .projection ? "class_embedding" : "class_head", classHead.weight)]
            if let twinHead { normalised.append(("twin_head", twinHead.weight)) }
            spectralNorms = normalised.map { SpectralNorm(weightShape: $0.1.shape, name: childName(name, $0.0), random: &random) }
        } else {
            spectralNorms = []
        }
    }

    public var parameters: [Variable] {
        convolution1.parameters + convolution2.parameters + convolution2Norm.parameters + realHead.parameters + classHead.parameters
            + (twinHead?.parameters ?? [])
    }
    public var buffers: [Variable] { convolution2Norm.buffers + spectralNorms.flatMap(\.buffers) }
    public func setTraining(_ training: Bool) {
        convolution2Norm.setTraining(training)
        for norm in spectralNorms { norm.setTraining(training) }
    }

    private func weight(_ index: Int, _ weight: Variable) -> Variable {
        spectralNorms.isEmpty ? weight : spectralNorms[index](weight)
    }

    /// images [B, C, H, W] and their (intended) classes → real/fake logits [B, 1] and class logits
    /// [B, classCount]. For the projection head the class logits are e_yᵀ φ(x) for every y: their
    /// softmax is the discriminator's class posterior, and the entry of the given class is added to
    /// the real/fake logit.
    /// TAC-GAN adds `twinLogits`, the twin head's class logits [B, classCount] (nil otherwise).
    public func callAsFunction(_ images: Variable, labels: [Int]) -> (realLogits: Variable, classLogits: Variable, twinLogits: Variable?) {
        var x = conv2d(images, weight: weight(0, convolution1.weight), bias: convolution1.bias, stride: 2, padding: 1)
        x = leakyRelu(x, negativeSlope: 0.2)
        x = conv2d(x, weight: weight(1, convolution2.weight), bias: convolution2.bias, stride: 2, padding: 1)
        x = leakyRelu(convolution2Norm(x), negativeSlope: 0.2)
        let features = reshape(x, [images.shape[0], -1])
        let realLogits = linear(features, weight: weight(2, realHead.weight), bias: realHead.bias)
        let classLogits = linear(features, weight: weight(3, classHead.weight), bias: classHead.bias)
        switch architecture.discriminatorHead {
        case .acgan:
            return (realLogits, classLogits, nil)
        case .tacgan:
            let twin = twinHead!
            return (realLogits, classLogits, linear(features, weight: weight(4, twin.weight), bias: twin.bias))
        case .projection:
            let selected = sum(classLogits * Variable(oneHot(labels, classCount: architecture.classCount)), alongAxis: 1)
            return (realLogits + reshape(selected, [images.shape[0], 1]), classLogits, nil)
        }
    }
}

/// The exponential moving average of a generator's weights (what Reptile samples from). The decay
/// ramps up as min(decay, (1 + t) / (10 + t)) over the first updates (TensorFlow's num_updates
/// rule), so a short run is not dominated by the random initial weights. Batch-norm running
/// statistics are not averaged: the raw generator's statistics describe the raw weights' activations,
/// not the averaged weights' ones, so `recalibrateBatchNorm` measures the average's own before it is
/// sampled from (a checkpoint, a sample grid).
public enum GeneratorAverage {
    public static func update(_ average: ImageGenerator, towards generator: ImageGenerator, decay: Float, step: Int) {
        let effective = min(decay, Float(1 + step) / Float(10 + step))
        for (target, source) in zip(average.parameters, generator.parameters) {
            let s = source.value
            s.withUnsafeBufferPointer { from in
                target.value.withUnsafeMutableBufferPointer { to in
                    for index in to.indices { to[index] = effective * to[index] + (1 - effective) * from[index] }
                }
            }
        }
    }

    /// Batches of the standing-statistics pass: with momentum 0.1 the starting values keep a weight
    /// of 0.9^50 ≈ 0.5 % (BigGAN's "standing statistics", Brock et al. 2019).
    static let recalibrationBatches = 50
    static let recalibrationBatchSize = 64

    /// Replaces the generator's batch-norm running statistics with those of its own activations:
    /// training-mode forwards on seeded noise and uniformly drawn classes (as in training), no graph.
    /// Deterministic in `random`, and it draws from no training stream, so `--resume` stays exact.
    public static func recalibrateBatchNorm(_ generator: ImageGenerator, random: inout SeededRandom) {
        let architecture = generator.architecture
        generator.setTraining(true)
        defer { generator.setTraining(false) }
        let required = generator.parameters.first?.requiresGradient ?? false
        generator.setParametersRequireGradient(false)
        defer { generator.setParametersRequireGradient(required) }
        for _ in 0..<recalibrationBatches {
            let noise = Tensor(normalShape: [recalibrationBatchSize, architecture.noiseSize], random: &random)
            let labels = (0..<recalibrationBatchSize).map { _ in random.nextIndex(below: architecture.classCount) }
            _ = generator(noise: noise, labels: labels)
        }
    }
}
