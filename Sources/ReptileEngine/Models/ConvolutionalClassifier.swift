import ReptileCore

/// The image classifier of workload W4: two conv-conv-pool blocks and a two-layer head.
/// [1, 28, 28] → 32, 32, pool → 64, 64, pool → 3136 → 128 → classCount. Other image sizes and
/// channel counts change only the first convolution and the flattened size (H/4 · W/4 · 64).
public final class ConvolutionalClassifier: Layer {
    let convolutions: [Conv2d]
    let hidden: Linear
    let output: Linear

    public convenience init(inputChannels: Int = 1, imageSize: Int = 28, classCount: Int = 10, name: String = "classifier",
                            random: inout SeededRandom) {
        self.init(inputChannels: inputChannels, imageHeight: imageSize, imageWidth: imageSize, classCount: classCount,
                  name: name, random: &random)
    }

    public init(inputChannels: Int, imageHeight: Int, imageWidth: Int, classCount: Int, name: String = "classifier",
                random: inout SeededRandom) {
        let channels = [(inputChannels, 32), (32, 32), (32, 64), (64, 64)]
        convolutions = channels.enumerated().map { index, pair in
            Conv2d(inputChannels: pair.0, outputChannels: pair.1, kernelSize: 3, padding: 1,
                   name: qualifiedName(name, "conv\(index + 1)"), random: &random)
        }
        hidden = Linear(inputSize: 64 * (imageHeight / 4) * (imageWidth / 4), outputSize: 128, name: qualifiedName(name, "fc1"), random: &random)
        output = Linear(inputSize: 128, outputSize: classCount, name: qualifiedName(name, "fc2"), random: &random)
    }

    public var parameters: [Variable] { convolutions.flatMap(\.parameters) + hidden.parameters + output.parameters }

    /// images [B, C, H, W] → class logits [B, classCount].
    public func callAsFunction(_ images: Variable) -> Variable {
        logits(fromFeatures: features(images))
    }

    /// images [B, C, H, W] → the penultimate layer [B, 128] (after its ReLU): the feature space in
    /// which `reptile evaluate` measures precision, recall, density and coverage.
    public func features(_ images: Variable) -> Variable {
        // Each block's last ReLU comes after its pooling: max and ReLU commute (values and gradients
        // alike), and after the pool it has a quarter of the values to go through.
        var x = relu(maxPool2d(convolutions[1](relu(convolutions[0](images))), kernelSize: 2))
        x = relu(maxPool2d(convolutions[3](relu(convolutions[2](x))), kernelSize: 2))
        return relu(hidden(reshape(x, [images.shape[0], -1])))
    }

    /// Penultimate features [B, 128] → class logits [B, classCount].
    public func logits(fromFeatures features: Variable) -> Variable {
        output(features)
    }
}

/// Cross-entropy training with Adam (lr 1e-3), one step per batch.
public final class ClassifierTrainer {
    public let model: ConvolutionalClassifier
    public let optimizer: Adam

    public init(model: ConvolutionalClassifier, learningRate: Float = 1e-3) {
        self.model = model
        optimizer = Adam(parameters: model.parameters, learningRate: learningRate)
    }

    /// One forward, backward and update; returns the batch loss.
    @discardableResult
    public func step(images: Tensor, labels: [Int]) -> Float {
        optimizer.zeroGradients()
        let loss = crossEntropy(logits: model(Variable(images)), labels: labels)
        loss.backward()
        optimizer.step()
        return loss.value.scalarValue
    }
}
