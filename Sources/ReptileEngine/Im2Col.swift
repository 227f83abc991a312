// im2col / col2im for convolutions over a whole batch, and the [B, C, L] ↔ [C, B·L] permutes
// around the one GEMM per layer (PLATFORM.md §5, layout A).
//
// Legend: B batch, C channels, H×W image, KH×KW kernel, OH×OW output positions, L = OH·OW.
// The column matrix is [C·KH·KW, B·L]: row (c, ky, kx), column (b, oy, ox).

/// The sliding-window geometry of a convolution over an image of `channels × height × width`.
struct ConvolutionGeometry: Equatable {
    var channels: Int, height: Int, width: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideHeight: Int, strideWidth: Int
    var paddingHeight: Int, paddingWidth: Int

    var outputHeight: Int { (height + 2 * paddingHeight - kernelHeight) / strideHeight + 1 }
    var outputWidth: Int { (width + 2 * paddingWidth - kernelWidth) / strideWidth + 1 }
    var outputPositions: Int { outputHeight * outputWidth }
    var columnRows: Int { channels * kernelHeight * kernelWidth }
    var imageSize: Int { channels * height * width }

    func validate(operation: String, inputShape: [Int]) {
        precondition(kernelHeight > 0 && kernelWidth > 0 && strideHeight > 0 && strideWidth > 0
                     && paddingHeight >= 0 && paddingWidth >= 0,
                     "\(operation): kernel \(kernelHeight)×\(kernelWidth), stride \(strideHeight)×\(strideWidth), padding \(paddingHeight)×\(paddingWidth) are not valid for input \(inputShape)")
        precondition(height + 2 * paddingHeight >= kernelHeight && width + 2 * paddingWidth >= kernelWidth,
                     "\(operation): kernel \(kernelHeight)×\(kernelWidth) is larger than the padded input \(inputShape)")
    }

    /// The output columns ox whose input column ox·stride − padding + kx lies inside the image.
    @inline(__always)
    func validOutputColumns(kernelColumn kx: Int) -> Range<Int> {
        let offset = kx - paddingWidth
        // First ox with ox·s + offset ≥ 0, and first with ox·s + offset ≥ width.
        let first = offset >= 0 ? 0 : (-offset + strideWidth - 1) / strideWidth
        let end = width - offset <= 0 ? 0 : (width - offset + strideWidth - 1) / strideWidth
        return min(first, outputWidth)..<max(min(end, outputWidth), min(first, outputWidth))
    }
}

/// Fills `columns` [C·KH·KW, B·L] from `images` [B, C, H, W].
func imageToColumns(_ images: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                    into columns: UnsafeMutablePointer<Float>) {
    let positions = g.outputPositions, rowLength = batch * positions
    for channel in 0..<g.channels {
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let row = (channel * g.kernelHeight + ky) * g.kernelWidth + kx
                let valid = g.validOutputColumns(kernelColumn: kx)
                for image in 0..<batch {
                    let source = images + (image * g.channels + channel) * g.height * g.width
                    for oy in 0..<g.outputHeight {
                        let destination = columns + row * rowLength + image * positions + oy * g.outputWidth
                        let iy = oy * g.strideHeight - g.paddingHeight + ky
                        guard iy >= 0 && iy < g.height else {
                            destination.update(repeating: 0, count: g.outputWidth)
                            continue
                        }
                        let sourceRow = source + iy * g.width + kx - g.paddingWidth
                        for ox in 0..<valid.lowerBound { destination[ox] = 0 }
                        if g.strideWidth == 1 {
                            for ox in valid { destination[ox] = sourceRow[ox] }
                        } else {
                            for ox in valid { destination[ox] = sourceRow[ox * g.strideWidth] }
                        }
                        for ox in valid.upperBound..<g.outputWidth { destination[ox] = 0 }
                    }
                }
            }
        }
    }
}

/// Adds `columns` [C·KH·KW, B·L] back into `images` [B, C, H, W] (the adjoint of imageToColumns).
func addColumnsToImage(_ columns: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                       into images: UnsafeMutablePointer<Float>) {
    let positions = g.outputPositions, rowLength = batch * positions
    for channel in 0..<g.channels {
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let row = (channel * g.kernelHeight + ky) * g.kernelWidth + kx
                let valid = g.validOutputColumns(kernelColumn: kx)
                for image in 0..<batch {
                    let destination = images + (image * g.channels + channel) * g.height * g.width
                    for oy in 0..<g.outputHeight {
                        let iy = oy * g.strideHeight - g.paddingHeight + ky
                        guard iy >= 0 && iy < g.height else { continue }
                        let source = columns + row * rowLength + image * positions + oy * g.outputWidth
                        let destinationRow = destination + iy * g.width + kx - g.paddingWidth
                        for ox in valid { destinationRow[ox * g.strideWidth] += source[ox] }
                    }
                }
            }
        }
    }
}

/// [outer, middle, inner] → [middle, outer, inner]; with outer = B, middle = C, inner = L this turns
/// a batch of feature maps into the channel-major matrix a GEMM produces or consumes, and back.
func swapLeadingAxes(_ source: UnsafePointer<Float>, outer: Int, middle: Int, inner: Int,
                     into destination: UnsafeMutablePointer<Float>) {
    for outerIndex in 0..<outer {
        for middleIndex in 0..<middle {
            (destination + (middleIndex * outer + outerIndex) * inner)
                .update(from: source + (outerIndex * middle + middleIndex) * inner, count: inner)
        }
    }
}
