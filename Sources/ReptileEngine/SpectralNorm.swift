import Foundation
import ReptileCore

// Spectral normalisation (Miyato et al. 2018) as PyTorch's torch.nn.utils.spectral_norm does it:
// the weight, viewed as a matrix [out, everything else], is divided by an estimate of its largest
// singular value σ = uᵀ W v, where u and v are persistent vectors refined by one power iteration
// per training forward. Gradients flow through W / σ(W) with u and v held constant.

/// W / (uᵀ W v) for a weight [out, …] viewed as the matrix [out, in] and constant u [out], v [in].
/// Backward: dW = G / σ − (Σ G ⊙ W) / σ² · u vᵀ, with G the gradient of the output.
public func spectralNormalize(_ weight: Variable, u: Tensor, v: Tensor) -> Variable {
    precondition(weight.shape.count >= 2, "spectralNormalize needs a weight of rank 2 or more, got \(weight.shape)")
    let rows = weight.shape[0], columns = weight.value.count / rows
    precondition(u.count == rows && v.count == columns,
                 "spectralNormalize: u \(u.shape) and v \(v.shape) should have \(rows) and \(columns) elements for weight \(weight.shape)")
    var product = Tensor(uninitializedShape: [rows])
    // W v as a [rows, 1] GEMM.
    matrixMultiply(weight.value.readPointer, v.readPointer, into: product.mutablePointer, rows: rows, columns: 1, inner: columns)
    let uValues = u.readPointer, weightTimesV = product.readPointer
    var sigma: Float = 0
    for row in 0..<rows { sigma += uValues[row] * weightTimesV[row] }
    precondition(sigma != 0, "spectralNormalize: σ = uᵀ W v is 0 for weight \(weight.shape)")
    let inverseSigma = 1 / sigma
    var output = Tensor(uninitializedShape: weight.shape)
    let w = weight.value.readPointer, y = output.mutablePointer
    for index in 0..<output.count { y[index] = w[index] * inverseSigma }

    return Variable(output, parents: [weight]) { result in
        let dy = result.gradient!.readPointer, w = weight.value.readPointer
        let u = u.readPointer, v = v.readPointer, dw = weight.gradientForAccumulation()
        var dot: Float = 0
        for index in 0..<result.value.count { dot += dy[index] * w[index] }
        let correction = dot * inverseSigma * inverseSigma
        for row in 0..<rows {
            let rowCorrection = correction * u[row], offset = row * columns
            for column in 0..<columns {
                dw[offset + column] += dy[offset + column] * inverseSigma - rowCorrection * v[column]
            }
        }
    }
}

/// Spectral normalisation of one weight: buffers `weight_u` [out] and `weight_v` [in] (PyTorch's
/// names), seeded with normalised N(0, 1) draws. In training each call first runs one power
/// iteration (v ← Wᵀu / ‖Wᵀu‖, u ← W v / ‖W v‖); in evaluation u and v stay as they are.
public final class SpectralNorm: Layer {
    public let u: Variable
    public let v: Variable
    public let epsilon: Float
    public private(set) var isTraining = true

    public init(weightShape: [Int], name: String, epsilon: Float = 1e-12, random: inout SeededRandom) {
        precondition(weightShape.count >= 2, "SpectralNorm needs a weight of rank 2 or more, got \(weightShape)")
        let rows = weightShape[0], columns = weightShape.dropFirst().reduce(1, *)
        var uValues = Tensor(normalShape: [rows], random: &random), vValues = Tensor(normalShape: [columns], random: &random)
        SpectralNorm.normalize(uValues.mutablePointer, count: rows, epsilon: epsilon)
        SpectralNorm.normalize(vValues.mutablePointer, count: columns, epsilon: epsilon)
        u = Variable(uValues, name: qualifiedName(name, "weight_u"))
        v = Variable(vValues, name: qualifiedName(name, "weight_v"))
        self.epsilon = epsilon
    }

    public var parameters: [Variable] { [] }
    public var buffers: [Variable] { [u, v] }
    public func setTraining(_ training: Bool) { isTraining = training }

    /// The weight divided by its estimated largest singular value.
    public func callAsFunction(_ weight: Variable) -> Variable {
        if isTraining { powerIteration(weight.value) }
        return spectralNormalize(weight, u: u.value, v: v.value)
    }

    /// One step of the power method on the weight matrix, updating u and v in place.
    public func powerIteration(_ weight: Tensor) {
        let rows = u.value.count, columns = v.value.count
        precondition(weight.count == rows * columns,
                     "SpectralNorm: weight \(weight.shape) does not match u [\(rows)] and v [\(columns)]")
        let w = weight.readPointer, uValues = u.value.mutablePointer, vValues = v.value.mutablePointer
        // v = Wᵀ u as [columns, 1] = Wᵀ [columns, rows] · u [rows, 1], then u = W v.
        matrixMultiply(w, transposeA: true, uValues, into: vValues, rows: columns, columns: 1, inner: rows)
        SpectralNorm.normalize(vValues, count: columns, epsilon: epsilon)
        matrixMultiply(w, vValues, into: uValues, rows: rows, columns: 1, inner: columns)
        SpectralNorm.normalize(uValues, count: rows, epsilon: epsilon)
    }

    /// x / max(‖x‖, ε), as torch.nn.functional.normalize.
    private static func normalize(_ values: UnsafeMutablePointer<Float>, count: Int, epsilon: Float) {
        var squares: Float = 0
        for index in 0..<count { squares += values[index] * values[index] }
        let inverseNorm = 1 / max(fastSquareRoot(squares), epsilon)
        for index in 0..<count { values[index] *= inverseNorm }
    }
}
