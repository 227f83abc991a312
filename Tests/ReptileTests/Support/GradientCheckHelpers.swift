import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

/// Finite-difference gradient checking for the engine's ops and layers.
///
/// The scalar under test is L = Σ wᵢ·f(inputs)ᵢ with fixed random weights w, so every output
/// element (and every path through the op) contributes. The analytic gradient comes from
/// `backward(seed: w)`; the numeric one from central differences (L(x+h) − L(x−h)) / 2h, where the
/// op runs in Float and L is summed in Double. Each checked element is compared with a relative
/// error |a − n| / max(|a|, |n|, floor). A backward that is wrong by 5% fails (see
/// `EngineGradientCheckSelfTests`).
struct GradientCheckResult: CustomStringConvertible {
    var worstRelativeError: Double = 0
    var worstInput = -1, worstIndex = -1
    var analytic: Double = 0, numeric: Double = 0
    var checkedElements = 0

    var description: String {
        "worst relative error \(worstRelativeError) at input \(worstInput) element \(worstIndex): "
            + "analytic \(analytic), numeric \(numeric) (\(checkedElements) elements checked)"
    }
}

func gradientCheck(
    _ inputs: [Variable],
    stepSize: Float = 1e-2,
    errorFloor: Double = 1e-2,
    elementsPerInput: Int = 20,
    seed: UInt64 = 99,
    _ function: ([Variable]) -> Variable
) -> GradientCheckResult {
    var random = SeededRandom(seed: seed)
    let firstOutput = function(inputs)
    let weights = Tensor(normalShape: firstOutput.shape, random: &random)

    func weightedSum() -> Double {
        let output = function(inputs).value
        precondition(output.shape == weights.shape, "gradient check: output shape changed to \(output.shape)")
        var total: Double = 0
        for index in 0..<output.count { total += Double(output[flatIndex: index]) * Double(weights[flatIndex: index]) }
        return total
    }

    for input in inputs { input.zeroGradient() }
    firstOutput.backward(seed: weights)

    var result = GradientCheckResult()
    for (inputNumber, input) in inputs.enumerated() {
        let count = input.value.count
        let indices = count <= elementsPerInput
            ? Array(0..<count) : (0..<elementsPerInput).map { _ in random.nextIndex(below: count) }
        for index in indices {
            let original = input.value[flatIndex: index]
            input.value[flatIndex: index] = original + stepSize
            let plus = weightedSum()
            input.value[flatIndex: index] = original - stepSize
            let minus = weightedSum()
            input.value[flatIndex: index] = original
            let numeric = (plus - minus) / (2 * Double(stepSize))
            let analytic = Double(input.gradient.map { $0[flatIndex: index] } ?? 0)
            let error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), errorFloor)
            result.checkedElements += 1
            if error >= result.worstRelativeError {
                result.worstRelativeError = error
                result.worstInput = inputNumber
                result.worstIndex = index
                result.analytic = analytic
                result.numeric = numeric
            }
        }
    }
    return result
}

/// A leaf that wants a gradient, filled with standard normal values.
func randomVariable(_ shape: [Int], seed: UInt64, scale: Float = 1, awayFromZero: Float = 0) -> Variable {
    var random = SeededRandom(seed: seed)
    var tensor = Tensor(normalShape: shape, standardDeviation: scale, random: &random)
    // Kinked functions (ReLU, max-pool) need inputs further than the step size from the kink.
    if awayFromZero > 0 {
        tensor.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices where abs(buffer[index]) < awayFromZero {
                buffer[index] = buffer[index] < 0 ? buffer[index] - awayFromZero : buffer[index] + awayFromZero
            }
        }
    }
    return Variable(tensor, requiresGradient: true)
}

/// Asserts the check passed, printing the worst element when it did not.
func expectGradientsMatch(_ result: GradientCheckResult, tolerance: Double = 2e-2,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.worstRelativeError < tolerance, "\(result)", sourceLocation: sourceLocation)
    #expect(result.checkedElements > 0, sourceLocation: sourceLocation)
}
