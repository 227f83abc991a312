// 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2015): each 2×2 block of outputs comes from a 4×4
// input tile with 16 multiplies per (input, output) channel pair instead of im2col's 36. The 16
// products are 16 GEMMs [O, C] · [C, tiles], as fast per flop on this machine as im2col's one
// [O, 9·C] · [9·C, positions] (measured with OpenBLAS: 52 against 54 GFLOP/s for W4's second
// layer), so the 2.25× fewer multiplies are nearly all gained.
//
// With d a 4×4 input tile, g a 3×3 kernel and the constant matrices Bᵀ, G, Aᵀ below:
//   U = G g Gᵀ (per kernel), V = Bᵀ d B (per tile and input channel),
//   M[ξ] = Σ_c U[ξ][o, c] · V[ξ][c, tile] for each of the 16 positions ξ of the 4×4 transform,
//   y = Aᵀ M A (2×2 outputs per tile).
// Backward is the exact adjoint of those steps: dM = A dy Aᵀ, dU[ξ] = dM[ξ] · V[ξ]ᵀ with
// dg = Gᵀ dU G, and dV[ξ] = U[ξ]ᵀ · dM[ξ] with dd = B dV Bᵀ added back onto the (overlapping)
// input tiles. So the gradients are those of the values this path computes, and the weight
// gradient costs 2.25× fewer multiplies too.
//
//   Bᵀ = | 1  0 −1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 −1 −1 |
//        | 0 −1  1  0 |        | ½   −½    ½  |
//        | 0  1  0 −1 |        | 0    0    1  |
//
// Layouts: U [16, O, C]; V and dV [16, C, T]; M and dM [16, O, T], with T the tiles of a chunk of
// images, numbered (image, tile row, tile column).

/// When `conv2d` takes the Winograd path: 3×3 kernels, stride 1, and enough input channels for the
/// GEMMs to be worth splitting 16 ways (a first layer on 1 or 3 channels stays on im2col).
public enum WinogradConvolution {
    public enum Policy: Sendable { case automatic, always, never }
    /// Tests set `.never` to compare with im2col, `.always` to run small channel counts through it.
    @TaskLocal public static var policy: Policy = .automatic
    static let minimumInputChannels = 8

    static func applies(to geometry: ConvolutionGeometry) -> Bool {
        guard geometry.kernelHeight == 3, geometry.kernelWidth == 3,
              geometry.strideHeight == 1, geometry.strideWidth == 1 else { return false }
        switch policy {
        case .never: return false
        case .always: return true
        case .automatic: return geometry.channels >= minimumInputChannels
        }
    }
}

/// The tiling of one image plane: tiles of 2×2 outputs, read from 4×4 windows of a zero-bordered copy
/// of the plane (border `padding`, widened on the bottom and right to whole tiles).
private struct WinogradTiling {
    let height: Int, width: Int, padding: Int
    let outputHeight: Int, outputWidth: Int
    let tileRows: Int, tileColumns: Int
    let paddedHeight: Int, paddedWidth: Int

    init(_ g: ConvolutionGeometry) {
        height = g.height
        width = g.width
        padding = g.paddingHeight
        outputHeight = g.outputHeight
        outputWidth = g.outputWidth
        tileRows = (outputHeight + 1) / 2
        tileColumns = (outputWidth + 1) / 2
        // Tile (r, c) reads padded rows 2r ..< 2r + 4 and columns 2c ..< 2c + 4.
        paddedHeight = max(2 * tileRows + 2, height + 2 * g.paddingHeight)
        paddedWidth = max(2 * tileColumns + 2, width + 2 * g.paddingWidth)
    }

    var tilesPerImage: Int { tileRows * tileColumns }
    var paddedArea: Int { paddedHeight * paddedWidth }
}

/// U [16, O, C] = G g Gᵀ for every kernel g of `weight` [O, C, 3, 3].
private func transformKernels(_ weight: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int,
                              into u: UnsafeMutablePointer<Float>) {
    let pairs = outputChannels * inputChannels
    for pair in 0..<pairs {
        let g = weight + pair * 9
        // The columns of G g (4 × 3), then those of (G g) Gᵀ; U[4i + j] is row i of column j.
        let t0 = timesG(SIMD3(g[0], g[3], g[6])), t1 = timesG(SIMD3(g[1], g[4], g[7])), t2 = timesG(SIMD3(g[2], g[5], g[8]))
        let columns = (t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2)
        for row in 0..<4 {
            u[(4 * row + 0) * pairs + pair] = columns.0[row]
            u[(4 * row + 1) * pairs + pair] = columns.1[row]
            u[(4 * row + 2) * pairs + pair] = columns.2[row]
            u[(4 * row + 3) * pairs + pair] = columns.3[row]
        }
    }
}

/// G times a column (g₀, g₁, g₂) of a kernel.
@inline(__always)
private func timesG(_ g: SIMD3<Float>) -> SIMD4<Float> {
    SIMD4(g[0], 0.5 * (g[0] + g[1] + g[2]), 0.5 * (g[0] - g[1] + g[2]), g[2])
}

/// Gᵀ times a column s (the adjoint of `timesG`).
@inline(__always)
private func timesGTransposed(_ s: SIMD4<Float>) -> SIMD3<Float> {
    SIMD3(s[0] + 0.5 * (s[1] + s[2]), 0.5 * (s[1] - s[2]), 0.5 * (s[1] + s[2]) + s[3])
}

/// weightGradient [O, C, 3, 3] += Gᵀ dU G for every kernel (the adjoint of `transformKernels`).
private func addKernelGradients(_ du: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int,
                                into weightGradient: UnsafeMutablePointer<Float>) {
    let pairs = outputChannels * inputChannels
    for pair in 0..<pairs {
        // The columns of dU (each over the four rows), then of dU G (4 × 3), then Gᵀ (dU G).
        func column(_ j: Int) -> SIMD4<Float> {
            SIMD4(du[j * pairs + pair], du[(4 + j) * pairs + pair], du[(8 + j) * pairs + pair], du[(12 + j) * pairs + pair])
        }
        let d0 = column(0), d1 = column(1), d2 = column(2), d3 = column(3)
        let s0 = d0 + 0.5 * (d1 + d2), s1 = 0.5 * (d1 - d2), s2 = 0.5 * (d1 + d2) + d3
        let g0 = timesGTransposed(s0), g1 = timesGTransposed(s1), g2 = timesGTransposed(s2)
        let dg = weightGradient + pair * 9
        for row in 0..<3 {
            dg[3 * row] += g0[row]
            dg[3 * row + 1] += g1[row]
            dg[3 * row + 2] += g2[row]
        }
    }
}

@inline(__always)
private func loadFour(_ pointer: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always)
private func addFour(_ value: SIMD4<Float>, to pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: loadFour(pointer) + value, as: SIMD4<Float>.self)
}

/// The four transform entries ξ = 4·row ..< 4·row + 4 of one tile, `planeSize` apart.
@inline(__always)
private func gatherRow(_ source: UnsafePointer<Float>, row: Int, planeSize: Int) -> SIMD4<Float> {
    let base = source + 4 * row * planeSize
    return SIMD4(base[0], base[planeSize], base[2 * planeSize], base[3 * planeSize])
}

@inline(__always)
private func scatterRow(_ value: SIMD4<Float>, to destination: UnsafeMutablePointer<Float>, row: Int, planeSize: Int) {
    let base = destination + 4 * row * planeSize
    base[0] = value[0]
    base[planeSize] = value[1]
    base[2 * planeSize] = value[2]
    base[3 * planeSize] = value[3]
}

/// A row w of a 4×4 tile times B: (w₀ − w₂, w₁ + w₂, w₂ − w₁, w₁ − w₃).
@inline(__always)
private func timesB(_ w: SIMD4<Float>) -> SIMD4<Float> {
    SIMD4(w[0] - w[2], w[1] + w[2], w[2] - w[1], w[1] - w[3])
}

/// A row p times Bᵀ (the adjoint of `timesB`).
@inline(__always)
private func timesBTransposed(_ p: SIMD4<Float>) -> SIMD4<Float> {
    SIMD4(p[0], p[1] - p[2] + p[3], p[2] + p[1] - p[0], -p[3])
}

/// V [16, C, T] = Bᵀ d B for every 4×4 tile d of `images` [n, C, H, W]; tile t = (image, row, column).
private func transformInputTiles(_ images: UnsafePointer<Float>, count: Int, channels: Int, tiling: WinogradTiling,
                                 padded: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>) {
    let tileCount = count * tiling.tilesPerImage, planeSize = channels * tileCount
    let paddedWidth = tiling.paddedWidth, width = tiling.width, imageArea = tiling.height * width
    let interior = padded + tiling.padding * paddedWidth + tiling.padding
    // The border stays zero: only the interior is written below.
    padded.initialize(repeating: 0, count: tiling.paddedArea)
    for image in 0..<count {
        for channel in 0..<channels {
            let source = images + (image * channels + channel) * imageArea
            for y in 0..<tiling.height {
                copyShortRow(source + y * width, to: interior + y * paddedWidth, count: width)
            }
            var destination = v + channel * tileCount + image * tiling.tilesPerImage
            for tileRow in 0..<tiling.tileRows {
                let top = padded + 2 * tileRow * paddedWidth
                for tileColumn in 0..<tiling.tileColumns {
                    let corner = top + 2 * tileColumn
                    let d0 = loadFour(corner), d1 = loadFour(corner + paddedWidth)
                    let d2 = loadFour(corner + 2 * paddedWidth), d3 = loadFour(corner + 3 * paddedWidth)
                    // Bᵀ d row by row, then each row times B.
                    let tile = destination + tileColumn
                    scatterRow(timesB(d0 - d2), to: tile, row: 0, planeSize: planeSize)
                    scatterRow(timesB(d1 + d2), to: tile, row: 1, planeSize: planeSize)
                    scatterRow(timesB(d2 - d1), to: tile, row: 2, planeSize: planeSize)
                    scatterRow(timesB(d1 - d3), to: tile, row: 3, planeSize: planeSize)
                }
                destination += tiling.tileColumns
            }
        }
    }
}

/// inputGradient [n, C, H, W] += B dV Bᵀ added back onto every tile's 4×4 window (the adjoint of
/// `transformInputTiles`; neighbouring windows overlap by two rows or columns).
private func addInputTileGradients(_ dv: UnsafePointer<Float>, count: Int, channels: Int, tiling: WinogradTiling,
                                   padded: UnsafeMutablePointer<Float>, into inputGradient: UnsafeMutablePointer<Float>) {
    let tileCount = count * tiling.tilesPerImage, planeSize = channels * tileCount
    let paddedWidth = tiling.paddedWidth, width = tiling.width, imageArea = tiling.height * width
    let interior = padded + tiling.padding * paddedWidth + tiling.padding
    for image in 0..<count {
        for channel in 0..<channels {
            padded.update(repeating: 0, count: tiling.paddedArea)
            var source = dv + channel * tileCount + image * tiling.tilesPerImage
            for tileRow in 0..<tiling.tileRows {
                let top = padded + 2 * tileRow * paddedWidth
                for tileColumn in 0..<tiling.tileColumns {
                    let tile = source + tileColumn
                    let p0 = timesBTransposed(gatherRow(tile, row: 0, planeSize: planeSize))
                    let p1 = timesBTransposed(gatherRow(tile, row: 1, planeSize: planeSize))
                    let p2 = timesBTransposed(gatherRow(tile, row: 2, planeSize: planeSize))
                    let p3 = timesBTransposed(gatherRow(tile, row: 3, planeSize: planeSize))
                    let corner = top + 2 * tileColumn
                    addFour(p0, to: corner)
                    addFour(p1 - p2 + p3, to: corner + paddedWidth)
                    addFour(p1 + p2 - p0, to: corner + 2 * paddedWidth)
                    addFour(-p3, to: corner + 3 * paddedWidth)
                }
                source += tiling.tileColumns
            }
            let plane = inputGradient + (image * channels + channel) * imageArea
            for y in 0..<tiling.height {
                let from = interior + y * paddedWidth, to = plane + y * width
                for x in 0..<width { to[x] += from[x] }
            }
        }
    }
}

/// output [n, O, OH, OW] = Aᵀ M A (+ bias) for every tile of M [16, O, T].
private func transformOutputTiles(_ m: UnsafePointer<Float>, count: Int, outputChannels: Int, tiling: WinogradTiling,
                                  bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>) {
    let tileCount = count * tiling.tilesPerImage, planeSize = outputChannels * tileCount
    let outputWidth = tiling.outputWidth, outputArea = tiling.outputHeight * outputWidth
    for image in 0..<count {
        for channel in 0..<outputChannels {
            let plane = output + (image * outputChannels + channel) * outputArea
            let offset = bias?[channel] ?? 0
            var source = m + channel * tileCount + image * tiling.tilesPerImage
            for tileRow in 0..<tiling.tileRows {
                let y = 2 * tileRow, secondRow = y + 1 < tiling.outputHeight
                for tileColumn in 0..<tiling.tileColumns {
                    let tile = source + tileColumn
                    let m0 = gatherRow(tile, row: 0, planeSize: planeSize), m1 = gatherRow(tile, row: 1, planeSize: planeSize)
                    let m2 = gatherRow(tile, row: 2, planeSize: planeSize), m3 = gatherRow(tile, row: 3, planeSize: planeSize)
                    // Aᵀ M: two rows; then each row times A: (s₀ + s₁ + s₂, s₁ − s₂ − s₃).
                    let s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
                    let x = 2 * tileColumn, secondColumn = x + 1 < outputWidth
                    let top = plane + y * outputWidth + x
                    top[0] = s0[0] + s0[1] + s0[2] + offset
                    if secondColumn { top[1] = s0[1] - s0[2] - s0[3] + offset }
                    if secondRow {
                        top[outputWidth] = s1[0] + s1[1] + s1[2] + offset
                        if secondColumn { top[outputWidth + 1] = s1[1] - s1[2] - s1[3] + offset }
                    }
                }
                source += tiling.tileColumns
            }
        }
    }
}

/// dM [16, O, T] = A dy Aᵀ for every tile, from outputGradient [n, O, OH, OW] (the adjoint of
/// `transformOutputTiles`; outputs a tile has beyond the image count as zero).
private func transformOutputGradientTiles(_ outputGradient: UnsafePointer<Float>, count: Int, outputChannels: Int,
                                          tiling: WinogradTiling, into dm: UnsafeMutablePointer<Float>) {
    let tileCount = count * tiling.tilesPerImage, planeSize = outputChannels * tileCount
    let outputWidth = tiling.outputWidth, outputArea = tiling.outputHeight * outputWidth
    for image in 0..<count {
        for channel in 0..<outputChannels {
            let plane = outputGradient + (image * outputChannels + channel) * outputArea
            var destination = dm + channel * tileCount + image * tiling.tilesPerImage
            for tileRow in 0..<tiling.tileRows {
                let y = 2 * tileRow, secondRow = y + 1 < tiling.outputHeight
                for tileColumn in 0..<tiling.tileColumns {
                    let x = 2 * tileColumn, secondColumn = x + 1 < outputWidth
                    let top = plane + y * outputWidth + x
                    let a = top[0], b: Float = secondColumn ? top[1] : 0
                    let c: Float = secondRow ? top[outputWidth] : 0
                    let d: Float = secondRow && secondColumn ? top[outputWidth + 1] : 0
                    // Each row of dy times Aᵀ: (y₀, y₀ + y₁, y₀ − y₁, −y₁); then A times the two rows.
                    let q0 = SIMD4(a, a + b, a - b, -b), q1 = SIMD4(c, c + d, c - d, -d)
                    let tile = destination + tileColumn
                    scatterRow(q0, to: tile, row: 0, planeSize: planeSize)
                    scatterRow(q0 + q1, to: tile, row: 1, planeSize: planeSize)
                    scatterRow(q0 - q1, to: tile, row: 2, planeSize: planeSize)
                    scatterRow(-q1, to: tile, row: 3, planeSize: planeSize)
                }
                destination += tiling.tileColumns
            }
        }
    }
}

/// The Winograd path of `conv2d` (see the top of this file): input [B, C, H, W], weight [O, C, 3, 3],
/// bias [O], stride 1, any padding.
func winogradConvolution(_ input: Variable, weight: Variable, bias: Variable?, geometry g: ConvolutionGeometry) -> Variable {
    let batch = input.shape[0], outputChannels = weight.shape[0], inputChannels = g.channels
    if let bias {
        precondition(bias.shape == [outputChannels], "conv2d: bias \(bias.shape) should be [\(outputChannels)]")
    }
    let tiling = WinogradTiling(g)
    let transformSize = 16 * outputChannels * inputChannels
    var kernels = Tensor(uninitializedShape: [16, outputChannels, inputChannels])
    transformKernels(weight.value.readPointer, outputChannels: outputChannels, inputChannels: inputChannels,
                     into: kernels.mutablePointer)
    // As in `convolution`: each worker takes a contiguous share of the batch and goes through it a few
    // images at a time, so the transformed tiles stay in cache between transform, GEMMs and back.
    let workers = max(1, min(BLAS.threadCount, batch))
    let tiles = tiling.tilesPerImage, widerChannels = max(inputChannels, outputChannels)
    let entriesPerImage = 16 * widerChannels * tiles
    let target = ConvolutionChunking.targetEntries(entriesPerImage: entriesPerImage, positions: tiles)
    let chunk = largestChunk(batch: (batch + workers - 1) / workers, columnEntriesPerImage: entriesPerImage, targetEntries: target)
    let inputBlockSize = 16 * inputChannels * chunk * tiles, outputBlockSize = 16 * outputChannels * chunk * tiles
    let workerScratchSize = inputBlockSize + outputBlockSize + tiling.paddedArea
    let outputPlaneSize = outputChannels * g.outputPositions
    var output = Tensor(uninitializedShape: [batch, outputChannels, g.outputHeight, g.outputWidth])
    do {
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let x = input.value.readPointer, u = kernels.readPointer, y = output.mutablePointer
        let scratchBase = scratch.mutablePointer, biasValues = bias?.value.readPointer
        runWorkers(workers) { worker in
            let v = scratchBase + worker * workerScratchSize, m = v + inputBlockSize, padded = m + outputBlockSize
            let images = workerRange(worker, of: workers, count: batch)
            let step = imagesPerChunk(batch: images.count, columnEntriesPerImage: entriesPerImage, targetEntries: target)
            for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: step) {
                let count = min(step, images.upperBound - first), tileCount = count * tiles
                transformInputTiles(x + first * g.imageSize, count: count, channels: inputChannels, tiling: tiling,
                                    padded: padded, into: v)
                for position in 0..<16 {
                    // M[ξ] [O, T] = U[ξ] [O, C] · V[ξ] [C, T]
                    matrixMultiply(u + position * outputChannels * inputChannels, v + position * inputChannels * tileCount,
                                   into: m + position * outputChannels * tileCount,
                                   rows: outputChannels, columns: tileCount, inner: inputChannels)
                }
                transformOutputTiles(m, count: count, outputChannels: outputChannels, tiling: tiling, bias: biasValues,
                                     into: y + first * outputPlaneSize)
            }
        }
    }

    let parents = bias.map { [input, weight, $0] } ?? [input, weight]
    return Variable(output, parents: parents) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer, u = kernels.readPointer
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let scratchBase = scratch.mutablePointer
        let needsWeightGradient = weight.requiresGradient
        let biasGradient = bias.flatMap { $0.requiresGradient ? $0.gradientForAccumulation() : nil }
        let inputGradient = input.requiresGradient ? input.gradientForAccumulation() : nil
        // Each worker sums its dU and bias gradient on its own; the sums are added in worker order
        // afterwards (the same result whatever the timing).
        let partialSize = transformSize + outputChannels
        var partials = Tensor(zeros: [workers, partialSize])
        let partialBase = partials.mutablePointer
        runWorkers(workers) { worker in
            let v = scratchBase + worker * workerScratchSize, dm = v + inputBlockSize, padded = dm + outputBlockSize
            let du = partialBase + worker * partialSize, workerBiasGradient = du + transformSize
            let images = workerRange(worker, of: workers, count: batch)
            let step = imagesPerChunk(batch: images.count, columnEntriesPerImage: entriesPerImage, targetEntries: target)
            for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: step) {
                let count = min(step, images.upperBound - first), tileCount = count * tiles
                let chunkGradient = dy + first * outputPlaneSize
                transformOutputGradientTiles(chunkGradient, count: count, outputChannels: outputChannels, tiling: tiling,
                                             into: dm)
                if biasGradient != nil {
                    addChannelSums(chunkGradient, to: workerBiasGradient, batch: count, channels: outputChannels,
                                   positions: g.outputPositions)
                }
                if needsWeightGradient {
                    transformInputTiles(x + first * g.imageSize, count: count, channels: inputChannels, tiling: tiling,
                                        padded: padded, into: v)
                    for position in 0..<16 {
                        // dU[ξ] [O, C] += dM[ξ] [O, T] · V[ξ]ᵀ
                        matrixMultiply(dm + position * outputChannels * tileCount, v + position * inputChannels * tileCount,
                                       transposeB: true, into: du + position * outputChannels * inputChannels,
                                       rows: outputChannels, columns: inputChannels, inner: tileCount, beta: 1)
                    }
                }
                if let inputGradient {
                    for position in 0..<16 {
                        // dV[ξ] [C, T] = U[ξ]ᵀ · dM[ξ] [O, T], over V's block (no longer needed).
                        matrixMultiply(u + position * outputChannels * inputChannels, transposeA: true,
                                       dm + position * outputChannels * tileCount, into: v + position * inputChannels * tileCount,
                                       rows: inputChannels, columns: tileCount, inner: outputChannels)
                    }
                    addInputTileGradients(v, count: count, channels: inputChannels, tiling: tiling, padded: padded,
                                          into: inputGradient + first * g.imageSize)
                }
            }
        }
        for worker in 1..<max(workers, 1) {
            let partial = partialBase + worker * partialSize
            for index in 0..<partialSize { partialBase[index] += partial[index] }
        }
        if needsWeightGradient {
            addKernelGradients(partialBase, outputChannels: outputChannels, inputChannels: inputChannels,
                               into: weight.gradientForAccumulation())
        }
        if let biasGradient {
            for channel in 0..<outputChannels { biasGradient[channel] += partialBase[transformSize + channel] }
        }
    }
}
