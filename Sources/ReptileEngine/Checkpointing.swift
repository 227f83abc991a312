import Foundation
import ReptileCore
import ReptileFormats

// Saving and loading a model (parameters and buffers), its optimizers' state and the training
// progress, in the checkpoint format of ReptileFormats/Checkpoint.swift:
//
//   classifier/conv1/weight              a parameter or a buffer, under its dotted name
//   optimizer/classifier/conv1/weight/m  Adam/AdamW first moment (v: second moment)
//   optimizer/classifier/conv1/weight/momentum_buffer   SGD velocity (momentum > 0)
//
// Root attributes besides the format's own: `step`, `epoch`, `config` (JSON, when given),
// `optimizers` (JSON list of the optimizer names), per optimizer `<name>.kind` (adam, adamw, sgd),
// `<name>.step` (Adam's update count; SGD: 1 once the velocity is started), `<name>.learning_rate`
// (the current rate, exact as text) and `<name>.hyperparameters` (JSON, for reading), and per
// random stream `random.<name>.0` … `.3` (the four xoshiro256** words as int64 bit patterns).

/// Where training stands: saved with a checkpoint, returned when it is loaded.
public struct TrainingProgress {
    public var step: Int64
    public var epoch: Int64
    /// Named random streams (data shuffling, noise, dropout) to resume exactly.
    public var randoms: [String: SeededRandom]
    /// Further root attributes of the caller's own (names must not clash with the format's).
    public var attributes: [String: String]
    public var integerAttributes: [String: Int64]

    public init(step: Int64 = 0, epoch: Int64 = 0, randoms: [String: SeededRandom] = [:],
                attributes: [String: String] = [:], integerAttributes: [String: Int64] = [:]) {
        self.step = step
        self.epoch = epoch
        self.randoms = randoms
        self.attributes = attributes
        self.integerAttributes = integerAttributes
    }
}

/// What `ModelCheckpoint.load` hands back besides filling the model and optimizers.
public struct LoadedCheckpoint {
    public var progress: TrainingProgress
    /// The model's config (JSON) as saved, if any.
    public var config: String?
    public var toolVersion: String?
}

public enum ModelCheckpoint {
    /// The name of the optimizer given to the single-optimizer `save` / `load`.
    public static let defaultOptimizerName = "optimizer"

    static let stepAttribute = "step"
    static let epochAttribute = "epoch"
    static let optimizersAttribute = "optimizers"
    static let randomPrefix = "random."

    // MARK: Saving

    /// Saves one model and (optionally) its optimizer, whose state goes under `optimizer/…`.
    public static func save(to path: String, model: any Layer, optimizer: (any Optimizer)? = nil,
                            progress: TrainingProgress = TrainingProgress(), config: String? = nil) throws {
        try save(to: path, layers: [model], optimizers: optimizer.map { [defaultOptimizerName: $0] } ?? [:],
                 progress: progress, config: config)
    }

    /// Saves several models (a GAN's generator and discriminator) and named optimizers, each
    /// optimizer's state under `<its name>/…`.
    public static func save(to path: String, layers: [any Layer], optimizers: [String: any Optimizer],
                            progress: TrainingProgress = TrainingProgress(), config: String? = nil) throws {
        var tensors = try modelVariables(layers, path: path).map { variable in
            NamedTensor(name: variable.name!, shape: variable.shape, values: variable.value.scalars)
        }
        var attributes = progress.attributes
        var integers = progress.integerAttributes
        integers[stepAttribute] = progress.step
        integers[epochAttribute] = progress.epoch
        if let config { attributes[CheckpointFile.configAttribute] = config }
        for (name, random) in progress.randoms {
            for (index, word) in random.stateWords.enumerated() {
                integers["\(randomPrefix)\(name).\(index)"] = Int64(bitPattern: word)
            }
        }
        let optimizerNames = optimizers.keys.sorted()
        for name in optimizerNames where name.isEmpty || name.contains("/") || name.hasPrefix(".") || name.hasSuffix(".") {
            throw ReptileError(path: path, "optimizer name \(quoted(name)) cannot name a group", fix: "use a name such as \"optimizer\"")
        }
        attributes[optimizersAttribute] = try StableJSON.string(optimizerNames)
        for optimizerName in optimizerNames {
            let optimizer = optimizers[optimizerName]!
            let state = try OptimizerState(optimizer, path: path)
            attributes["\(optimizerName).kind"] = state.kind
            attributes["\(optimizerName).learning_rate"] = "\(optimizer.learningRate)"
            attributes["\(optimizerName).hyperparameters"] = state.hyperparameters
            integers["\(optimizerName).step"] = state.step
            for slot in state.slots {
                tensors.append(NamedTensor(name: "\(optimizerName).\(slot.name)", shape: slot.tensor.shape, values: slot.tensor.scalars))
            }
        }
        try CheckpointFile.write(to: path, tensors: tensors, attributes: attributes, integerAttributes: integers)
    }

    // MARK: Loading

    /// Loads into one model and (optionally) its optimizer. Names and shapes are all checked
    /// first; any difference throws one error listing every mismatch, and nothing is changed.
    @discardableResult
    public static func load(from path: String, into model: any Layer, optimizer: (any Optimizer)? = nil) throws -> LoadedCheckpoint {
        try load(from: path, into: [model], optimizers: optimizer.map { [defaultOptimizerName: $0] } ?? [:])
    }

    /// Loads into several models and named optimizers. Optimizer state in the file for an
    /// optimizer not given is ignored (loading weights for inference), and so are the tensors
    /// under each of `ignoring` (e.g. `["discriminator"]` to load only a GAN's generator).
    @discardableResult
    public static func load(from path: String, into layers: [any Layer], optimizers: [String: any Optimizer] = [:],
                            ignoring ignoredModels: [String] = []) throws -> LoadedCheckpoint {
        let checkpoint = try CheckpointFile.read(at: path)
        var mismatches: [String] = []

        // What the caller's objects expect: a name, a shape and where the values go.
        var expected: [(name: String, shape: [Int], write: ([Float]) -> Void)] = []
        for variable in try modelVariables(layers, path: path) {
            expected.append((variable.name!, variable.shape, { variable.value.copyIn($0) }))
        }
        var optimizerStates: [(name: String, state: OptimizerState, optimizer: any Optimizer)] = []
        for optimizerName in optimizers.keys.sorted() {
            let optimizer = optimizers[optimizerName]!
            let state = try OptimizerState(optimizer, path: path)
            optimizerStates.append((optimizerName, state, optimizer))
            for slot in state.slots {
                expected.append(("\(optimizerName).\(slot.name)", slot.tensor.shape, slot.write))
            }
            if let kind = checkpoint.attributes["\(optimizerName).kind"] {
                if kind != state.kind {
                    mismatches.append("optimizer \(quoted(optimizerName)) is \(kind) in the file but \(state.kind) here")
                }
                if checkpoint.integerAttributes["\(optimizerName).step"] == nil {
                    mismatches.append("optimizer \(quoted(optimizerName)) has no step count in the file")
                }
            } else {
                mismatches.append("optimizer \(quoted(optimizerName)) missing in file")
            }
        }

        // Optimizer state the caller did not ask for is not "unexpected".
        let savedOptimizers = checkpoint.attributes[optimizersAttribute]
            .flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        let ignoredPrefixes = (savedOptimizers.filter { optimizers[$0] == nil } + ignoredModels).map { "\($0)." }

        let found = Dictionary(checkpoint.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let expectedNames = Set(expected.map(\.name))
        var missing: [String] = [], differing: [String] = []
        for item in expected {
            guard let tensor = found[item.name] else {
                missing.append("\(item.name) \(item.shape)")
                continue
            }
            if tensor.shape != item.shape {
                differing.append("\(item.name) expected \(item.shape), found \(tensor.shape)")
            }
        }
        let unexpected = checkpoint.tensors
            .filter { !expectedNames.contains($0.name) && !ignoredPrefixes.contains(where: $0.name.hasPrefix) }
            .map { "\($0.name) \($0.shape)" }
        if !missing.isEmpty { mismatches.append("missing in file: " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty { mismatches.append("unexpected in file: " + unexpected.joined(separator: ", ")) }
        if !differing.isEmpty { mismatches.append("shape differs: " + differing.joined(separator: ", ")) }

        var progress = TrainingProgress(step: checkpoint.integerAttributes[stepAttribute] ?? 0,
                                        epoch: checkpoint.integerAttributes[epochAttribute] ?? 0)
        var randomWords: [String: [Int: UInt64]] = [:]
        for (key, value) in checkpoint.integerAttributes where key.hasPrefix(randomPrefix) {
            let rest = key.dropFirst(randomPrefix.count)
            guard let dot = rest.lastIndex(of: "."), let index = Int(rest[rest.index(after: dot)...]) else { continue }
            randomWords[String(rest[..<dot]), default: [:]][index] = UInt64(bitPattern: value)
        }
        for (name, words) in randomWords {
            guard let random = SeededRandom(stateWords: (0..<4).compactMap { words[$0] }) else {
                mismatches.append("random stream \(quoted(name)) has an invalid state")
                continue
            }
            progress.randoms[name] = random
        }

        guard mismatches.isEmpty else {
            let listed = [missing, unexpected, differing].filter { !$0.isEmpty }
            let count = mismatches.count - listed.count + listed.reduce(0) { $0 + $1.count }
            throw ReptileError(path: path, "does not fit the model (\(count) mismatch\(count == 1 ? "" : "es")): "
                               + mismatches.joined(separator: "; "),
                               fix: "load it into a model built with the config it was saved with")
        }

        // Everything fits: copy the values in.
        for item in expected { item.write(found[item.name]!.values) }
        for (name, _, optimizer) in optimizerStates {
            let step = checkpoint.integerAttributes["\(name).step"] ?? 0
            if let adam = optimizer as? Adam { adam.stepCount = Int(step) }
            if let sgd = optimizer as? SGD { sgd.isFirstStep = step == 0 }
            if let rate = checkpoint.attributes["\(name).learning_rate"].flatMap(Float.init) { optimizer.learningRate = rate }
        }
        let reserved = CheckpointFile.reservedAttributeNames
            .union([stepAttribute, epochAttribute, optimizersAttribute, CheckpointFile.configAttribute])
        let optimizerPrefixes = savedOptimizers.map { "\($0)." }
        func isOwn(_ key: String) -> Bool {
            reserved.contains(key) || key.hasPrefix(randomPrefix) || optimizerPrefixes.contains(where: key.hasPrefix)
        }
        progress.attributes = checkpoint.attributes.filter { !isOwn($0.key) }
        progress.integerAttributes = checkpoint.integerAttributes.filter { !isOwn($0.key) }
        return LoadedCheckpoint(progress: progress, config: checkpoint.config,
                                toolVersion: checkpoint.attributes[CheckpointFile.toolVersionAttribute])
    }

    // MARK: Helpers

    /// Parameters then buffers of every layer, each once, every one named and no name twice.
    static func modelVariables(_ layers: [any Layer], path: String) throws -> [Variable] {
        var seen = Set<ObjectIdentifier>()
        var names: [String: Int] = [:]
        var result: [Variable] = []
        for layer in layers {
            for variable in layer.parameters + layer.buffers where seen.insert(ObjectIdentifier(variable)).inserted {
                guard let name = variable.name else {
                    throw ReptileError(path: path, "a parameter of shape \(variable.shape) has no name", fix: "name every parameter and buffer")
                }
                names[name, default: 0] += 1
                result.append(variable)
            }
        }
        let duplicates = names.filter { $0.value > 1 }.keys.sorted()
        guard duplicates.isEmpty else {
            throw ReptileError(path: path, "several parameters are named \(duplicates.map { quoted($0) }.joined(separator: ", "))",
                               fix: "give every parameter and buffer a unique name")
        }
        return result
    }
}

/// An optimizer's saved state: its kind, step, hyperparameters and per-parameter tensors.
struct OptimizerState {
    struct Slot {
        var name: String
        var tensor: Tensor
        var write: ([Float]) -> Void
    }
    var kind: String
    var step: Int64
    var hyperparameters: String
    var slots: [Slot] = []

    init(_ optimizer: any Optimizer, path: String) throws {
        func parameterName(_ index: Int) throws -> String {
            guard let name = optimizer.parameters[index].name else {
                throw ReptileError(path: path, "an optimized parameter of shape \(optimizer.parameters[index].shape) has no name",
                                   fix: "name every parameter")
            }
            return name
        }
        switch optimizer {
        case let adam as Adam:
            kind = adam is AdamW ? "adamw" : "adam"
            step = Int64(adam.stepCount)
            hyperparameters = "{\"beta1\":\(adam.beta1),\"beta2\":\(adam.beta2),\"epsilon\":\(adam.epsilon),\"weight_decay\":\(adam.weightDecay)}"
            for index in adam.parameters.indices {
                let name = try parameterName(index)
                slots.append(Slot(name: "\(name).m", tensor: adam.firstMoments[index]) { adam.firstMoments[index].copyIn($0) })
                slots.append(Slot(name: "\(name).v", tensor: adam.secondMoments[index]) { adam.secondMoments[index].copyIn($0) })
            }
        case let sgd as SGD:
            kind = "sgd"
            step = sgd.isFirstStep ? 0 : 1
            hyperparameters = "{\"momentum\":\(sgd.momentum),\"weight_decay\":\(sgd.weightDecay)}"
            if sgd.momentum > 0 {
                for index in sgd.parameters.indices {
                    let name = try parameterName(index)
                    slots.append(Slot(name: "\(name).momentum_buffer", tensor: sgd.velocities[index]) { sgd.velocities[index].copyIn($0) })
                }
            }
        default:
            throw ReptileError(path: path, "cannot save the state of optimizer \(type(of: optimizer))", fix: "use Adam, AdamW or SGD")
        }
    }
}

extension Tensor {
    /// Overwrites every value in place (the count was checked against the shape before).
    mutating func copyIn(_ values: [Float]) {
        precondition(values.count == count, "copying \(values.count) values into a tensor of shape \(shape)")
        guard count > 0 else { return }
        withUnsafeMutableBufferPointer { destination in
            values.withUnsafeBufferPointer { source in
                destination.baseAddress!.update(from: source.baseAddress!, count: source.count)
            }
        }
    }
}
