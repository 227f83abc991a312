// im2col / col2im for convolutions over a whole batch, and the [B, C, L] ↔ [C, B·L] permutes
// around the one GEMM per layer (docs/platform.md §5, layout A).
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

/// Images per pass of a convolution: as many as keep the column block [C·KH·KW, n·L] near
/// `targetEntries` floats (1 MB: in a core's L2 while it is written, packed and read back), at least one, and split evenly (64 as 4 × 16, not 3 × 20 + 4).
func imagesPerChunk(batch: Int, columnEntriesPerImage: Int,
                    targetEntries: Int = ConvolutionChunking.columnBlockEntries) -> Int {
    guard batch > 0 else { return 1 }
    let largest = largestChunk(batch: batch, columnEntriesPerImage: columnEntriesPerImage, targetEntries: targetEntries)
    let chunks = (batch + largest - 1) / largest
    return (batch + chunks - 1) / chunks
}

/// How a convolution goes through its batch: each of `workers` engine threads takes a contiguous
/// share of the images and goes through it `imagesPerChunk` at a time, so a chunk's blocks stay in
/// cache between the transform, the GEMM and the way back.
struct ImageChunking {
    let batch: Int, workers: Int, entriesPerImage: Int, targetEntries: Int
    /// The most images one chunk holds: what scratch blocks are sized for.
    let largestChunkSize: Int

    /// Made on the calling thread: the thread count and `ConvolutionChunking` are task-locals, not
    /// visible on the workers' threads. `entriesPerImage` floats of block per image, `positions`
    /// GEMM columns per image.
    init(batch: Int, entriesPerImage: Int, positions: Int) {
        self.batch = batch
        workers = max(1, min(BLAS.threadCount, batch))
        self.entriesPerImage = entriesPerImage
        targetEntries = ConvolutionChunking.targetEntries(entriesPerImage: entriesPerImage, positions: positions)
        largestChunkSize = largestChunk(batch: (batch + workers - 1) / workers, columnEntriesPerImage: entriesPerImage,
                                        targetEntries: targetEntries)
    }

    /// Runs `body(worker, first image, image count)` for every chunk, on the engine's threads.
    func forEachChunk(_ body: (_ worker: Int, _ first: Int, _ count: Int) -> Void) {
        runWorkers(workers) { worker in
            let images = workerRange(worker, of: workers, count: batch)
            let step = imagesPerChunk(batch: images.count, columnEntriesPerImage: entriesPerImage, targetEntries: targetEntries)
            for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: step) {
                body(worker, first, min(step, images.upperBound - first))
            }
        }
    }
}

/// The most images `imagesPerChunk` gives for this batch or any smaller one: what scratch blocks are sized for.
func largestChunk(batch: Int, columnEntriesPerImage: Int,
                  targetEntries: Int = ConvolutionChunking.columnBlockEntries) -> Int {
    max(1, min(batch, targetEntries / max(columnEntriesPerImage, 1)))
}

enum ConvolutionChunking {
    /// The column-block size convolutions aim for; a test makes it tiny to run the several-chunk
    /// path on small inputs.
    @TaskLocal static var columnBlockEntries = 1 << 18
    /// But at least this many GEMM columns (images × output positions) per chunk: OpenBLAS is
    /// slow on thin products, and layers with few positions (the DCGAN discriminator's 7×7)
    /// would otherwise get chunks of 5 images, 245 columns.
    @TaskLocal static var minimumColumns = 512

    /// The column-block target for a layer with `positions` outputs per image. Read it on the
    /// calling thread: task-locals are not visible on the workers' threads.
    static func targetEntries(entriesPerImage: Int, positions: Int) -> Int {
        let minimumImages = (minimumColumns + max(positions, 1) - 1) / max(positions, 1)
        return max(columnBlockEntries, entriesPerImage * minimumImages)
    }
}

/// Fills `columns` [C·KH·KW, B·L] from `images` [B, C, H, W].
///
/// Each source plane is first copied into a zero-bordered scratch plane, so the gather below has
/// no bounds tests at all; with image and channel outermost that plane stays in L1 while its
/// K·K column rows are written. (The cost is in the scattered stores to the column matrix: about
/// 3 ns per entry for the W1 discriminator, against 0.5 ns per entry for a plain fill.)
func imageToColumns(_ images: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                    into columns: UnsafeMutablePointer<Float>) {
    // Sizes in locals: the geometry's computed sizes divide, and this loop nest is hot.
    let outputHeight = g.outputHeight, outputWidth = g.outputWidth, positions = outputHeight * outputWidth
    let height = g.height, width = g.width, imageArea = height * width, channels = g.channels
    let strideHeight = g.strideHeight, strideWidth = g.strideWidth
    let kernelHeight = g.kernelHeight, kernelWidth = g.kernelWidth
    let paddedWidth = width + 2 * g.paddingWidth, paddedHeight = height + 2 * g.paddingHeight
    let rowLength = batch * positions
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedWidth * paddedHeight)
    defer { padded.deallocate() }
    padded.initialize(repeating: 0, count: paddedWidth * paddedHeight)
    let interior = padded + g.paddingHeight * paddedWidth + g.paddingWidth
    // Stride 2 (the DCGAN's convolutions): the even and odd columns of the padded plane, each
    // packed, so every output row is a contiguous run again and copies in vector moves instead of
    // a gather of 7 or 14 single values.
    let halfWidth = (paddedWidth + 1) / 2
    let parityPlanes = strideWidth == 2 ? UnsafeMutablePointer<Float>.allocate(capacity: 2 * paddedHeight * halfWidth) : nil
    defer { parityPlanes?.deallocate() }
    parityPlanes?.initialize(repeating: 0, count: 2 * paddedHeight * halfWidth)
    for image in 0..<batch {
        for channel in 0..<channels {
            let source = images + (image * channels + channel) * imageArea
            for y in 0..<height {
                let from = source + y * width, to = interior + y * paddedWidth
                copyShortRow(from, to: to, count: width)
            }
            if let parityPlanes {
                for y in 0..<paddedHeight {
                    let from = padded + y * paddedWidth
                    let even = parityPlanes + y * halfWidth, odd = parityPlanes + (paddedHeight + y) * halfWidth
                    for column in 0..<(paddedWidth / 2) {
                        even[column] = from[2 * column]
                        odd[column] = from[2 * column + 1]
                    }
                    if paddedWidth % 2 == 1 { even[paddedWidth / 2] = from[paddedWidth - 1] }
                }
            }
            var row = channel * kernelHeight * kernelWidth
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    var destination = columns + row * rowLength + image * positions
                    if let parityPlanes {
                        // Padded column 2·ox + kx is column ox + kx/2 of the plane of kx's parity.
                        var sourceRow = parityPlanes + ((kx & 1) * paddedHeight + ky) * halfWidth + (kx >> 1)
                        for _ in 0..<outputHeight {
                            copyShortRow(sourceRow, to: destination, count: outputWidth)
                            destination += outputWidth
                            sourceRow += strideHeight * halfWidth
                        }
                        row += 1
                        continue
                    }
                    var sourceRow = padded + ky * paddedWidth + kx
                    for _ in 0..<outputHeight {
                        if strideWidth == 1 {
                            // Rows are short (7 to 28 values): an inline copy beats a memmove call
                            // (which the compiler makes of a plain copy loop).
                            copyShortRow(sourceRow, to: destination, count: outputWidth)
                        } else {
                            for ox in 0..<outputWidth { destination[ox] = sourceRow[ox &* strideWidth] }
                        }
                        destination += outputWidth
                        sourceRow += strideHeight * paddedWidth
                    }
                    row += 1
                }
            }
        }
    }
}

/// Adds `columns` [C·KH·KW, B·L] back into `images` [B, C, H, W] (the adjoint of imageToColumns).
///
/// The loop walks `columns` row by row, in memory order, and scatters into the images. The other
/// order (image outermost, as imageToColumns) reads KH·KW·C streams that are B·L apart, which the
/// prefetchers cannot follow: on W4's second convolution that read was latency-bound, 6× slower
/// per entry than im2col. The C·KH·KW rows of one channel all add into the same B image planes,
/// which stay in cache while those rows pass.
func addColumnsToImage(_ columns: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                       into images: UnsafeMutablePointer<Float>) {
    let outputHeight = g.outputHeight, outputWidth = g.outputWidth, positions = outputHeight * outputWidth
    let height = g.height, width = g.width, imageArea = height * width, channels = g.channels
    let strideHeight = g.strideHeight, strideWidth = g.strideWidth
    let kernelHeight = g.kernelHeight, kernelWidth = g.kernelWidth
    let paddingHeight = g.paddingHeight, paddingWidth = g.paddingWidth
    let rowLength = batch * positions
    for channel in 0..<channels {
        for ky in 0..<kernelHeight {
            // The output rows oy whose input row oy·stride − padding + ky lies inside the image.
            let rowOffset = ky - paddingHeight
            let firstRow = min(rowOffset >= 0 ? 0 : (-rowOffset + strideHeight - 1) / strideHeight, outputHeight)
            let endRow = max(min(height - rowOffset <= 0 ? 0 : (height - rowOffset + strideHeight - 1) / strideHeight,
                                 outputHeight), firstRow)
            for kx in 0..<kernelWidth {
                let validColumns = g.validOutputColumns(kernelColumn: kx)
                if validColumns.isEmpty { continue }
                let firstColumn = validColumns.lowerBound, columnCount = validColumns.count
                let columnOffset = kx - paddingWidth
                let columnRow = columns + ((channel * kernelHeight + ky) * kernelWidth + kx) * rowLength
                for image in 0..<batch {
                    let source = columnRow + image * positions
                    let plane = images + (image * channels + channel) * imageArea
                    for oy in firstRow..<endRow {
                        let from = source + oy * outputWidth + firstColumn
                        // Input column of output column firstColumn: firstColumn·stride + columnOffset ≥ 0.
                        let to = plane + (oy * strideHeight + rowOffset) * width + firstColumn * strideWidth + columnOffset
                        if strideWidth == 1 {
                            for index in 0..<columnCount { to[index] += from[index] }
                        } else if strideWidth == 2 {
                            for index in 0..<columnCount { to[index &* 2] += from[index] }
                        } else {
                            for index in 0..<columnCount { to[index &* strideWidth] += from[index] }
                        }
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

/// destination[0..<count] = source[0..<count] in 8-wide vector moves, inline: the rows im2col
/// copies are 7 to 28 values long, and as a loop (or `update(from:)`) each became a call to
/// memmove, 15 % of W4's step time.
@inline(__always)
func copyShortRow(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(destination)
    var offset = 0
    let end = count * MemoryLayout<Float>.stride
    while offset + 32 <= end {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), toByteOffset: offset,
                      as: SIMD8<Float>.self)
        offset += 32
    }
    if offset + 16 <= end {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD4<Float>.self), toByteOffset: offset,
                      as: SIMD4<Float>.self)
        offset += 16
    }
    if offset + 8 <= end {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD2<Float>.self), toByteOffset: offset,
                      as: SIMD2<Float>.self)
        offset += 8
    }
    if offset < end {
        to.storeBytes(of: from.load(fromByteOffset: offset, as: Float.self), toByteOffset: offset, as: Float.self)
    }
}
