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
    argmax.withUnsafeMutableBufferPointer { positions in
        for plane in 0..<planes {
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
    let outputPlane = outputHeight * outputWidth
    return Variable(output, parents: [input]) { result in
        let dy = result.gradient!.readPointer, dx = input.gradientForAccumulation()
        argmax.withUnsafeBufferPointer { positions in
            for plane in 0..<planes {
                let destination = dx + plane * height * width
                for index in (plane * outputPlane)..<((plane + 1) * outputPlane) {
                    destination[Int(positions[index])] += dy[index]
                }
            }
        }
    }
}
