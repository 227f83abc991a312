import Foundation
import Testing
import ReptileCore
@testable import ReptileEngine

/// The engine against PyTorch: a tiny fixed network's forward values, loss, running statistics and
/// every gradient, computed once by Tests/Golden/make_golden.py (how to re-run it is written there).
@Suite struct EngineGoldenTests {
    struct Stored: Decodable {
        var shape: [Int]
        var values: [Float]
        var tensor: Tensor { Tensor(shape: shape, values: values) }
    }

    struct Case: Decodable {
        var inputs: [String: Stored]
        var parameters: [String: Stored]
        var forward: [String: Stored]
        var running: [String: Stored]
        var gradients: [String: Stored]
        var loss: Float
        var labels: [Int]?
        var target: Stored?
        var real: Stored?
        var weights: Stored?
        var mask: [[Bool]]?
    }

    struct Golden: Decodable {
        var torchVersion: String
        var cases: [String: Case]

        enum CodingKeys: String, CodingKey {
            case torchVersion = "torch_version", cases
        }
    }

    static let golden: Golden = {
        let url = Support.packageRoot.appendingPathComponent("Tests/Golden/engine-golden.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// Largest difference relative to the tensor's largest magnitude (at least 1).
    static func expectClose(_ actual: Tensor, _ expected: Stored, _ what: String, tolerance: Float = 2e-5,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
        guard actual.count == expected.values.count else { return }
        let scale = max(1, expected.values.map(abs).max() ?? 1)
        var worst: Float = 0
        for index in 0..<actual.count { worst = max(worst, abs(actual[flatIndex: index] - expected.values[index])) }
        #expect(worst / scale <= tolerance, "\(what): worst difference \(worst) (scale \(scale))", sourceLocation: sourceLocation)
    }

    static func variables(_ stored: [String: Stored], gradients: Bool) -> [String: Variable] {
        stored.mapValues { Variable($0.tensor, requiresGradient: gradients) }
            .reduce(into: [:]) { result, pair in
                result[pair.key] = gradients ? Variable(parameter: stored[pair.key]!.tensor, name: pair.key) : pair.value
            }
    }

    static func checkGradients(_ golden: Case, _ all: [String: Variable]) {
        for (name, expected) in golden.gradients {
            guard let variable = all[name], let gradient = variable.gradient else {
                Issue.record("no gradient for \(name)")
                continue
            }
            expectClose(gradient, expected, "gradient of \(name)")
        }
    }

    @Test func classifierPathMatchesPyTorch() throws {
        let golden = try #require(Self.golden.cases["classifier"])
        let parameters = Self.variables(golden.parameters, gradients: true)
        let inputs = Self.variables(golden.inputs, gradients: true)
        let p = parameters
        let statistics = RunningStatistics(channels: 3, momentum: 0.1, name: "norm1")
        let h1 = conv2d(inputs["x"]!, weight: p["conv1.weight"]!, bias: p["conv1.bias"]!, stride: 1, padding: 1)
        let h2 = batchNorm(h1, scale: p["norm1.weight"]!, shift: p["norm1.bias"]!, statistics: statistics, training: true)
        let h3 = leakyRelu(h2, negativeSlope: 0.2)
        let h4 = relu(conv2d(h3, weight: p["conv2.weight"]!, bias: p["conv2.bias"]!, stride: 2, padding: 1))
        let h5 = maxPool2d(h4, kernelSize: 2)
        let h6 = gelu(linear(reshape(h5, [2, 16]), weight: p["fc1.weight"]!, bias: p["fc1.bias"]!))
        let h7 = layerNorm(h6, scale: p["ln.weight"]!, shift: p["ln.bias"]!)
        let logits = linear(h7, weight: p["fc2.weight"]!, bias: p["fc2.bias"]!)
        let loss = crossEntropy(logits: logits, labels: golden.labels!, labelSmoothing: 0.1)
        for (name, value) in [("conv1", h1), ("norm1", h2), ("conv2_relu", h4), ("pool", h5), ("gelu", h6), ("layer_norm", h7), ("logits", logits)] {
            Self.expectClose(value.value, golden.forward[name]!, name)
        }
        #expect(abs(loss.value.scalarValue - golden.loss) <= 1e-5 * max(1, abs(golden.loss)))
        Self.expectClose(statistics.mean.value, golden.running["mean"]!, "running mean")
        Self.expectClose(statistics.variance.value, golden.running["var"]!, "running variance")
        loss.backward()
        Self.checkGradients(golden, parameters.merging(inputs) { first, _ in first })
    }

    @Test func generatorPathMatchesPyTorch() throws {
        let golden = try #require(Self.golden.cases["generator"])
        let parameters = Self.variables(golden.parameters, gradients: true)
        let inputs = Self.variables(golden.inputs, gradients: true)
        let p = parameters
        let statistics = RunningStatistics(channels: 2, momentum: 0.1, name: "norm")
        let g1 = reshape(linear(inputs["z"]!, weight: p["fc.weight"]!, bias: p["fc.bias"]!), [3, 2, 2, 2])
        let g2 = relu(batchNorm(g1, scale: p["norm.weight"]!, shift: p["norm.bias"]!, statistics: statistics, training: true))
        let g3 = tanh(convTranspose2d(g2, weight: p["deconv.weight"]!, bias: p["deconv.bias"]!, stride: 2, padding: 1))
        let head = linear(inputs["z"]!, weight: p["head.weight"]!, bias: p["head.bias"]!)
        let loss = meanSquaredError(g3, targets: golden.target!.tensor) + binaryCrossEntropyWithLogits(logits: head, targets: golden.real!.tensor)
        for (name, value) in [("linear", g1), ("norm_relu", g2), ("image", g3), ("head", head)] {
            Self.expectClose(value.value, golden.forward[name]!, name)
        }
        #expect(abs(loss.value.scalarValue - golden.loss) <= 1e-5 * max(1, abs(golden.loss)))
        Self.expectClose(statistics.mean.value, golden.running["mean"]!, "running mean")
        Self.expectClose(statistics.variance.value, golden.running["var"]!, "running variance")
        loss.backward()
        Self.checkGradients(golden, parameters.merging(inputs) { first, _ in first })
    }

    /// Σ weights ⊙ output, the scalar whose gradients the golden file holds.
    static func weightedSum(_ output: Variable, _ weights: Stored) -> Variable {
        sum(output * Variable(weights.tensor))
    }

    @Test func gruMatchesPyTorch() throws {
        let golden = try #require(Self.golden.cases["gru"])
        let parameters = Self.variables(golden.parameters, gradients: true)
        let inputs = Self.variables(golden.inputs, gradients: true)
        let output = gru(inputs["x"]!, initialState: inputs["h0"]!, weightInput: parameters["weight_ih"]!,
                         weightHidden: parameters["weight_hh"]!, biasInput: parameters["bias_ih"]!, biasHidden: parameters["bias_hh"]!)
        Self.expectClose(output.states.value, golden.forward["states"]!, "states")
        let loss = Self.weightedSum(output.states, golden.weights!)
        #expect(abs(loss.value.scalarValue - golden.loss) <= 1e-5 * max(1, abs(golden.loss)))
        loss.backward()
        Self.checkGradients(golden, parameters.merging(inputs) { first, _ in first })
    }

    @Test func maskedSelfAttentionMatchesPyTorch() throws {
        let golden = try #require(Self.golden.cases["attention"])
        let parameters = Self.variables(golden.parameters, gradients: true)
        let inputs = Self.variables(golden.inputs, gradients: true)
        let p = parameters, x = inputs["x"]!
        func project(_ name: String) -> Variable { linear(x, weight: p["\(name).weight"]!, bias: p["\(name).bias"]!) }
        let context = multiHeadAttention(query: project("query"), key: project("key"), value: project("value"), heads: 2,
                                         mask: golden.mask!.flatMap { $0 })
        let output = linear(context, weight: p["output.weight"]!, bias: p["output.bias"]!)
        Self.expectClose(output.value, golden.forward["output"]!, "attention output")
        let loss = Self.weightedSum(output, golden.weights!)
        #expect(abs(loss.value.scalarValue - golden.loss) <= 1e-5 * max(1, abs(golden.loss)))
        loss.backward()
        Self.checkGradients(golden, parameters.merging(inputs) { first, _ in first })
    }
}
