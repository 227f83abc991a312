import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats

/// `.OUT.resume/` beside a classifier's output folder: the state of a run that has not finished,
/// kept so that `--resume` continues it where it stopped. The output folder itself still appears
/// only complete; this folder is removed once it has. Ctrl-C keeps it (the epochs are work done).
public final class ResumeFolder {
    public let path: String

    /// A fresh run refuses to start over an unfinished one unless `force` (which removes it);
    /// `resume` needs one. The folder itself appears with the first saved epoch, so a run that
    /// fails before one leaves nothing.
    public init(output: String, resume: Bool, force: Bool) throws {
        let destination = URL(fileURLWithPath: output).standardizedFileURL
        path = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).resume").path
        let exists = FileManager.default.fileExists(atPath: path)
        if resume {
            guard exists else {
                throw ReptileError(path: output, "has no unfinished run to resume"
                                   + (FileManager.default.fileExists(atPath: destination.path) ? " (it is complete)" : ""),
                                   fix: "drop --resume to start a run")
            }
            return
        }
        if exists {
            guard force else {
                throw ReptileError(path: output, "an unfinished run of it is kept in \(path)",
                                   fix: "pass --resume to continue it, or --force to start again")
            }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    public func file(_ name: String) -> String { path + "/" + name }

    /// The run is complete (its output committed): the state is no longer needed.
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Where `trainClassifier` saves its state after an epoch (and resumes from, when the file exists): weights, optimizer moments, random streams, the best epoch's weights, counters and
/// metrics lines, and `fingerprint`, the run's settings and data, which a resumed run must match.
public struct EpochCheckpoint: Sendable {
    public let path: String
    public let fingerprint: String
    /// Epochs shorter than this are not each saved (the first and the last always are).
    static let minimumSeconds: TimeInterval = 10

    public init(path: String, fingerprint: String) {
        self.path = path
        self.fingerprint = fingerprint
    }
}

/// The training loop's own counters, saved as one JSON attribute.
struct TrainingLoopState: Codable {
    var epochsWithoutImprovement: Int
    var bestEpoch: Int
    var bestAccuracy: Double
    var bestLoss: Double
    var outcome: TrainingOutcome
    var metricsLines: [String]
}

/// The best epoch's weights, saved beside the current ones as `best.NAME`.
final class BestWeights: Layer {
    let parameters: [Variable]

    init(like model: any TrainableClassifier, values: [[Float]]? = nil) {
        parameters = model.parameters.enumerated().map { index, parameter in
            Variable(values.map { Tensor(shape: parameter.shape, values: $0[index]) } ?? Tensor(zeros: parameter.shape),
                     name: "best." + (parameter.name ?? "parameter\(index)"))
        }
    }
}

enum EpochCheckpointNames {
    static let fingerprint = "resume_fingerprint"
    static let loop = "training_loop"
    static let dropout = "dropout"
    static let augment = "augment"
}

extension EpochCheckpoint {
    func save(model: any TrainableClassifier, optimization: any ClassifierOptimization, epoch: Int, step: Int,
              randoms: (dropout: SeededRandom, augment: SeededRandom), bestWeights: [[Float]], loop: TrainingLoopState) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ReptileError(path: folder, "cannot create the folder (\(error.localizedDescription))", fix: "check the permissions of --out's parent")
        }
        let progress = TrainingProgress(step: Int64(step), epoch: Int64(epoch),
                                        randoms: [EpochCheckpointNames.dropout: randoms.dropout, EpochCheckpointNames.augment: randoms.augment],
                                        attributes: [EpochCheckpointNames.fingerprint: fingerprint,
                                                     EpochCheckpointNames.loop: try StableJSON.string(loop)])
        try ModelCheckpoint.save(to: path, layers: [model, BestWeights(like: model, values: bestWeights)],
                                 optimizers: optimization.optimizers, progress: progress)
        InterruptCleanup.keptNote = "the epochs done are kept in \(folder): the same command with --resume continues"
    }

    /// Loads the state into `model` and `optimization`; nil when there is none yet.
    func restore(model: any TrainableClassifier, optimization: any ClassifierOptimization) throws
        -> (epoch: Int, step: Int, randoms: (dropout: SeededRandom, augment: SeededRandom), bestWeights: [[Float]], loop: TrainingLoopState)? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let saved = try CheckpointFile.read(at: path)
        guard saved.attributes[EpochCheckpointNames.fingerprint] == fingerprint else {
            throw ReptileError(path: path, "the unfinished run was started with other settings or data"
                               + differingKeys(saved.attributes[EpochCheckpointNames.fingerprint] ?? "{}", fingerprint),
                               fix: "resume with the command it was started with, or pass --force instead of --resume to start again")
        }
        let best = BestWeights(like: model)
        let loaded = try ModelCheckpoint.load(from: path, into: [model, best], optimizers: optimization.optimizers)
        guard let loopText = loaded.progress.attributes[EpochCheckpointNames.loop],
              let loop = try? StableJSON.decode(TrainingLoopState.self, from: Data(loopText.utf8)),
              let dropout = loaded.progress.randoms[EpochCheckpointNames.dropout],
              let augment = loaded.progress.randoms[EpochCheckpointNames.augment] else {
            throw ReptileError(path: path, "is not a classifier's training state", fix: "pass --force instead of --resume to start again")
        }
        return (Int(loaded.progress.epoch), Int(loaded.progress.step), (dropout, augment), best.parameters.map(\.value.scalars), loop)
    }
}

/// " (differs: settings, data)": the top-level keys of two JSON objects whose values differ.
private func differingKeys(_ first: String, _ second: String) -> String {
    func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }
    let a = object(first), b = object(second)
    let keys = Set(a.keys).union(b.keys).filter { key in
        guard let left = a[key] as? NSObject, let right = b[key] as? NSObject else { return true }
        return !left.isEqual(right)
    }
    return keys.isEmpty ? "" : " (differs: \(keys.sorted().joined(separator: ", ")))"
}

/// What a resumed run must share with the run it continues: the stage, the data (each dataset's
/// content sha256, so the same data ingested again still resumes) and every setting that shapes
/// training. Threads may differ (then the result is not bit-identical to an uninterrupted run).
struct ResumeFingerprint: Encodable {
    var stage: String
    var data: [String]
    var settings: TrainingSettings
    var validationFraction: Double
    var text: TextModelOptions?
    var start: String? = nil
    var scratch: Bool? = nil
    var mix: Double? = nil
    var repeats: Int? = nil

    func json() throws -> String { try StableJSON.string(self) }
}
