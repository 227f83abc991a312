import Foundation
import ReptileCore

/// A layer or a model: it lists its parameters (named, in a stable order) and switches between
/// training and evaluation behaviour (batch-norm statistics, dropout). No reflection: each layer
/// lists what it owns, as micrograd's `parameters()` does.
public protocol Layer: AnyObject {
    var parameters: [Variable] { get }
    /// State that is saved with the parameters but not trained (batch-norm running statistics).
    var buffers: [Variable] { get }
    /// Training mode by default; evaluation freezes batch-norm statistics and turns dropout off.
    func setTraining(_ training: Bool)
}

extension Layer {
    public func setTraining(_ training: Bool) {}
    public var buffers: [Variable] { [] }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Stops (or restarts) gradients to this layer's parameters; ops then skip their weight
    /// gradients, while gradients still flow through the layer to its inputs.
    public func setParametersRequireGradient(_ required: Bool) {
        for parameter in parameters { parameter.requiresGradient = required }
    }

    /// Zeroes every parameter gradient, keeping the buffers for the next step.
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }
}

/// Joins a parent name and a child name with a dot: `generator` + `deconv1` → `generator.deconv1`.
func qualifiedName(_ prefix: String, _ child: String) -> String {
    prefix.isEmpty ? child : "\(prefix).\(child)"
}

/// A parameter drawn uniformly from [−bound, bound]: PyTorch's default for linear and
/// convolution layers uses bound = 1/√fanIn for both weights and biases.
func uniformParameter(_ shape: [Int], bound: Float, name: String, random: inout SeededRandom) -> Variable {
    Variable(parameter: Tensor(uniformShape: shape, in: -bound...bound, random: &random), name: name)
}
