import Foundation
import ReptileCore
import ReptileFormats

/// One result line of `reptile bench`, in the format of docs/workloads.md.
public struct BenchResult: Codable, Sendable {
    public var workload: String
    public var metric: String
    public var value: Double
    public var steps: Int
    public var threads: Int
    /// Peak resident memory of the process so far, in MiB.
    public var peakResidentMegabytes: Double
    /// Engine workloads only: the median step, the share of step time inside sgemm, the GFLOP/s
    /// sgemm achieved there, and the tensor blocks newly allocated during the timed steps.
    public var medianStepMilliseconds: Double?
    public var sgemmShare: Double?
    public var sgemmGigaflops: Double?
    public var freshAllocations: Int?

    public init(workload: String, metric: String, value: Double, steps: Int, threads: Int, peakResidentMegabytes: Double) {
        self.workload = workload
        self.metric = metric
        self.value = value
        self.steps = steps
        self.threads = threads
        self.peakResidentMegabytes = peakResidentMegabytes
    }

    enum CodingKeys: String, CodingKey {
        case workload, metric, value, steps, threads
        case peakResidentMegabytes = "peak_rss_mb"
        case medianStepMilliseconds = "median_step_ms"
        case sgemmShare = "sgemm_share"
        case sgemmGigaflops = "sgemm_gflops"
        case freshAllocations = "fresh_allocations"
    }

    /// `{"workload":"W6","metric":"…","value":…,"steps":…,"threads":…,"peak_rss_mb":…}`, keys in the
    /// documented order, then the engine workloads' extra fields when present.
    public var jsonLine: String {
        func number(_ value: Double, digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        var line = "{\"workload\":\"\(workload)\",\"metric\":\"\(metric)\",\"value\":\(number(value)),\"steps\":\(steps),"
            + "\"threads\":\(threads),\"peak_rss_mb\":\(number(peakResidentMegabytes))"
        if let medianStepMilliseconds { line += ",\"median_step_ms\":\(number(medianStepMilliseconds, digits: 2))" }
        if let sgemmShare { line += ",\"sgemm_share\":\(number(sgemmShare, digits: 3))" }
        if let sgemmGigaflops { line += ",\"sgemm_gflops\":\(number(sgemmGigaflops))" }
        if let freshAllocations { line += ",\"fresh_allocations\":\(freshAllocations)" }
        return line + "}"
    }
}

/// The workloads `bench` knows, by name.
public enum Workload: String, CaseIterable, Sendable {
    case w1 = "W1"
    case w2 = "W2"
    case w3 = "W3"
    case w4 = "W4"
    case w5 = "W5"
    case w6 = "W6"
    case w7 = "W7"

    public var summary: String {
        switch self {
        case .w1: "conditional DCGAN training step, batch 64 (D on 64 real + 64 generated, then G): images_per_s"
        case .w2: "class-conditional GRU language-model step (vocabulary 5000, hidden 256), batch 64 × 32 tokens: tokens_per_s"
        case .w3: "PPO iteration of the text generator: sample 64 × 32 tokens, W3 CNN reward, GAE, 4 epochs of minibatches of 32 (10 timed iterations): sequences_per_s"
        case .w4: "CNN classifier training step (4 convolutions, 2 pools, 2 linear; Adam), batch 128: images_per_s"
        case .w5: "pretrained text encoder (MiniLM: 6 layers, hidden 384), batch 32 × 64 tokens: train_sequences_per_s (AdamW 2e-5) and embed_sequences_per_s"
        case .w7: "pretrained causal language model (SmolLM2-135M): train batch 8 × 64 tokens, full AdamW: train_tokens_per_s; 32 prompts × 48 new tokens sampled with the key/value cache: generate_tokens_per_s"
        case .w6: "data path: read 60,000 28×28 images from shards into shuffled float batches of 128; write them as shards; write 10,000 PNGs"
        }
    }
}

/// `engine`: steps, warm-up and threads of W1, W2, W3, W4 and W5. `encoderFolder`: W5's pretrained
/// weights (nil: random ones). `repeats`, `scratch`, `readDataset`: W6 (`readDataset` makes W6 read
/// this dataset's train split instead of its synthetic images).
public func runWorkload(_ workload: Workload, engine: EngineBenchOptions = EngineBenchOptions(), repeats: Int = 5,
                        scratch: String? = nil, readDataset: String? = nil, encoderFolder: String? = nil,
                        languageModelFile: URL? = nil) throws -> [BenchResult] {
    switch workload {
    case .w1: [measureConditionalDCGANStep(engine).result]
    case .w2: [measureTextGeneratorStep(engine).result]
    case .w3: [measureTextPPOIteration(engine).result]
    case .w4: [measureClassifierStep(engine).result]
    case .w5: try measureTextEncoderSteps(engine, encoderFolder: encoderFolder)
    case .w6: try runDataPath(repeats: repeats, scratch: scratch, readDataset: readDataset)
    case .w7: try measureLanguageModelSteps(engine, modelFile: languageModelFile)
    }
}

/// The largest resident set of this process so far (VmHWM), in MiB.
public func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return digits / 1024
    }
    return 0
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// W6. Images are MNIST-like: mostly background with a blob of ink, so they compress as real digits do.
/// Each figure is the median over `repeats` whole passes (a pass's throughput includes every
/// decompression and buffer refill, which a median of single batches would hide).
func runDataPath(repeats: Int, scratch: String?, readDataset: String?) throws -> [BenchResult] {
    let fileManager = FileManager.default
    let root = URL(fileURLWithPath: scratch ?? fileManager.temporaryDirectory.path)
        .appendingPathComponent("reptile-bench-w6-\(getpid())")
    try? fileManager.removeItem(at: root)
    try fileManager.createDirectory(at: root, withIntermediateDirectories: true)
    defer { try? fileManager.removeItem(at: root) }

    let shape = ImageShape(height: 28, width: 28, channels: 1)
    let total = 60_000, shardSize = 10_000, batchSize = 128
    var random = SeededRandom(seed: 6)
    var images = [UInt8](repeating: 0, count: total * shape.pixelCount)
    var labels = [Int64](repeating: 0, count: total)
    for image in 0..<total {
        labels[image] = Int64(random.nextIndex(below: 10))
        let centerX = 8 + random.nextIndex(below: 12), centerY = 8 + random.nextIndex(below: 12)
        for y in 0..<28 {
            for x in 0..<28 {
                let distance = (x - centerX) * (x - centerX) + (y - centerY) * (y - centerY)
                if distance < 30 { images[image * 784 + y * 28 + x] = UInt8(255 - distance * 4 - random.nextIndex(below: 64)) }
            }
        }
    }
    let metadata = { (split: String) in
        ShardMetadata(kind: .image, split: split, classNames: (0..<10).map(String.init), seed: 6, configSHA256: "bench", created: "1970-01-01T00:00:00Z")
    }

    // Write: 6 shards of 10,000 in batches of 128.
    func writeDataset(_ folder: URL) throws {
        try? fileManager.removeItem(at: folder)
        try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
        var summaries: [ShardSummary] = []
        for shard in 0..<(total / shardSize) {
            let path = folder.appendingPathComponent(shardFileName(split: "train", index: shard, count: total / shardSize)).path
            let writer = try ShardWriter(path: path, metadata: metadata("train"), count: shardSize, imageShape: shape)
            for start in stride(from: shard * shardSize, to: (shard + 1) * shardSize, by: batchSize) {
                let end = min(start + batchSize, (shard + 1) * shardSize)
                try writer.appendImages(Array(images[(start * 784)..<(end * 784)]), labels: Array(labels[start..<end]))
            }
            summaries.append(try writer.finish())
        }
        let info = DatasetInfo(name: "bench", kind: .image, imageShape: shape, classNames: (0..<10).map(String.init),
                               splits: ["train": .init(count: total, classCounts: (0..<10).map { label in labels.count { $0 == label } },
                                                       shards: summaries)],
                               source: .init(format: "synthetic", files: [], records: total, processing: [:]),
                               provenance: .init(created: "1970-01-01T00:00:00Z", seed: 6, command: "reptile bench W6", config: .null, configSHA256: "bench"))
        try info.write(to: folder.appendingPathComponent(DatasetInfo.fileName).path)
    }
    var writeRates: [Double] = []
    let dataset = root.appendingPathComponent("dataset")
    for _ in 0..<repeats {
        writeRates.append(Double(total) / (try seconds { try writeDataset(dataset) }))
    }

    // Read: shuffled float batches of 128, whole epochs.
    let (readRate, batches) = try measureShuffledReads(folder: try DatasetFolder(path: readDataset ?? dataset.path), split: "train",
                                                       batchSize: batchSize, repeats: repeats)

    // PNG: 10,000 files.
    var pngRates: [Double] = []
    let pngFolder = root.appendingPathComponent("png")
    for _ in 0..<max(1, min(repeats, 3)) {
        try? fileManager.removeItem(at: pngFolder)
        try fileManager.createDirectory(at: pngFolder, withIntermediateDirectories: true)
        let elapsed = try seconds {
            for index in 0..<10_000 {
                let image = PixelImage(width: 28, height: 28, channels: 1, pixels: Array(images[(index * 784)..<((index + 1) * 784)]))
                try PNGFile.write(image, to: pngFolder.appendingPathComponent("\(index).png").path)
            }
        }
        pngRates.append(10_000 / elapsed)
    }
    let peak = peakResidentMegabytes()
    return [
        BenchResult(workload: "W6", metric: "read_images_per_s", value: readRate, steps: batches, threads: 1, peakResidentMegabytes: peak),
        BenchResult(workload: "W6", metric: "write_h5_images_per_s", value: median(writeRates), steps: repeats * total / batchSize, threads: 1, peakResidentMegabytes: peak),
        BenchResult(workload: "W6", metric: "write_png_images_per_s", value: median(pngRates), steps: pngRates.count * 10_000, threads: 1, peakResidentMegabytes: peak),
    ]
}

/// Images per second served as shuffled [-1, 1] float batches, the median over `repeats` whole epochs.
public func measureShuffledReads(folder: DatasetFolder, split: String, batchSize: Int, repeats: Int) throws -> (rate: Double, batches: Int) {
    let reader = try ShardBatchReader(folder: folder, split: split, batchSize: batchSize, shuffle: true, seed: 1, scale: 2, offset: -1)
    var batch = ShardBatch()
    var rates: [Double] = []
    var batches = 0
    for _ in 0..<repeats {
        reader.startEpoch()
        var served = 0
        let elapsed = try seconds {
            while try reader.next(into: &batch) {
                served += batch.count
                batches += 1
            }
        }
        precondition(served == reader.count, "read \(served) of \(reader.count) records")
        rates.append(Double(served) / elapsed)
    }
    return (median(rates), batches)
}
