import Foundation

// The two differentiable pieces of a PPO update that no other op composes cheaply: the log-density
// of a diagonal Gaussian policy around a network's output, and the clipped surrogate objective
// (Schulman et al. 2017). Everything else (rollouts, advantages) works on plain numbers.

/// log N(x; μ, σ²I) per row, without the constant −D·log(σ√(2π)) (it cancels in every ratio and
/// difference PPO takes): −Σ_j (x_j − μ_j)² / (2σ²) for each of the B rows of `mean` [B, …].
/// With `perElement` the terms are not summed: the result has `mean`'s shape, one log-density per
/// action dimension (for PPO with a ratio per dimension). Backward: ∂/∂μ = (x − μ) / σ² times the
/// incoming gradient of the row (or element).
public func gaussianLogDensity(mean: Variable, samples: Tensor, standardDeviation: Float, perElement: Bool = false) -> Variable {
    precondition(samples.count == mean.value.count && mean.shape.count >= 1,
                 "gaussianLogDensity: samples \(samples.shape) for mean \(mean.shape)")
    precondition(standardDeviation > 0, "gaussianLogDensity needs σ > 0, got \(standardDeviation)")
    let rows = mean.shape[0], width = mean.value.count / max(rows, 1)
    let inverseVariance = 1 / (standardDeviation * standardDeviation)
    var output = Tensor(uninitializedShape: perElement ? mean.shape : [rows])
    let mu = mean.value.readPointer, x = samples.readPointer, y = output.mutablePointer
    for row in 0..<rows {
        var squares: Double = 0
        for column in 0..<width {
            let difference = x[row * width + column] - mu[row * width + column]
            if perElement { y[row * width + column] = -0.5 * difference * difference * inverseVariance }
            squares += Double(difference * difference)
        }
        if !perElement { y[row] = Float(-0.5 * squares * Double(inverseVariance)) }
    }
    return Variable(output, parents: [mean]) { result in
        let dy = result.gradient!.readPointer, mu = mean.value.readPointer, x = samples.readPointer
        let dmu = mean.gradientForAccumulation()
        for row in 0..<rows {
            let offset = row * width
            if perElement {
                for column in 0..<width {
                    dmu[offset + column] += dy[offset + column] * inverseVariance * (x[offset + column] - mu[offset + column])
                }
            } else {
                let factor = dy[row] * inverseVariance
                for column in 0..<width { dmu[offset + column] += factor * (x[offset + column] - mu[offset + column]) }
            }
        }
    }
}

/// What one clipped-surrogate evaluation reports besides the loss.
public struct SurrogateStatistics: Sendable {
    /// Share of ratios outside [1 − ε, 1 + ε].
    public var clipFraction: Float
    /// mean((r − 1) − log r) per sample: the low-variance estimator of KL(π_old ‖ π) (Schulman's
    /// k3), summed over a sample's ratios when it has one per action dimension.
    public var approximateKL: Float
}

/// PPO's clipped surrogate, negated for minimisation and averaged:
/// −mean(min(r·A, clip(r, 1 − ε, 1 + ε)·A)) with r = exp(log π − log π_old).
/// `logProbabilities` holds one value per sample, or one per action dimension ([B, …] with B
/// advantages): then each dimension has its own ratio and clip, sharing its sample's advantage
/// (factorised PPO, which keeps a trust region meaningful for actions of thousands of dimensions,
/// where one joint ratio would leave [1 − ε, 1 + ε] after the smallest step).
/// The gradient reaches log π only where the unclipped term is the minimum (−r·A / N there).
public func clippedSurrogateLoss(logProbabilities: Variable, oldLogProbabilities: [Float], advantages: [Float],
                                 clipRange: Float) -> (loss: Variable, statistics: SurrogateStatistics) {
    let count = logProbabilities.value.count
    precondition(oldLogProbabilities.count == count && !advantages.isEmpty && count % advantages.count == 0,
                 "clippedSurrogateLoss: \(count) log-probabilities, \(oldLogProbabilities.count) old, \(advantages.count) advantages")
    let perSample = count / advantages.count
    let logp = logProbabilities.value.readPointer
    var ratios = [Float](repeating: 0, count: count)
    var passesGradient = [Bool](repeating: false, count: count)
    var total: Double = 0, clipped = 0, klEstimate: Double = 0
    for index in 0..<count {
        let logRatio = logp[index] - oldLogProbabilities[index]
        let ratio = expf(logRatio)
        let advantage = advantages[index / perSample]
        let clippedRatio = min(max(ratio, 1 - clipRange), 1 + clipRange)
        let unclippedTerm = ratio * advantage, clippedTerm = clippedRatio * advantage
        total += Double(min(unclippedTerm, clippedTerm))
        ratios[index] = ratio
        passesGradient[index] = unclippedTerm <= clippedTerm
        if ratio < 1 - clipRange || ratio > 1 + clipRange { clipped += 1 }
        klEstimate += Double((ratio - 1) - logRatio)
    }
    let loss = Tensor(shape: [], values: [Float(-total / Double(count))])
    let statistics = SurrogateStatistics(clipFraction: Float(clipped) / Float(count),
                                         approximateKL: Float(klEstimate / Double(advantages.count)))
    let variable = Variable(loss, parents: [logProbabilities]) { result in
        let seed = -result.gradient!.scalarValue / Float(count)
        let dx = logProbabilities.gradientForAccumulation()
        for index in 0..<count where passesGradient[index] { dx[index] += seed * ratios[index] * advantages[index / perSample] }
    }
    return (variable, statistics)
}
