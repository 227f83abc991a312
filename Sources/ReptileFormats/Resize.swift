/// Resampling as Pillow's `Image.resize((width, height), Image.BILINEAR)` does it.
///
/// A port of Pillow's libImaging/Resample.c for 8-bit images: a triangle filter whose support widens
/// by the scale factor when shrinking (so it averages, i.e. antialiases), coefficients normalised to
/// sum 1 and then fixed to 22-bit integers, a horizontal and a vertical pass (in Pillow's order), each
/// rounded and clipped to 8 bits. Pillow computes the coefficients in double precision the same way,
/// so the result is identical to Pillow 13's, not just close.
public func resized(_ image: PixelImage, width: Int, height: Int) -> PixelImage {
    precondition(width > 0 && height > 0, "resized needs a positive size, got \(width)×\(height)")
    precondition(image.width > 0 && image.height > 0, "cannot resize an empty image")
    // Pillow returns a copy when the size does not change.
    if width == image.width && height == image.height { return image }

    // Each pass rounds to 8 bits, so the order of the passes shows in the result. Pillow 13 runs the
    // vertical pass first when the height shrinks by more than twice as many pixels as the width does
    // (Pillow pull request 9549, found to hold exactly by comparison); earlier Pillows always go
    // horizontal first, which differs from this by at most 1 in those cases.
    let heightShrinks = height < image.height
    let verticalFirst = heightShrinks && (image.height - height) > 2 * (image.width - width)

    var result = image
    if verticalFirst {
        result = resampleVertically(result, with: ResamplingCoefficients(inputSize: image.height, outputSize: height))
        if width != image.width {
            result = resampleHorizontally(result, with: ResamplingCoefficients(inputSize: image.width, outputSize: width))
        }
        return result
    }
    if width != image.width {
        result = resampleHorizontally(result, with: ResamplingCoefficients(inputSize: image.width, outputSize: width))
    }
    if height != image.height {
        result = resampleVertically(result, with: ResamplingCoefficients(inputSize: image.height, outputSize: height))
    }
    return result
}

/// Fixed-point precision of the coefficients: 32 bits minus 8 for the pixel value and 2 for headroom.
private let precisionBits = 32 - 8 - 2

/// For each output position: the first input position it reads, and one integer weight per input read.
private struct ResamplingCoefficients {
    var firstInput: [Int] = []
    var weights: [[Int]] = []

    /// Pillow's `precompute_coeffs` with the bilinear (triangle, support 1) filter, then
    /// `normalize_coeffs_8bpc`.
    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        // Shrinking widens the filter so every input pixel contributes.
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        let inverseFilterScale = 1.0 / filterScale

        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            // Int(_:) truncates toward zero like C's (int) cast, which Pillow's rounding relies on.
            let first = max(Int(center - support + 0.5), 0)
            let last = min(Int(center + support + 0.5), inputSize)
            var exact: [Double] = []
            var total = 0.0
            for input in first..<max(last, first) {
                let weight = triangle((Double(input) - center + 0.5) * inverseFilterScale)
                exact.append(weight)
                total += weight
            }
            if total != 0 {
                exact = exact.map { $0 / total }
            }
            firstInput.append(first)
            weights.append(exact.map { weight in
                let scaled = weight * Double(1 << precisionBits)
                return weight < 0 ? Int(-0.5 + scaled) : Int(0.5 + scaled)
            })
        }
    }

    private func triangle(_ position: Double) -> Double {
        let distance = abs(position)
        return distance < 1.0 ? 1.0 - distance : 0.0
    }
}

/// Pillow's `clip8`: drop the fixed-point fraction (the rounding half was added up front), clamp to 0...255.
@inline(__always)
private func clippedToByte(_ sum: Int) -> UInt8 {
    if sum >= (1 << precisionBits) << 8 { return 255 }
    if sum <= 0 { return 0 }
    return UInt8(sum >> precisionBits)
}

private func resampleHorizontally(_ image: PixelImage, with coefficients: ResamplingCoefficients) -> PixelImage {
    let outputWidth = coefficients.weights.count
    let channels = image.channels
    var pixels = [UInt8](repeating: 0, count: outputWidth * image.height * channels)
    for row in 0..<image.height {
        let inputRowStart = row * image.width * channels
        let outputRowStart = row * outputWidth * channels
        for column in 0..<outputWidth {
            let first = coefficients.firstInput[column]
            let weights = coefficients.weights[column]
            for channel in 0..<channels {
                var sum = 1 << (precisionBits - 1)
                for (offset, weight) in weights.enumerated() {
                    sum += Int(image.pixels[inputRowStart + (first + offset) * channels + channel]) * weight
                }
                pixels[outputRowStart + column * channels + channel] = clippedToByte(sum)
            }
        }
    }
    return PixelImage(width: outputWidth, height: image.height, channels: channels, pixels: pixels)
}

private func resampleVertically(_ image: PixelImage, with coefficients: ResamplingCoefficients) -> PixelImage {
    let outputHeight = coefficients.weights.count
    let rowLength = image.width * image.channels
    var pixels = [UInt8](repeating: 0, count: outputHeight * rowLength)
    for row in 0..<outputHeight {
        let first = coefficients.firstInput[row]
        let weights = coefficients.weights[row]
        for position in 0..<rowLength {
            var sum = 1 << (precisionBits - 1)
            for (offset, weight) in weights.enumerated() {
                sum += Int(image.pixels[(first + offset) * rowLength + position]) * weight
            }
            pixels[row * rowLength + position] = clippedToByte(sum)
        }
    }
    return PixelImage(width: image.width, height: outputHeight, channels: image.channels, pixels: pixels)
}
