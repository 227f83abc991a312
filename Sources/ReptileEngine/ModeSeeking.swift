import Foundation

// The mode-seeking regulariser of MSGAN (Mao et al. 2019, "Mode Seeking Generative Adversarial
// Networks for Diverse Image Synthesis"): a conditional generator tends to ignore its noise and
// give every z of a class nearly the same image. Asking it to keep the distance between two images
// of the same class large relative to the distance between their noise vectors counters that.

/// 1 / (mean|x₁ − x₂| / mean|z₁ − z₂| + ε) over the pairs (row i, row i + B/2) of `outputs`
/// [B, …] and `noise` [B, …]: the first half of the batch pairs with the second (same classes).
/// Small when paired outputs differ as much as their noise; minimising it spreads the outputs.
/// Backward: ∂L/∂x₁ = −L² · sign(x₁ − x₂) / (n · mean|z₁ − z₂|), and the opposite for x₂.
public func modeSeekingLoss(outputs: Variable, noise: Tensor, epsilon: Float = 1e-5) -> Variable {
    let batch = outputs.shape[0]
    precondition(batch >= 2 && batch % 2 == 0 && noise.shape[0] == batch,
                 "modeSeekingLoss needs an even batch of outputs and noise, got \(outputs.shape) and \(noise.shape)")
    let half = batch / 2
    let outputWidth = outputs.value.count / batch, noiseWidth = noise.count / batch
    let outputCount = half * outputWidth

    func meanAbsoluteDifference(_ values: UnsafePointer<Float>, width: Int) -> Double {
        var total: Double = 0
        for index in 0..<(half * width) { total += Double(abs(values[index] - values[index + half * width])) }
        return total / Double(half * width)
    }
    let outputDistance = meanAbsoluteDifference(outputs.value.readPointer, width: outputWidth)
    let noiseDistance = max(meanAbsoluteDifference(noise.readPointer, width: noiseWidth), 1e-12)
    let loss = Float(1 / (outputDistance / noiseDistance + Double(epsilon)))

    return Variable(Tensor(shape: [], values: [loss]), parents: [outputs]) { result in
        let seed = result.gradient!.scalarValue
        let factor = -seed * loss * loss / Float(Double(outputCount) * noiseDistance)
        let x = outputs.value.readPointer, dx = outputs.gradientForAccumulation()
        for index in 0..<outputCount {
            let difference = x[index] - x[index + outputCount]
            let signed = difference > 0 ? factor : (difference < 0 ? -factor : 0)
            dx[index] += signed
            dx[index + outputCount] -= signed
        }
    }
}
