import ReptileCore

/// One batch of a split: labels and either float images (B × H × W × C, channel-last) or texts.
public struct ShardBatch {
    public var labels: [Int64] = []
    public var images: [Float] = []
    public var texts: [String] = []
    public var count: Int { labels.count }
    public init() {}
}

/// Reads a split in batches for training, in a seeded shuffled order, with memory bounded by a
/// buffer of a few chunks rather than by the dataset.
///
/// Shuffling is by blocks: the split is cut into blocks aligned with the images' HDF5 chunks (so
/// each chunk is decompressed once an epoch), the blocks' order is shuffled, and `bufferBlocks`
/// blocks at a time are pooled and shuffled row by row. Without `shuffle`, records come in shard order.
public final class ShardBatchReader {
    public let batchSize: Int
    public let imageShape: ImageShape?
    public let count: Int
    private let shards: [ShardReader]
    private let shuffle: Bool
    private let random: SeededRandom
    private let bufferBlocks: Int
    private let scale: Float
    private let offset: Float
    /// Records to serve, by their position in the split (shards in order); nil serves all.
    private let keep: ((Int) -> Bool)?
    private var shardStarts: [Int] = []
    private var blocks: [(shard: Int, rows: Range<Int>)] = []
    private var nextBlock = 0
    private var epoch = -1
    private var poolLabels: [Int64] = []
    private var poolPixels: [UInt8] = []
    private var poolTexts: [String] = []
    private var poolOrder: [Int] = []
    private var poolPosition = 0

    /// Pixels become `value / 255 * scale + offset`: [0, 1] by default, [-1, 1] with scale 2 and offset -1.
    /// `keep` selects records by their position in the split (a held-out validation slice is the
    /// complement of the training one); the others are skipped as they are read.
    public init(folder: DatasetFolder, split: String, batchSize: Int, shuffle: Bool, seed: UInt64,
                bufferBlocks: Int = 8, scale: Float = 1, offset: Float = 0, keep: ((Int) -> Bool)? = nil) throws {
        precondition(batchSize > 0 && bufferBlocks > 0, "batch size and buffer must be positive")
        shards = try folder.shards(of: split)
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.random = SeededRandom(seed: seed).derived("batches/\(split)")
        self.bufferBlocks = bufferBlocks
        self.scale = scale
        self.offset = offset
        self.keep = keep
        imageShape = shards.first?.imageShape
        var start = 0
        for shard in shards {
            shardStarts.append(start)
            start += shard.count
        }
        count = keep.map { keep in (0..<start).reduce(0) { $0 + (keep($1) ? 1 : 0) } } ?? start
        for (index, shard) in shards.enumerated() {
            let blockRows = shard.imageShape == nil ? 4096 : max(1, ShardWriter.imageChunkShape(count: shard.count, shape: shard.imageShape!)[0])
            for start in stride(from: 0, to: shard.count, by: blockRows) {
                blocks.append((index, start..<min(shard.count, start + blockRows)))
            }
        }
        startEpoch()
    }

    /// Starts the next epoch (a new shuffled order); `next` does this by itself at the end of one.
    public func startEpoch() {
        epoch += 1
        nextBlock = 0
        poolLabels.removeAll(keepingCapacity: true)
        poolPixels.removeAll(keepingCapacity: true)
        poolTexts.removeAll(keepingCapacity: true)
        poolOrder.removeAll(keepingCapacity: true)
        poolPosition = 0
        if shuffle {
            var order = random.derived("epoch/\(epoch)")
            order.shuffle(&blocks)
        } else {
            blocks.sort { ($0.shard, $0.rows.lowerBound) < ($1.shard, $1.rows.lowerBound) }
        }
    }

    /// Fills `batch` (reusing its storage) with the next batch of this epoch; false at the epoch's
    /// end. The last batch of an epoch may be smaller.
    public func next(into batch: inout ShardBatch) throws -> Bool {
        if poolOrder.count - poolPosition < batchSize && nextBlock < blocks.count { try refillPool() }
        let available = poolOrder.count - poolPosition
        guard available > 0 else { return false }
        let taken = min(batchSize, available)
        batch.labels.removeAll(keepingCapacity: true)
        batch.texts.removeAll(keepingCapacity: true)
        if let shape = imageShape {
            let size = shape.pixelCount
            if batch.images.count != taken * size { batch.images = [Float](repeating: 0, count: taken * size) }
            let factor = scale / 255
            batch.images.withUnsafeMutableBufferPointer { target in
                poolPixels.withUnsafeBufferPointer { source in
                    for slot in 0..<taken {
                        let row = poolOrder[poolPosition + slot]
                        let from = row * size, to = slot * size
                        for index in 0..<size { target[to + index] = Float(source[from + index]) * factor + offset }
                    }
                }
            }
        } else {
            batch.images.removeAll(keepingCapacity: true)
            for slot in 0..<taken { batch.texts.append(poolTexts[poolOrder[poolPosition + slot]]) }
        }
        for slot in 0..<taken { batch.labels.append(poolLabels[poolOrder[poolPosition + slot]]) }
        poolPosition += taken
        return true
    }

    /// Drops the rows already served, reads the next `bufferBlocks` blocks, and reshuffles the pool.
    private func refillPool() throws {
        let size = imageShape?.pixelCount ?? 0
        let remaining = Array(poolOrder[poolPosition...])
        var labels = remaining.map { poolLabels[$0] }
        var pixels = [UInt8]()
        pixels.reserveCapacity((remaining.count + bufferBlocks * 1024) * size)
        for row in remaining where size > 0 { pixels += poolPixels[(row * size)..<((row + 1) * size)] }
        var texts = imageShape == nil ? remaining.map { poolTexts[$0] } : []
        for _ in 0..<bufferBlocks where nextBlock < blocks.count {
            let block = blocks[nextBlock]
            nextBlock += 1
            let shard = shards[block.shard]
            let blockLabels = try shard.labels(block.rows)
            let blockPixels = imageShape != nil ? try shard.images(block.rows) : []
            let blockTexts = imageShape == nil ? try shard.texts(block.rows) : []
            guard let keep else {
                labels += blockLabels
                pixels += blockPixels
                texts += blockTexts
                continue
            }
            for (offset, row) in block.rows.enumerated() where keep(shardStarts[block.shard] + row) {
                labels.append(blockLabels[offset])
                if size > 0 { pixels += blockPixels[(offset * size)..<((offset + 1) * size)] } else { texts.append(blockTexts[offset]) }
            }
        }
        poolLabels = labels
        poolPixels = pixels
        poolTexts = texts
        poolOrder = Array(0..<labels.count)
        poolPosition = 0
        if shuffle {
            var order = random.derived("epoch/\(epoch)/pool/\(nextBlock)")
            order.shuffle(&poolOrder)
        }
    }
}
