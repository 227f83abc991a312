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
// images, numbered (image, tile row, tile column), and a few floats of slack between the 16
// matrices (`TileBlock`).

/// When `conv2d` takes the Winograd path: 3×3 kernels, stride 1, and enough input channels for the
/// GEMMs to be worth splitting 16 ways (a first layer on 1 or 3 channels stays on im2col).
enum WinogradConvolution {
    enum Policy: Sendable { case automatic, always, never }
    /// Tests set `.never` to compare with im2col, `.always` to run small channel counts through it.
    @TaskLocal static var policy: Policy = .automatic
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

/// The tiling of one image plane: tiles of 2×2 outputs, read from the 4×4 windows of a zero-bordered
/// copy of the plane (border `padding`, widened on the bottom and right to whole tiles).
///
/// The transforms run eight tile columns at a time in SIMD8 registers (one tile at a time cost 16
/// single loads or stores per tile, a third of W4's step). For that the bordered copy is kept as two
/// halves, its even and its odd columns, so that the windows of eight neighbouring tiles are
/// eight-wide runs (tile column c covers even columns c, c + 1 and odd columns c, c + 1). Lanes past
/// a row's last tile column compute values that are overwritten, never read, or zeroed before they
/// are added anywhere (see `TileBlock`).
private struct WinogradTiling {
    let height: Int, width: Int, padding: Int
    let outputHeight: Int, outputWidth: Int
    let tileRows: Int, tileColumns: Int
    /// Tile columns rounded up to whole SIMD8 blocks.
    let blockedColumns: Int
    /// Rows of the bordered copy; floats from one row of a half to the next (room for eight-wide
    /// reads at column c + 1 of the last block).
    let paddedHeight: Int, halfStride: Int

    init(_ g: ConvolutionGeometry) {
        precondition(g.paddingHeight == g.paddingWidth, "Winograd convolution: padding must be the same both ways")
        height = g.height
        width = g.width
        padding = g.paddingHeight
        outputHeight = g.outputHeight
        outputWidth = g.outputWidth
        tileRows = (outputHeight + 1) / 2
        tileColumns = (outputWidth + 1) / 2
        // Tile (r, c) reads bordered rows 2r ..< 2r + 4 and columns 2c ..< 2c + 4; 2·tiles + 2 ≥ size + 2·padding.
        paddedHeight = 2 * tileRows + 2
        blockedColumns = (tileColumns + 7) / 8 * 8
        halfStride = blockedColumns + 8
    }

    var tilesPerImage: Int { tileRows * tileColumns }
    var halfSize: Int { paddedHeight * halfStride }
    /// Floats of scratch one plane's transforms need: the two halves, one bordered row (room for
    /// SIMD16 reads or writes of its last eight column pairs) and sixteen rows of tile columns.
    var scratchSize: Int { 2 * halfSize + rowSize + 16 * blockedColumns }
    var rowSize: Int { 2 * halfStride }

    /// Copies `plane` [H, W] into the interior of the bordered halves (their border is left alone),
    /// one row at a time through `row`, a bordered row whose border the caller has zeroed: eight
    /// pairs of its columns split into the halves per SIMD16 load.
    func split(_ plane: UnsafePointer<Float>, even: UnsafeMutablePointer<Float>, odd: UnsafeMutablePointer<Float>,
               row: UnsafeMutablePointer<Float>) {
        for y in 0..<height {
            copyShortRow(plane + y * width, to: row + padding, count: width)
            let offset = (y + padding) * halfStride
            for column in Swift.stride(from: 0, to: tileColumns + 1, by: 8) {
                let pairs = UnsafeRawPointer(row + 2 * column).loadUnaligned(as: SIMD16<Float>.self)
                store(pairs.evenHalf, even + offset + column)
                store(pairs.oddHalf, odd + offset + column)
            }
        }
    }

    /// plane [H, W] += the interior of the bordered halves (the adjoint of `split`), through `row`.
    func addInterior(even: UnsafePointer<Float>, odd: UnsafePointer<Float>, to plane: UnsafeMutablePointer<Float>,
                     row: UnsafeMutablePointer<Float>) {
        for y in 0..<height {
            let offset = (y + padding) * halfStride
            for column in Swift.stride(from: 0, to: tileColumns + 1, by: 8) {
                var pairs = SIMD16<Float>()
                pairs.evenHalf = load(even + offset + column)
                pairs.oddHalf = load(odd + offset + column)
                UnsafeMutableRawPointer(row + 2 * column).storeBytes(of: pairs, as: SIMD16<Float>.self)
            }
            let source = row + padding, destination = plane + y * width
            var x = 0
            while x + 8 <= width { store(load(destination + x) + load(source + x), destination + x); x += 8 }
            while x < width { destination[x] += source[x]; x += 1 }
        }
    }
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

private typealias Lanes = SIMD8<Float>

@inline(__always)
private func load(_ pointer: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self)
}

@inline(__always)
private func store(_ value: Lanes, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lanes.self)
}

/// A chunk's transformed tiles, [16, channels, T] with tile t = (image, tile row, tile column):
/// position ξ's [channels, T] matrix starts at `base + ξ·planeStride`.
///
/// Eight-wide stores of a row of tiles run up to seven tiles past the row's end. Within a plane
/// those land on the next tile row, written afterwards; writers go through channels in the outer
/// loop and images in the inner one, so past a plane's last tile they land on the next image's or
/// the next channel's first tiles, also written afterwards, and past the last channel in the slack
/// between the matrices. Readers take lanes past the row's end from the same places and discard them.
private struct TileBlock {
    let base: UnsafeMutablePointer<Float>, tilesPerImage: Int, tileCount: Int, planeStride: Int

    init(base: UnsafeMutablePointer<Float>, channels: Int, images: Int, tilesPerImage: Int) {
        self.base = base
        self.tilesPerImage = tilesPerImage
        tileCount = images * tilesPerImage
        planeStride = channels * tileCount + TileBlock.slack
    }

    static let slack = 8

    /// Floats for a block of `channels` × `tileCount` tiles.
    static func size(channels: Int, tileCount: Int) -> Int { 16 * (channels * tileCount + slack) }

    func matrix(_ position: Int) -> UnsafeMutablePointer<Float> { base + position * planeStride }

    /// Position ξ's entry for the first tile of (channel, image) and `offset` tiles on.
    @inline(__always)
    func entry(_ position: Int, plane: Int, offset: Int) -> UnsafeMutablePointer<Float> {
        base + position * planeStride + plane + offset
    }

    /// Where (channel, image)'s tiles start within each matrix.
    func plane(channel: Int, image: Int) -> Int { channel * tileCount + image * tilesPerImage }
}

/// A row w (eight tiles in each lane vector) times B: (w₀ − w₂, w₁ + w₂, w₂ − w₁, w₁ − w₃), stored at
/// positions ξ = 4·row ..< 4·row + 4.
@inline(__always)
private func storeTimesB(_ w0: Lanes, _ w1: Lanes, _ w2: Lanes, _ w3: Lanes, row: Int, into block: TileBlock, plane: Int,
                         offset: Int) {
    store(w0 - w2, block.entry(4 * row, plane: plane, offset: offset))
    store(w1 + w2, block.entry(4 * row + 1, plane: plane, offset: offset))
    store(w2 - w1, block.entry(4 * row + 2, plane: plane, offset: offset))
    store(w1 - w3, block.entry(4 * row + 3, plane: plane, offset: offset))
}

/// V = Bᵀ d B for every 4×4 tile d of `images` [n, C, H, W].
private func transformInputTiles(_ images: UnsafePointer<Float>, count: Int, channels: Int, tiling: WinogradTiling,
                                 scratch: UnsafeMutablePointer<Float>, into v: TileBlock) {
    let stride = tiling.halfStride, imageArea = tiling.height * tiling.width, columns = tiling.tileColumns
    let even = scratch, odd = even + tiling.halfSize, row = odd + tiling.halfSize
    // The borders (and the rows' slack) stay zero: `split` writes only the interiors.
    even.update(repeating: 0, count: 2 * tiling.halfSize + tiling.rowSize)
    for channel in 0..<channels {
        for image in 0..<count {
            tiling.split(images + (image * channels + channel) * imageArea, even: even, odd: odd, row: row)
            let plane = v.plane(channel: channel, image: image)
            for tileRow in 0..<tiling.tileRows {
                let e = even + 2 * tileRow * stride, o = odd + 2 * tileRow * stride
                for column in Swift.stride(from: 0, to: columns, by: 8) {
                    // The windows' columns: even c, odd c, even c + 1, odd c + 1, for bordered rows 0–3.
                    func window(_ row: Int) -> (Lanes, Lanes, Lanes, Lanes) {
                        let evenRow = e + row * stride + column, oddRow = o + row * stride + column
                        return (load(evenRow), load(oddRow), load(evenRow + 1), load(oddRow + 1))
                    }
                    let d0 = window(0), d1 = window(1), d2 = window(2), d3 = window(3)
                    // Bᵀ d row by row, (d₀ − d₂, d₁ + d₂, d₂ − d₁, d₁ − d₃), then each row times B.
                    let offset = tileRow * columns + column
                    storeTimesB(d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3, row: 0, into: v, plane: plane, offset: offset)
                    storeTimesB(d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3, row: 1, into: v, plane: plane, offset: offset)
                    storeTimesB(d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3, row: 2, into: v, plane: plane, offset: offset)
                    storeTimesB(d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3, row: 3, into: v, plane: plane, offset: offset)
                }
            }
        }
    }
}

/// inputGradient [n, C, H, W] += B dV Bᵀ added back onto every tile's 4×4 window (the adjoint of
/// `transformInputTiles`; neighbouring windows overlap by two rows or columns).
private func addInputTileGradients(_ dv: TileBlock, count: Int, channels: Int, tiling: WinogradTiling,
                                   scratch: UnsafeMutablePointer<Float>, into inputGradient: UnsafeMutablePointer<Float>) {
    let stride = tiling.halfStride, imageArea = tiling.height * tiling.width, columns = tiling.tileColumns
    let even = scratch, odd = even + tiling.halfSize, row = odd + tiling.halfSize
    // window[(4k + l)·blocked + c]: row k, column l of tile column c's window gradient.
    let window = row + tiling.rowSize, blocked = tiling.blockedColumns
    // Lanes past the last tile column read the next tiles: they must add nothing.
    let lastBlock = (columns - 1) / 8 * 8
    let pastTheEnd = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= SIMD8<Int32>(repeating: Int32(columns - lastBlock))
    for image in 0..<count {
        for channel in 0..<channels {
            even.update(repeating: 0, count: 2 * tiling.halfSize)
            let plane = dv.plane(channel: channel, image: image)
            for tileRow in 0..<tiling.tileRows {
                for column in Swift.stride(from: 0, to: columns, by: 8) {
                    let offset = tileRow * columns + column
                    // p_i = row i of dV times Bᵀ: (d₀, d₁ − d₂ + d₃, d₁ + d₂ − d₀, −d₃).
                    func p(_ row: Int) -> (Lanes, Lanes, Lanes, Lanes) {
                        let d0 = load(dv.entry(4 * row, plane: plane, offset: offset))
                        let d1 = load(dv.entry(4 * row + 1, plane: plane, offset: offset))
                        let d2 = load(dv.entry(4 * row + 2, plane: plane, offset: offset))
                        let d3 = load(dv.entry(4 * row + 3, plane: plane, offset: offset))
                        return (d0, d1 - d2 + d3, d1 + d2 - d0, -d3)
                    }
                    let p0 = p(0), p1 = p(1), p2 = p(2), p3 = p(3)
                    // The window's rows: B p = (p₀, p₁ − p₂ + p₃, p₁ + p₂ − p₀, −p₃), column by column.
                    let masked = column == lastBlock
                    func put(_ row: (Lanes, Lanes, Lanes, Lanes), _ k: Int) {
                        func put(_ value: Lanes, _ l: Int) {
                            store(masked ? value.replacing(with: 0, where: pastTheEnd) : value,
                                  window + (4 * k + l) * blocked + column)
                        }
                        put(row.0, 0)
                        put(row.1, 1)
                        put(row.2, 2)
                        put(row.3, 3)
                    }
                    put(p0, 0)
                    put((p1.0 - p2.0 + p3.0, p1.1 - p2.1 + p3.1, p1.2 - p2.2 + p3.2, p1.3 - p2.3 + p3.3), 1)
                    put((p1.0 + p2.0 - p0.0, p1.1 + p2.1 - p0.1, p1.2 + p2.2 - p0.2, p1.3 + p2.3 - p0.3), 2)
                    put((-p3.0, -p3.1, -p3.2, -p3.3), 3)
                }
                // Window column l is even c (l = 0), odd c (1), even c + 1 (2), odd c + 1 (3); tile
                // c's "c + 1" is tile c + 1's "c", so the two are added one after the other.
                for k in 0..<4 {
                    let e = even + (2 * tileRow + k) * stride, o = odd + (2 * tileRow + k) * stride
                    let w = window + 4 * k * blocked
                    for column in Swift.stride(from: 0, to: columns, by: 8) {
                        store(load(e + column) + load(w + column), e + column)
                        store(load(o + column) + load(w + blocked + column), o + column)
                    }
                    for column in Swift.stride(from: 0, to: columns, by: 8) {
                        store(load(e + column + 1) + load(w + 2 * blocked + column), e + column + 1)
                        store(load(o + column + 1) + load(w + 3 * blocked + column), o + column + 1)
                    }
                }
            }
            tiling.addInterior(even: even, odd: odd, to: inputGradient + (image * channels + channel) * imageArea, row: row)
        }
    }
}

/// output [n, O, OH, OW] = Aᵀ M A (+ bias) for every tile.
private func transformOutputTiles(_ m: TileBlock, count: Int, outputChannels: Int, tiling: WinogradTiling,
                                  bias: UnsafePointer<Float>?, scratch: UnsafeMutablePointer<Float>,
                                  into output: UnsafeMutablePointer<Float>) {
    let columns = tiling.tileColumns, blocked = tiling.blockedColumns
    let outputWidth = tiling.outputWidth, outputArea = tiling.outputHeight * outputWidth
    let y00 = scratch, y01 = y00 + blocked, y10 = y01 + blocked, y11 = y10 + blocked
    for image in 0..<count {
        for channel in 0..<outputChannels {
            let plane = m.plane(channel: channel, image: image)
            let destination = output + (image * outputChannels + channel) * outputArea
            let offset = Lanes(repeating: bias?[channel] ?? 0)
            for tileRow in 0..<tiling.tileRows {
                for column in Swift.stride(from: 0, to: columns, by: 8) {
                    let at = tileRow * columns + column
                    func row(_ row: Int) -> (Lanes, Lanes, Lanes, Lanes) {
                        (load(m.entry(4 * row, plane: plane, offset: at)), load(m.entry(4 * row + 1, plane: plane, offset: at)),
                         load(m.entry(4 * row + 2, plane: plane, offset: at)), load(m.entry(4 * row + 3, plane: plane, offset: at)))
                    }
                    let m0 = row(0), m1 = row(1), m2 = row(2), m3 = row(3)
                    // Aᵀ M: two rows (m₀ + m₁ + m₂, m₁ − m₂ − m₃); then each row times A: (s₀ + s₁ + s₂, s₁ − s₂ − s₃).
                    let s0 = (m0.0 + m1.0 + m2.0, m0.1 + m1.1 + m2.1, m0.2 + m1.2 + m2.2, m0.3 + m1.3 + m2.3)
                    let s1 = (m1.0 - m2.0 - m3.0, m1.1 - m2.1 - m3.1, m1.2 - m2.2 - m3.2, m1.3 - m2.3 - m3.3)
                    store(s0.0 + s0.1 + s0.2 + offset, y00 + column)
                    store(s0.1 - s0.2 - s0.3 + offset, y01 + column)
                    store(s1.0 + s1.1 + s1.2 + offset, y10 + column)
                    store(s1.1 - s1.2 - s1.3 + offset, y11 + column)
                }
                let top = destination + 2 * tileRow * outputWidth
                interleave(y00, y01, into: top, count: outputWidth)
                if 2 * tileRow + 1 < tiling.outputHeight { interleave(y10, y11, into: top + outputWidth, count: outputWidth) }
            }
        }
    }
}

/// destination[2c] = even[c], destination[2c + 1] = odd[c], for `count` entries of destination.
@inline(__always)
private func interleave(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
                        count: Int) {
    for column in 0..<(count / 2) {
        destination[2 * column] = even[column]
        destination[2 * column + 1] = odd[column]
    }
    if count % 2 == 1 { destination[count - 1] = even[count / 2] }
}

/// dM = A dy Aᵀ for every tile, from outputGradient [n, O, OH, OW] (the adjoint of
/// `transformOutputTiles`; outputs a tile has beyond the image count as zero).
private func transformOutputGradientTiles(_ outputGradient: UnsafePointer<Float>, count: Int, outputChannels: Int,
                                          tiling: WinogradTiling, scratch: UnsafeMutablePointer<Float>,
                                          into dm: TileBlock) {
    let columns = tiling.tileColumns, blocked = tiling.blockedColumns
    let outputWidth = tiling.outputWidth, outputArea = tiling.outputHeight * outputWidth
    // The tile's 2×2 gradients (a b / c d) for every tile column; a half tile's missing ones are zero.
    let a = scratch, b = a + blocked, c = b + blocked, d = c + blocked
    a.update(repeating: 0, count: 4 * blocked)
    for channel in 0..<outputChannels {
        for image in 0..<count {
            let source = outputGradient + (image * outputChannels + channel) * outputArea
            let plane = dm.plane(channel: channel, image: image)
            for tileRow in 0..<tiling.tileRows {
                let top = source + 2 * tileRow * outputWidth
                deinterleave(top, count: outputWidth, even: a, odd: b)
                if 2 * tileRow + 1 < tiling.outputHeight {
                    deinterleave(top + outputWidth, count: outputWidth, even: c, odd: d)
                } else {
                    c.update(repeating: 0, count: columns)
                    d.update(repeating: 0, count: columns)
                }
                for column in Swift.stride(from: 0, to: columns, by: 8) {
                    let a0 = load(a + column), b0 = load(b + column), c0 = load(c + column), d0 = load(d + column)
                    // Each row (y₀, y₁) of dy times Aᵀ: (y₀, y₀ + y₁, y₀ − y₁, −y₁); then A times the
                    // two rows: (q₀, q₀ + q₁, q₀ − q₁, −q₁).
                    let at = tileRow * columns + column
                    func put(_ first: Lanes, _ second: Lanes, row: Int) {
                        store(first, dm.entry(4 * row, plane: plane, offset: at))
                        store(first + second, dm.entry(4 * row + 1, plane: plane, offset: at))
                        store(first - second, dm.entry(4 * row + 2, plane: plane, offset: at))
                        store(-second, dm.entry(4 * row + 3, plane: plane, offset: at))
                    }
                    put(a0, b0, row: 0)
                    put(a0 + c0, b0 + d0, row: 1)
                    put(a0 - c0, b0 - d0, row: 2)
                    put(-c0, -d0, row: 3)
                }
            }
        }
    }
}

/// even[c] = source[2c], odd[c] = source[2c + 1], for `count` entries of source (odd's last entry is
/// left alone when count is odd).
@inline(__always)
private func deinterleave(_ source: UnsafePointer<Float>, count: Int, even: UnsafeMutablePointer<Float>,
                          odd: UnsafeMutablePointer<Float>) {
    for column in 0..<(count / 2) {
        even[column] = source[2 * column]
        odd[column] = source[2 * column + 1]
    }
    if count % 2 == 1 { even[count / 2] = source[count - 1] }
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
    let tiles = tiling.tilesPerImage
    let chunking = ImageChunking(batch: batch, entriesPerImage: 16 * max(inputChannels, outputChannels) * tiles, positions: tiles)
    let workers = chunking.workers, chunk = chunking.largestChunkSize
    let inputBlockSize = TileBlock.size(channels: inputChannels, tileCount: chunk * tiles)
    let outputBlockSize = TileBlock.size(channels: outputChannels, tileCount: chunk * tiles)
    let workerScratchSize = inputBlockSize + outputBlockSize + tiling.scratchSize
    let outputPlaneSize = outputChannels * g.outputPositions
    var output = Tensor(uninitializedShape: [batch, outputChannels, g.outputHeight, g.outputWidth])
    /// Runs `body(worker, first image, image count, V or dV block, M or dM block, plane scratch)` for
    /// every chunk of every worker's share of the batch, on the engine's threads.
    func forEachChunk(_ body: (Int, Int, Int, TileBlock, TileBlock, UnsafeMutablePointer<Float>) -> Void) {
        var scratch = Tensor(uninitializedShape: [workers, workerScratchSize])
        let scratchBase = scratch.mutablePointer
        chunking.forEachChunk { worker, first, count in
            let inputBlock = scratchBase + worker * workerScratchSize, outputBlock = inputBlock + inputBlockSize
            body(worker, first, count, TileBlock(base: inputBlock, channels: inputChannels, images: count, tilesPerImage: tiles),
                 TileBlock(base: outputBlock, channels: outputChannels, images: count, tilesPerImage: tiles),
                 outputBlock + outputBlockSize)
        }
    }
    let x = input.value.readPointer, u = kernels.readPointer, y = output.mutablePointer
    let biasValues = bias?.value.readPointer
    forEachChunk { _, first, count, v, m, planeScratch in
        let tileCount = v.tileCount
        transformInputTiles(x + first * g.imageSize, count: count, channels: inputChannels, tiling: tiling,
                            scratch: planeScratch, into: v)
        for position in 0..<16 {
            // M[ξ] [O, T] = U[ξ] [O, C] · V[ξ] [C, T]
            matrixMultiply(u + position * outputChannels * inputChannels, v.matrix(position), into: m.matrix(position),
                           rows: outputChannels, columns: tileCount, inner: inputChannels)
        }
        transformOutputTiles(m, count: count, outputChannels: outputChannels, tiling: tiling, bias: biasValues,
                             scratch: planeScratch, into: y + first * outputPlaneSize)
    }

    let parents = bias.map { [input, weight, $0] } ?? [input, weight]
    return Variable(output, parents: parents) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer, u = kernels.readPointer
        let needsWeightGradient = weight.requiresGradient
        let biasGradient = bias.flatMap { $0.requiresGradient ? $0.gradientForAccumulation() : nil }
        let inputGradient = input.requiresGradient ? input.gradientForAccumulation() : nil
        // Each worker sums its dU and bias gradient on its own; the sums are added in worker order
        // afterwards (the same result whatever the timing).
        let partialSize = transformSize + outputChannels
        var partials = Tensor(zeros: [workers, partialSize])
        let partialBase = partials.mutablePointer
        forEachChunk { worker, first, count, v, dm, planeScratch in
            let du = partialBase + worker * partialSize, workerBiasGradient = du + transformSize
            let tileCount = v.tileCount
            let chunkGradient = dy + first * outputPlaneSize
            transformOutputGradientTiles(chunkGradient, count: count, outputChannels: outputChannels, tiling: tiling,
                                         scratch: planeScratch, into: dm)
            if biasGradient != nil {
                addChannelSums(chunkGradient, to: workerBiasGradient, batch: count, channels: outputChannels,
                               positions: g.outputPositions)
            }
            if needsWeightGradient {
                transformInputTiles(x + first * g.imageSize, count: count, channels: inputChannels, tiling: tiling,
                                    scratch: planeScratch, into: v)
                for position in 0..<16 {
                    // dU[ξ] [O, C] += dM[ξ] [O, T] · V[ξ]ᵀ
                    matrixMultiply(dm.matrix(position), v.matrix(position), transposeB: true,
                                   into: du + position * outputChannels * inputChannels,
                                   rows: outputChannels, columns: inputChannels, inner: tileCount, beta: 1)
                }
            }
            if let inputGradient {
                for position in 0..<16 {
                    // dV[ξ] [C, T] = U[ξ]ᵀ · dM[ξ] [O, T], over V's block (no longer needed).
                    matrixMultiply(u + position * outputChannels * inputChannels, transposeA: true, dm.matrix(position),
                                   into: v.matrix(position), rows: inputChannels, columns: tileCount, inner: outputChannels)
                }
                addInputTileGradients(v, count: count, channels: inputChannels, tiling: tiling, scratch: planeScratch,
                                      into: inputGradient + first * g.imageSize)
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
