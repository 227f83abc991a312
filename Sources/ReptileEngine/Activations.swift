import Foundation

// Pointwise activations. Backward reads the cached output where the derivative is a function of
// it (tanh, sigmoid), and the input otherwise.

/// Pointwise loops over tensors of conv-layer size are memory-bound: split over the engine's
/// threads only from this many elements per thread (docs/platform.md §4).
let pointwiseElementsPerWorker = 1 << 19

/// Loops that spend their time computing (exp, erf) pay for a thread from fewer elements (docs/platform.md §4: 250K).
let computeBoundElementsPerWorker = 1 << 18

public func relu(_ input: Variable) -> Variable {
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    forEachRange(count: output.count, minimumPerWorker: pointwiseElementsPerWorker) { range in
        for index in range { y[index] = x[index] > 0 ? x[index] : 0 }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, y = result.value.readPointer
        let (dx, overwrite) = input.gradientForWriting()
        // Load dy unconditionally: a load inside the select would block vectorisation.
        forEachRange(count: result.value.count, minimumPerWorker: pointwiseElementsPerWorker) { range in
            if overwrite {
                for index in range {
                    let gradient = dy[index]
                    dx[index] = y[index] > 0 ? gradient : 0
                }
            } else {
                for index in range {
                    let gradient = dy[index]
                    dx[index] += y[index] > 0 ? gradient : 0
                }
            }
        }
    }
}

/// max(x, 0) + negativeSlope · min(x, 0), as in the DCGAN discriminator (slope 0.2).
public func leakyRelu(_ input: Variable, negativeSlope: Float = 0.01) -> Variable {
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    forEachRange(count: output.count, minimumPerWorker: pointwiseElementsPerWorker) { range in
        for index in range { y[index] = x[index] > 0 ? x[index] : x[index] * negativeSlope }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer
        let (dx, overwrite) = input.gradientForWriting()
        forEachRange(count: result.value.count, minimumPerWorker: pointwiseElementsPerWorker) { range in
            if overwrite {
                for index in range {
                    let gradient = dy[index]
                    dx[index] = x[index] > 0 ? gradient : gradient * negativeSlope
                }
            } else {
                for index in range {
                    let gradient = dy[index]
                    dx[index] += x[index] > 0 ? gradient : gradient * negativeSlope
                }
            }
        }
    }
}

public func tanh(_ input: Variable) -> Variable {
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    // tanh(x) = 2σ(2x) − 1: one expf instead of libm's tanhf, which costs 11 ns/element (docs/platform.md §4).
    // Clamping keeps expf finite; |x| > 20 is ±1 in Float anyway.
    forEachRange(count: output.count, minimumPerWorker: computeBoundElementsPerWorker) { range in
        for index in range {
            let clamped = min(max(x[index], -20), 20)
            y[index] = 2 / (1 + expf(-2 * clamped)) - 1
        }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, y = result.value.readPointer
        let dx = input.gradientForAccumulation()
        for index in 0..<result.value.count { dx[index] += dy[index] * (1 - y[index] * y[index]) }
    }
}

public func sigmoid(_ input: Variable) -> Variable {
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    forEachRange(count: output.count, minimumPerWorker: computeBoundElementsPerWorker) { range in
        for index in range { y[index] = 1 / (1 + expf(-x[index])) }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, y = result.value.readPointer
        let dx = input.gradientForAccumulation()
        for index in 0..<result.value.count { dx[index] += dy[index] * y[index] * (1 - y[index]) }
    }
}

/// GELU in the exact erf form used by BERT: x · Φ(x) = x · ½(1 + erf(x / √2)), with erf and exp
/// in vectorising forms (FastMath.swift) accurate to a few 1e-7.
public func gelu(_ input: Variable) -> Variable {
    var output = Tensor(uninitializedShape: input.shape)
    let x = input.value.readPointer, y = output.mutablePointer
    let inverseSquareRootTwo: Float = 0.70710678118654752
    forEachRange(count: output.count, minimumPerWorker: computeBoundElementsPerWorker) { range in
        for index in range { y[index] = x[index] * 0.5 * (1 + fastErrorFunction(x[index] * inverseSquareRootTwo)) }
    }
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer
        let dx = input.gradientForAccumulation()
        // d/dx [x Φ(x)] = Φ(x) + x φ(x), with φ the standard normal density.
        let inverseSquareRootTwoPi: Float = 0.39894228040143268
        forEachRange(count: result.value.count, minimumPerWorker: computeBoundElementsPerWorker) { range in
            for index in range {
                let value = x[index]
                let cumulative = 0.5 * (1 + fastErrorFunction(value * inverseSquareRootTwo))
                let density = inverseSquareRootTwoPi * fastExponential(-0.5 * value * value)
                dx[index] += dy[index] * (cumulative + value * density)
            }
        }
    }
}
