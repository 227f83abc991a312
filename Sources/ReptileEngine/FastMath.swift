// An exp that vectorises. libm's expf is an opaque call per element (~3 ns, docs/platform.md §4); this
// is Cephes' expf polynomial with the power of two built from the exponent bits, written with
// selects and wrapping integer ops only, so loops that call it compile to SIMD code.

/// e^x to about 2 ulp for x in [−87, 88]. Below −87 the result is 0 (flushing what would be
/// subnormal, so a masked score of −1e9 gets exactly no weight); above 88 it stays at e^88 ≈ 1.7e38.
@inline(__always)
func fastExponential(_ value: Float) -> Float {
    let clamped = value < -87 ? -87 : (value > 88 ? 88 : value)
    // k = round(x / ln 2) by adding 1.5·2²³: the sum's low mantissa bits are then k itself.
    let magic: Float = 12_582_912
    let shifted = clamped * 1.442_695_04 + magic
    let exponent = Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: magic.bitPattern)
    let whole = shifted - magic
    // r = x − k·ln 2 in two parts, so r keeps its low bits.
    let r = (clamped - whole * 0.693_359_375) + whole * 2.121_944_4e-4
    var polynomial: Float = 1.987_569_15e-4
    polynomial = polynomial * r + 1.398_199_95e-3
    polynomial = polynomial * r + 8.333_451_9e-3
    polynomial = polynomial * r + 4.166_579_59e-2
    polynomial = polynomial * r + 1.666_666_55e-1
    polynomial = polynomial * r + 5.000_000_12e-1
    let expR = polynomial * r * r + r + 1
    // 2^k from the exponent field.
    let power = Float(bitPattern: UInt32(bitPattern: (exponent &+ 127) &<< 23))
    return value < -87 ? 0 : expR * power
}

/// σ(x) = 1 / (1 + e^−x) through fastExponential.
@inline(__always)
func fastSigmoid(_ value: Float) -> Float {
    1 / (1 + fastExponential(-value))
}

// Reductions with several partial results: a plain `total += x[i]` loop cannot vectorise (Float
// addition is not associative, so the compiler keeps the order), and runs at one add per latency.

/// Σ x[i], summed in 16 lanes.
@inline(__always)
func sumOfElements(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD16<Float>()
    var index = 0
    let raw = UnsafeRawPointer(values)
    while index + 16 <= count {
        lanes += raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
        index += 16
    }
    var total = lanes.sum()
    while index < count { total += values[index]; index += 1 }
    return total
}

/// Σ a[i]·b[i], summed in 16 lanes.
@inline(__always)
func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD16<Float>()
    var index = 0
    let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
    while index + 16 <= count {
        lanes += rawA.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
            * rawB.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
        index += 16
    }
    var total = lanes.sum()
    while index < count { total += a[index] * b[index]; index += 1 }
    return total
}

/// max x[i] (−∞ for none), in 16 lanes; `.replacing(with:where:)` rather than `pointwiseMax`,
/// which does not vectorise at the baseline target (docs/platform.md §4).
@inline(__always)
func maximumOfElements(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD16<Float>(repeating: -.infinity)
    var index = 0
    let raw = UnsafeRawPointer(values)
    while index + 16 <= count {
        let chunk = raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
        lanes = lanes.replacing(with: chunk, where: chunk .> lanes)
        index += 16
    }
    var maximum = lanes.max()
    while index < count { maximum = max(maximum, values[index]); index += 1 }
    return maximum
}

/// erf(x) to within 4e-7 absolute: the odd/even rational approximation on [−4, 4] used by Eigen
/// and XLA (beyond ±4, erf is ±1 in Float). libm's erff is an opaque call per element; GELU calls
/// it on every FFN activation of BERT (3M per layer at W5's batch), so it must vectorise.
@inline(__always)
func fastErrorFunction(_ value: Float) -> Float {
    let x = value < -4 ? -4 : (value > 4 ? 4 : value)
    let x2 = x * x
    var numerator: Float = -2.726_142_258_013_06e-10
    numerator = numerator * x2 + 2.770_681_424_959_02e-08
    numerator = numerator * x2 - 2.101_024_020_825_08e-06
    numerator = numerator * x2 - 5.692_506_394_623_46e-05
    numerator = numerator * x2 - 7.349_906_303_268_55e-04
    numerator = numerator * x2 - 2.954_599_808_540_25e-03
    numerator = numerator * x2 - 1.609_603_332_624_15e-02
    var denominator: Float = -1.456_607_184_649_96e-05
    denominator = denominator * x2 - 2.133_740_552_789_05e-04
    denominator = denominator * x2 - 1.682_826_974_382_03e-03
    denominator = denominator * x2 - 7.373_329_167_204_68e-03
    denominator = denominator * x2 - 1.426_473_905_141_89e-02
    return x * numerator / denominator
}
