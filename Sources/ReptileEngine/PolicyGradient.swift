import Foundation

// The two differentiable pieces of a PPO update that no other op composes cheaply: the log-density
// of a diagonal Gaussian policy around a network's output, and the clipped surrogate objective
// (Schulman et al. 2017). Everything else (rollouts, advantages) works on plain numbers.

/// log N(x; μ, σ²I) per row, without the constant −D·log(σ√(2π)) (it cancels in every ratio and
/// difference PPO takes): −Σ_j (x_j − μ_j)² / (2σ²) for each of the B rows of `mean` [B, …].
/// Backward: ∂/∂μ = (x − μ) / σ² times the row's incoming gradient.
public func gaussianLogDensity(mean: Variable, samples: Tensor, standardDeviation: Float) -> Variable {
    precondition(samples.count == mean.value.count && mean.shape.count >= 1,
                 "gaussianLogDensity: samples \(samples.shape) for mean \(mean.shape)")
    precondition(standardDeviation > 0, "gaussianLogDensity needs σ > 0, got \(standardDeviation)")
    let rows = mean.shape[0], width = mean.value.count / max(rows, 1)
    let inverseVariance = 1 / (standardDeviation * standardDeviation)
    var output = Tensor(uninitializedShape: [rows])
    let mu = mean.value.readPointer, x = samples.readPointer, y = output.mutablePointer
    for row in 0..<rows {
        var squares: Double = 0
        for column in 0..<width {
            let difference = x[row * width + column] - mu[row * width + column]
            squares += Double(difference * difference)
        }
        y[row] = Float(-0.5 * squares * Double(inverseVariance))
    }
    return Variable(output, parents: [mean]) { result in
        let dy = result.gradient!.readPointer, mu = mean.value.readPointer, x = samples.readPointer
        let dmu = mean.gradientForAccumulation()
        for row in 0..<rows {
            let factor = dy[row] * inverseVariance, offset = row * width
            for column in 0..<width { dmu[offset + column] += factor * (x[offset + column] - mu[offset + column]) }
        }
    }
}

/// What one clipped-surrogate evaluation reports besides the loss.
public struct SurrogateStatistics: Sendable {
    /// Share of samples whose ratio lies outside [1 − ε, 1 + ε].
    public var clipFraction: Float
    /// mean((r − 1) − log r): the low-variance estimator of KL(π_old ‖ π) (Schulman's k3).
    public var approximateKL: Float
}

/// PPO's clipped surrogate, negated for minimisation and averaged over the batch:
/// −mean(min(r·A, clip(r, 1 − ε, 1 + ε)·A)) with r = exp(log π − log π_old).
/// The gradient reaches log π only where the unclipped term is the minimum (−r·A / B there).
public func clippedSurrogateLoss(logProbabilities: Variable, oldLogProbabilities: [Float], advantages: [Float],
                                 clipRange: Float) -> (loss: Variable, statistics: SurrogateStatistics) {
    let count = logProbabilities.value.count
    precondition(oldLogProbabilities.count == count && advantages.count == count && count > 0,
                 "clippedSurrogateLoss: \(count) log-probabilities, \(oldLogProbabilities.count) old, \(advantages.count) advantages")
    let logp = logProbabilities.value.readPointer
    var ratios = [Float](repeating: 0, count: count)
    var passesGradient = [Bool](repeating: false, count: count)
    var total: Double = 0, clipped = 0, klEstimate: Double = 0
    for index in 0..<count {
        let logRatio = logp[index] - oldLogProbabilities[index]
        let ratio = expf(logRatio)
        let advantage = advantages[index]
        let clippedRatio = min(max(ratio, 1 - clipRange), 1 + clipRange)
        let unclippedTerm = ratio * advantage, clippedTerm = clippedRatio * advantage
        total += Double(min(unclippedTerm, clippedTerm))
        ratios[index] = ratio
        passesGradient[index] = unclippedTerm <= clippedTerm
        if ratio < 1 - clipRange || ratio > 1 + clipRange { clipped += 1 }
        klEstimate += Double((ratio - 1) - logRatio)
    }
    let loss = Tensor(shape: [], values: [Float(-total / Double(count))])
    let statistics = SurrogateStatistics(clipFraction: Float(clipped) / Float(count), approximateKL: Float(klEstimate / Double(count)))
    let variable = Variable(loss, parents: [logProbabilities]) { result in
        let seed = -result.gradient!.scalarValue / Float(count)
        let dx = logProbabilities.gradientForAccumulation()
        for index in 0..<count where passesGradient[index] { dx[index] += seed * ratios[index] * advantages[index] }
    }
    return (variable, statistics)
}
