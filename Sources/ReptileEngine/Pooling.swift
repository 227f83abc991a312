/// Max-pooling over windows of kernelSize × kernelSize: input [B, C, H, W] → [B, C, OH, OW] with
/// OH = (H − kernelSize) / stride + 1 (stride defaults to the kernel size). Forward keeps the
/// position of each window's maximum; backward sends the gradient there.
public func maxPool2d(_ input: Variable, kernelSize: Int, stride: Int? = nil) -> Variable {
    let stride = stride ?? kernelSize
    precondition(input.shape.count == 4, "maxPool2d needs input [B, C, H, W], got \(input.shape)")
    let planes = input.shape[0] * input.shape[1], height = input.shape[2], width = input.shape[3]
    precondition(kernelSize > 0 && stride > 0 && height >= kernelSize && width >= kernelSize,
                 "maxPool2d: kernel \(kernelSize), stride \(stride) do not fit input \(input.shape)")
    let outputHeight = (height - kernelSize) / stride + 1, outputWidth = (width - kernelSize) / stride + 1
    var output = Tensor(uninitializedShape: [input.shape[0], input.shape[1], outputHeight, outputWidth])
    // Index of each maximum within its plane (H·W fits Int32 for any image we train on).
    var argmax = [Int32](repeating: 0, count: output.count)
    let x = input.value.readPointer, y = output.mutablePointer
    // Planes are independent: split among the engine's threads when large enough (same results).
    let planesPerWorker = max(1, pointwiseElementsPerWorker / (height * width))
    argmax.withUnsafeMutableBufferPointer { positions in
        let positions = positions.baseAddress!
        forEachRange(count: planes, minimumPerWorker: planesPerWorker) { planeRange in
            if kernelSize == 2 && stride == 2 {
                // The classifier's pooling: four loads per output, no inner loops (same choices as
                // below: the first of equal maxima in row order).
                maxPool2x2(x, into: y, positions: positions, planes: planeRange, height: height, width: width)
                return
            }
            maxPoolWindows(x, into: y, positions: positions, planes: planeRange, height: height, width: width,
                           kernelSize: kernelSize, stride: stride)
        }
    }
    let outputPlane = outputHeight * outputWidth
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        argmax.withUnsafeBufferPointer { positions in
            forEachRange(count: planes, minimumPerWorker: planesPerWorker) { planeRange in
                for plane in planeRange {
                    let destination = dx + plane * height * width
                    for index in (plane * outputPlane)..<((plane + 1) * outputPlane) {
                        destination[Int(positions[index])] += dy[index]
                    }
                }
            }
        }
    }
}

/// Any window size and stride: y and the in-plane index of each window's maximum (the first of
/// equal maxima in row order).
private func maxPoolWindows(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, positions: UnsafeMutablePointer<Int32>,
                            planes: Range<Int>, height: Int, width: Int, kernelSize: Int, stride: Int) {
    let outputHeight = (height - kernelSize) / stride + 1, outputWidth = (width - kernelSize) / stride + 1
    for plane in planes {
        let source = x + plane * height * width
        for oy in 0..<outputHeight {
            for ox in 0..<outputWidth {
                var best = -Float.infinity, bestIndex = 0
                for ky in 0..<kernelSize {
                    let rowStart = (oy * stride + ky) * width + ox * stride
                    for kx in 0..<kernelSize where source[rowStart + kx] > best {
                        best = source[rowStart + kx]
                        bestIndex = rowStart + kx
                    }
                }
                let outputIndex = (plane * outputHeight + oy) * outputWidth + ox
                y[outputIndex] = best
                positions[outputIndex] = Int32(bestIndex)
            }
        }
    }
}

/// 2×2 windows with stride 2: y and the in-plane index of each window's maximum (strict >, so the
/// first maximum in row order wins, as in the general loop).
private func maxPool2x2(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, positions: UnsafeMutablePointer<Int32>,
                        planes: Range<Int>, height: Int, width: Int) {
    let outputHeight = height / 2, outputWidth = width / 2
    for plane in planes {
        let source = x + plane * height * width
        for oy in 0..<outputHeight {
            let top = source + 2 * oy * width, bottom = top + width
            let outputRow = (plane * outputHeight + oy) * outputWidth
            let topIndex = Int32(2 * oy * width), bottomIndex = topIndex + Int32(width)
            for ox in 0..<outputWidth {
                var best = -Float.infinity, bestIndex: Int32 = 0
                let a = top[2 * ox], b = top[2 * ox + 1], c = bottom[2 * ox], d = bottom[2 * ox + 1]
                if a > best { best = a; bestIndex = topIndex + Int32(2 * ox) }
                if b > best { best = b; bestIndex = topIndex + Int32(2 * ox + 1) }
                if c > best { best = c; bestIndex = bottomIndex + Int32(2 * ox) }
                if d > best { best = d; bestIndex = bottomIndex + Int32(2 * ox + 1) }
                y[outputRow + ox] = best
                positions[outputRow + ox] = bestIndex
            }
        }
    }
}
