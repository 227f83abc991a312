import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileEngine

/// A small network with every kind of saved state: convolution and linear parameters, batch-norm
/// running statistics (buffers), and dropout that draws from a random stream.
final class CheckpointTestNet: Layer {
    let convolution: Conv2d
    let norm: BatchNorm
    let hidden: Linear
    let extra: Linear?
    let output: Linear
    let dropout = Dropout(probability: 0.25)

    init(hiddenSize: Int = 8, extraLayer: Bool = false, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        convolution = Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, name: "net.conv1", random: &random)
        norm = BatchNorm(featureCount: 4, name: "net.norm1")
        hidden = Linear(inputSize: 4 * 4 * 4, outputSize: hiddenSize, name: "net.fc1", random: &random)
        extra = extraLayer ? Linear(inputSize: hiddenSize, outputSize: hiddenSize, name: "net.fc_extra", random: &random) : nil
        output = Linear(inputSize: hiddenSize, outputSize: 3, name: "net.fc2", random: &random)
    }

    var layers: [any Layer] { [convolution, norm, hidden] + (extra.map { [$0] } ?? []) + [output] }
    var parameters: [Variable] { layers.flatMap(\.parameters) }
    var buffers: [Variable] { layers.flatMap(\.buffers) }

    /// images [B, 1, 8, 8] → logits [B, 3].
    func callAsFunction(_ images: Variable, random: inout SeededRandom) -> Variable {
        var x = maxPool2d(relu(norm(convolution(images))), kernelSize: 2)
        x = dropout(relu(hidden(reshape(x, [images.shape[0], -1]))), random: &random)
        if let extra { x = relu(extra(x)) }
        return output(x)
    }
}

enum CheckpointTesting {
    /// A batch of 8×8 images and labels drawn from `random` (the data stream).
    static func batch(_ random: inout SeededRandom, size: Int = 4) -> (images: Tensor, labels: [Int]) {
        let images = Tensor(normalShape: [size, 1, 8, 8], random: &random)
        let labels = (0..<size).map { _ in random.nextIndex(below: 3) }
        return (images, labels)
    }

    /// One training step of the test net; data and dropout masks come from `random`.
    static func step(_ net: CheckpointTestNet, _ optimizer: any Optimizer, _ random: inout SeededRandom) {
        let (images, labels) = batch(&random)
        optimizer.zeroGradients()
        let loss = crossEntropy(logits: net(Variable(images), random: &random), labels: labels)
        loss.backward()
        optimizer.step()
    }

    static func bits(_ variables: [Variable]) -> [[UInt32]] {
        variables.map { $0.value.scalars.map(\.bitPattern) }
    }

    static func bits(_ tensors: [Tensor]) -> [[UInt32]] {
        tensors.map { $0.scalars.map(\.bitPattern) }
    }

    static let config = #"{"hidden_size":8,"image_size":8,"model":"checkpoint-test-net"}"#
}

@Suite struct EngineCheckpointRoundTripTests {
    @Test func parametersBuffersAdamStateStepAndRandomStateComeBackBitExact() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("model.h5").path

        let net = CheckpointTestNet(seed: 1)
        let adam = AdamW(parameters: net.parameters, learningRate: 3e-3)
        var random = SeededRandom(seed: 7)
        for _ in 0..<3 { CheckpointTesting.step(net, adam, &random) }
        adam.learningRate = 1.2345e-3 // as a schedule would have left it
        try ModelCheckpoint.save(to: path, model: net, optimizer: adam,
                                 progress: TrainingProgress(step: 3, epoch: 1, randoms: ["data": random],
                                                            attributes: ["run": "test"], integerAttributes: ["seed": 7]),
                                 config: CheckpointTesting.config)

        // A model built from another seed, and a fresh optimizer: everything must be overwritten.
        let restored = CheckpointTestNet(seed: 99)
        let restoredAdam = AdamW(parameters: restored.parameters, learningRate: 3e-3)
        #expect(CheckpointTesting.bits(restored.parameters) != CheckpointTesting.bits(net.parameters))
        let loaded = try ModelCheckpoint.load(from: path, into: restored, optimizer: restoredAdam)

        #expect(CheckpointTesting.bits(restored.parameters) == CheckpointTesting.bits(net.parameters))
        #expect(CheckpointTesting.bits(restored.buffers) == CheckpointTesting.bits(net.buffers))
        // The running statistics moved away from their initial 0 / 1, so the buffers were really saved.
        #expect(net.norm.statistics.mean.value.scalars.contains { $0 != 0 })
        #expect(CheckpointTesting.bits(restoredAdam.firstMoments) == CheckpointTesting.bits(adam.firstMoments))
        #expect(CheckpointTesting.bits(restoredAdam.secondMoments) == CheckpointTesting.bits(adam.secondMoments))
        #expect(restoredAdam.stepCount == 3)
        #expect(restoredAdam.learningRate.bitPattern == Float(1.2345e-3).bitPattern)
        #expect(loaded.progress.step == 3 && loaded.progress.epoch == 1)
        #expect(loaded.progress.attributes == ["run": "test"])
        #expect(loaded.progress.integerAttributes == ["seed": 7])
        #expect(loaded.config == CheckpointTesting.config)
        #expect(loaded.toolVersion == ReptileVersion.current)
        var resumed = try #require(loaded.progress.randoms["data"])
        for _ in 0..<5 { #expect(resumed.next() == random.next()) }
    }

    @Test func theW4ClassifierRoundTripsWithAdamAndLoadsWithoutItsOptimizer() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("classifier.h5").path
        var random = SeededRandom(seed: 3)
        let trainer = ClassifierTrainer(model: ConvolutionalClassifier(imageSize: 8, classCount: 3, random: &random))
        var data = SeededRandom(seed: 4)
        for _ in 0..<2 {
            let (images, labels) = CheckpointTesting.batch(&data)
            trainer.step(images: images, labels: labels)
        }
        try ModelCheckpoint.save(to: path, model: trainer.model, optimizer: trainer.optimizer, progress: TrainingProgress(step: 2))

        var other = SeededRandom(seed: 5)
        let restored = ClassifierTrainer(model: ConvolutionalClassifier(imageSize: 8, classCount: 3, random: &other))
        try ModelCheckpoint.load(from: path, into: restored.model, optimizer: restored.optimizer)
        #expect(CheckpointTesting.bits(restored.model.parameters) == CheckpointTesting.bits(trainer.model.parameters))
        #expect(CheckpointTesting.bits(restored.optimizer.firstMoments) == CheckpointTesting.bits(trainer.optimizer.firstMoments))
        #expect(CheckpointTesting.bits(restored.optimizer.secondMoments) == CheckpointTesting.bits(trainer.optimizer.secondMoments))
        #expect(restored.optimizer.stepCount == 2)

        // For inference the optimizer state in the file is simply not asked for.
        var third = SeededRandom(seed: 6)
        let inference = ConvolutionalClassifier(imageSize: 8, classCount: 3, random: &third)
        let loaded = try ModelCheckpoint.load(from: path, into: inference)
        #expect(CheckpointTesting.bits(inference.parameters) == CheckpointTesting.bits(trainer.model.parameters))
        #expect(loaded.progress.step == 2)
    }

    @Test func writingTheSameModelTwiceGivesByteIdenticalFiles() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let net = CheckpointTestNet(seed: 1)
        let adam = Adam(parameters: net.parameters)
        var random = SeededRandom(seed: 2)
        CheckpointTesting.step(net, adam, &random)
        let first = folder.appendingPathComponent("a.h5").path, second = folder.appendingPathComponent("b.h5").path
        let progress = TrainingProgress(step: 1, randoms: ["data": random])
        try ModelCheckpoint.save(to: first, model: net, optimizer: adam, progress: progress, config: CheckpointTesting.config)
        Thread.sleep(forTimeInterval: 1.1) // a time stamp, if any were written, would now differ
        try ModelCheckpoint.save(to: second, model: net, optimizer: adam, progress: progress, config: CheckpointTesting.config)
        let firstBytes = try Data(contentsOf: URL(fileURLWithPath: first))
        #expect(firstBytes == (try Data(contentsOf: URL(fileURLWithPath: second))))
        #expect(try SHA256.hex(ofFileAt: first) == SHA256.hex(ofFileAt: second))
    }
}

@Suite struct EngineCheckpointResumeTests {
    /// Six steps straight through against three steps, save, load into fresh objects, three more.
    private func resumeMatchesAnUninterruptedRun(makeOptimizer: ([Variable]) -> any Optimizer) throws {
        // Pinned for this task: tests running alongside change the process-wide thread count.
        try BLAS.$taskThreadCount.withValue(1) { try compareResumedAndUninterruptedRuns(makeOptimizer: makeOptimizer) }
    }

    private func compareResumedAndUninterruptedRuns(makeOptimizer: ([Variable]) -> any Optimizer) throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("resume.h5").path

        let straight = CheckpointTestNet(seed: 11)
        let straightOptimizer = makeOptimizer(straight.parameters)
        var straightRandom = SeededRandom(seed: 12)
        for _ in 0..<6 { CheckpointTesting.step(straight, straightOptimizer, &straightRandom) }

        let before = CheckpointTestNet(seed: 11)
        let beforeOptimizer = makeOptimizer(before.parameters)
        var beforeRandom = SeededRandom(seed: 12)
        for _ in 0..<3 { CheckpointTesting.step(before, beforeOptimizer, &beforeRandom) }
        try ModelCheckpoint.save(to: path, model: before, optimizer: beforeOptimizer,
                                 progress: TrainingProgress(step: 3, randoms: ["train": beforeRandom]))

        let after = CheckpointTestNet(seed: 999)
        let afterOptimizer = makeOptimizer(after.parameters)
        let loaded = try ModelCheckpoint.load(from: path, into: after, optimizer: afterOptimizer)
        var afterRandom = try #require(loaded.progress.randoms["train"])
        for _ in Int(loaded.progress.step)..<6 { CheckpointTesting.step(after, afterOptimizer, &afterRandom) }

        #expect(CheckpointTesting.bits(after.parameters) == CheckpointTesting.bits(straight.parameters))
        #expect(CheckpointTesting.bits(after.buffers) == CheckpointTesting.bits(straight.buffers))
        // And the run really moved after the checkpoint (not a trivially equal comparison).
        #expect(CheckpointTesting.bits(after.parameters) != CheckpointTesting.bits(before.parameters))
    }

    @Test func adamTrainingResumedFromACheckpointIsBitIdentical() throws {
        try resumeMatchesAnUninterruptedRun { Adam(parameters: $0, learningRate: 1e-2) }
    }

    @Test func adamWTrainingResumedFromACheckpointIsBitIdentical() throws {
        try resumeMatchesAnUninterruptedRun { AdamW(parameters: $0, learningRate: 1e-2, weightDecay: 0.1) }
    }

    @Test func sgdWithMomentumResumedFromACheckpointIsBitIdentical() throws {
        try resumeMatchesAnUninterruptedRun { SGD(parameters: $0, learningRate: 0.05, momentum: 0.9) }
    }
}

@Suite struct EngineCheckpointInteroperabilityTests {
    static let script = #"""
    import h5py, json, sys, numpy as np
    path, expected_path = sys.argv[1], sys.argv[2]
    expected = json.load(open(expected_path))
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "reptile-checkpoint", f.attrs["format"]
        assert int(f.attrs["schema_version"]) == 1
        assert isinstance(f.attrs["tool_version"], str)
        assert json.loads(f.attrs["config"])["model"] == "checkpoint-test-net"
        assert int(f.attrs["step"]) == 3 and int(f.attrs["epoch"]) == 2
        names = json.loads(f.attrs["tensor_names"])
        assert names == list(expected.keys()), (names, list(expected.keys()))
        found = []
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert sorted(found) == sorted(n.replace(".", "/") for n in names), (found, names)
        for name, item in expected.items():
            dataset = f[name.replace(".", "/")]
            assert dataset.dtype == np.float32, (name, dataset.dtype)
            assert list(dataset.shape) == item["shape"], (name, dataset.shape, item["shape"])
            want = np.array(item["values"], dtype=np.float32).reshape(item["shape"])
            assert np.array_equal(dataset[()], want), name
        assert f["net/conv1/weight"].shape == (4, 1, 3, 3)
        assert f["optimizer/net/fc1/weight/m"].shape == f["net/fc1/weight"].shape
        assert "net/norm1/running_mean" in f and "net/norm1/running_var" in f
    print("OK", len(expected))
    """#

    @Test func h5pySeesEveryParameterBySlashPathWithItsShapeAndValues() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("model.h5").path
        let net = CheckpointTestNet(seed: 1)
        let adam = Adam(parameters: net.parameters)
        var random = SeededRandom(seed: 2)
        for _ in 0..<3 { CheckpointTesting.step(net, adam, &random) }
        try ModelCheckpoint.save(to: path, model: net, optimizer: adam, progress: TrainingProgress(step: 3, epoch: 2),
                                 config: CheckpointTesting.config)

        // What h5py must see, in the order written: parameters, buffers, then Adam's m and v.
        var expected: [(String, [Int], [Float])] = (net.parameters + net.buffers).map { ($0.name!, $0.shape, $0.value.scalars) }
        for (index, parameter) in net.parameters.enumerated() {
            expected.append(("optimizer.\(parameter.name!).m", parameter.shape, adam.firstMoments[index].scalars))
            expected.append(("optimizer.\(parameter.name!).v", parameter.shape, adam.secondMoments[index].scalars))
        }
        // JSON object keys keep this order; Float → Double → shortest text is exact.
        let body = expected.map { name, shape, values in
            "\"\(name)\": {\"shape\": \(shape), \"values\": [\(values.map { "\(Double($0))" }.joined(separator: ","))]}"
        }.joined(separator: ",\n")
        let expectedPath = folder.appendingPathComponent("expected.json").path
        try "{\(body)}".write(toFile: expectedPath, atomically: true, encoding: .utf8)

        let result = try Support.python(Self.script, arguments: [path, expectedPath])
        #expect(result.status == 0, "python3 failed: \(result.standardError)")
        #expect(result.standardOutput.hasPrefix("OK \(expected.count)"), "python3 said: \(result.standardOutput) \(result.standardError)")

        // And the formats module reads the same tensors back in the same order.
        let checkpoint = try CheckpointFile.read(at: path)
        #expect(checkpoint.tensorNames == expected.map(\.0))
        #expect(checkpoint.tensors.map(\.shape) == expected.map(\.1))
        #expect(checkpoint.attributes["format"] == "reptile-checkpoint")
        #expect(checkpoint.integerAttributes["schema_version"] == 1)
    }
}

@Suite struct EngineCheckpointMismatchTests {
    @Test func loadingIntoAChangedModelListsEveryMismatchInOneErrorAndChangesNothing() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("small.h5").path
        let net = CheckpointTestNet(hiddenSize: 8, seed: 1)
        let adam = Adam(parameters: net.parameters)
        try ModelCheckpoint.save(to: path, model: net, optimizer: adam)

        // Wider hidden layer (fc1 and fc2 change shape) and one more layer (missing in the file).
        let changed = CheckpointTestNet(hiddenSize: 16, extraLayer: true, seed: 2)
        let changedAdam = Adam(parameters: changed.parameters)
        let before = CheckpointTesting.bits(changed.parameters)
        let error = try #require(throws: ReptileError.self) {
            try ModelCheckpoint.load(from: path, into: changed, optimizer: changedAdam)
        }
        let message = error.description
        #expect(!message.contains("\n"))
        #expect(message.hasPrefix(path + ": "), "\(message)")
        for expectedText in [
            "missing in file: net.fc_extra.weight [16, 16], net.fc_extra.bias [16]",
            "net.fc1.weight expected [16, 64], found [8, 64]",
            "net.fc1.bias expected [16], found [8]",
            "net.fc2.weight expected [3, 16], found [3, 8]",
            "optimizer.net.fc1.weight.m expected [16, 64], found [8, 64]",
            "optimizer.net.fc_extra.weight.v [16, 16]",
        ] {
            #expect(message.contains(expectedText), "\(message) should contain \(expectedText)")
        }
        #expect(!message.contains("net.conv1.weight expected"))
        #expect(CheckpointTesting.bits(changed.parameters) == before, "a failed load must change nothing")
        #expect(changedAdam.stepCount == 0)

        // A smaller model: what the file has beyond it is listed as unexpected.
        let smaller = CheckpointTestNet(hiddenSize: 8, extraLayer: true, seed: 3)
        try ModelCheckpoint.save(to: path, model: smaller)
        let error2 = try #require(throws: ReptileError.self) { try ModelCheckpoint.load(from: path, into: net) }
        #expect(error2.description.contains("unexpected in file: net.fc_extra.weight [8, 8], net.fc_extra.bias [8]"), "\(error2)")
        #expect(error2.description.contains("(2 mismatches)"), "\(error2)")

        // Asking for optimizer state a weights-only file does not have.
        let error3 = try #require(throws: ReptileError.self) {
            try ModelCheckpoint.load(from: path, into: smaller, optimizer: Adam(parameters: smaller.parameters))
        }
        #expect(error3.description.contains("optimizer \"optimizer\" missing in file"), "\(error3)")

        // Adam state loaded into SGD.
        try ModelCheckpoint.save(to: path, model: net, optimizer: adam)
        let error4 = try #require(throws: ReptileError.self) {
            try ModelCheckpoint.load(from: path, into: net, optimizer: SGD(parameters: net.parameters, learningRate: 0.1, momentum: 0.9))
        }
        #expect(error4.description.contains("optimizer \"optimizer\" is adam in the file but sgd here"), "\(error4)")
        #expect(error4.description.contains("unexpected in file: optimizer.net.conv1.weight.m"), "\(error4)")
        #expect(error4.description.contains("missing in file: optimizer.net.conv1.weight.momentum_buffer"), "\(error4)")
    }
}

@Suite struct EngineCheckpointBadFileTests {
    @Test func aCutShortOrForeignFileGivesOneLineNamingThePath() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("model.h5").path
        let net = CheckpointTestNet(seed: 1)
        try ModelCheckpoint.save(to: path, model: net, optimizer: Adam(parameters: net.parameters))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))

        var cases: [(String, Data)] = [
            ("half.h5", bytes.prefix(bytes.count / 2)),
            ("most.h5", bytes.prefix(bytes.count - 100)),
            ("header-only.h5", bytes.prefix(600)),
            ("empty.h5", Data()),
            ("text.h5", Data("this is not HDF5\n".utf8)),
        ]
        // An HDF5 file that is not a checkpoint (a shard-like file).
        let foreign = folder.appendingPathComponent("foreign.h5").path
        do {
            let file = try HDF5File.create(at: foreign)
            try file.setAttribute("kind", "image")
        }
        cases.append(("foreign.h5", try Data(contentsOf: URL(fileURLWithPath: foreign))))

        for (name, data) in cases {
            let broken = folder.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: broken))
            let error = try #require(throws: ReptileError.self, "\(name) should not load") {
                try ModelCheckpoint.load(from: broken, into: CheckpointTestNet(seed: 2))
            }
            #expect(error.description.hasPrefix(broken + ": "), "\(error)")
            #expect(!error.description.contains("\n"), "\(error)")
            #expect(throws: ReptileError.self) { try CheckpointFile.read(at: broken) }
        }
        let missing = folder.appendingPathComponent("absent.h5").path
        let error = try #require(throws: ReptileError.self) { try CheckpointFile.read(at: missing) }
        #expect(error.description.hasPrefix(missing + ": no such file"), "\(error)")
    }

    @Test func anExistingCheckpointIsReplacedOnlyByACompleteOneAndNoTemporaryFileIsLeft() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("model.h5").path
        let first = NamedTensor(name: "a.b", shape: [2], values: [1, 2])
        try CheckpointFile.write(to: path, tensors: [first])
        // Invalid content is refused before anything is written: the old file stays.
        #expect(throws: ReptileError.self) {
            try CheckpointFile.write(to: path, tensors: [NamedTensor(name: "a.b", shape: [3], values: [1, 2])])
        }
        #expect(throws: ReptileError.self) {
            try CheckpointFile.write(to: path, tensors: [first, NamedTensor(name: "a.b.c", shape: [1], values: [0])])
        }
        #expect(throws: ReptileError.self) {
            try CheckpointFile.write(to: path, tensors: [first], attributes: ["format": "other"])
        }
        #expect(try CheckpointFile.read(at: path).tensors == [first])
        // Replacing works, scalars and empty tensors included.
        let replacement = [NamedTensor(name: "x", shape: [], values: [4]), NamedTensor(name: "y.z", shape: [0, 3], values: [])]
        try CheckpointFile.write(to: path, tensors: replacement, attributes: ["config": "{}"], integerAttributes: ["step": 5])
        let read = try CheckpointFile.read(at: path)
        #expect(read.tensors == replacement)
        #expect(read.config == "{}")
        #expect(read.integerAttributes["step"] == 5)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.h5"])
    }
}

@Suite struct EngineCheckpointGANTests {
    /// The W1 generator and discriminator with one Adam each, in one file; the generator alone
    /// loads back for generation.
    @Test func twoModelsAndTwoNamedOptimizersShareOneFile() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("gan.h5").path
        var random = SeededRandom(seed: 21)
        let generator = ConditionalGenerator(random: &random)
        let discriminator = ConditionalDiscriminator(random: &random)
        let generatorAdam = Adam(parameters: generator.parameters, learningRate: 2e-4, beta1: 0.5)
        let discriminatorAdam = Adam(parameters: discriminator.parameters, learningRate: 2e-4, beta1: 0.5)
        // Non-trivial moments and running statistics without running the GAN step.
        for adam in [generatorAdam, discriminatorAdam] {
            adam.stepCount = adam === generatorAdam ? 5 : 7
            for index in adam.firstMoments.indices {
                adam.firstMoments[index] = Tensor(normalShape: adam.firstMoments[index].shape, random: &random)
                adam.secondMoments[index] = Tensor(uniformShape: adam.secondMoments[index].shape, in: 0...1, random: &random)
            }
        }
        for buffer in generator.buffers + discriminator.buffers {
            buffer.value = Tensor(uniformShape: buffer.shape, in: 0.5...1.5, random: &random)
        }
        try ModelCheckpoint.save(to: path, layers: [generator, discriminator],
                                 optimizers: ["generator_optimizer": generatorAdam, "discriminator_optimizer": discriminatorAdam],
                                 progress: TrainingProgress(step: 7, epoch: 3))

        var other = SeededRandom(seed: 22)
        let generator2 = ConditionalGenerator(random: &other)
        let discriminator2 = ConditionalDiscriminator(random: &other)
        let generatorAdam2 = Adam(parameters: generator2.parameters, learningRate: 2e-4, beta1: 0.5)
        let discriminatorAdam2 = Adam(parameters: discriminator2.parameters, learningRate: 2e-4, beta1: 0.5)
        let loaded = try ModelCheckpoint.load(from: path, into: [generator2, discriminator2],
                                              optimizers: ["generator_optimizer": generatorAdam2, "discriminator_optimizer": discriminatorAdam2])
        #expect(loaded.progress.step == 7 && loaded.progress.epoch == 3)
        #expect(CheckpointTesting.bits(generator2.parameters + generator2.buffers) == CheckpointTesting.bits(generator.parameters + generator.buffers))
        #expect(CheckpointTesting.bits(discriminator2.parameters + discriminator2.buffers)
                == CheckpointTesting.bits(discriminator.parameters + discriminator.buffers))
        #expect(CheckpointTesting.bits(generatorAdam2.firstMoments) == CheckpointTesting.bits(generatorAdam.firstMoments))
        #expect(CheckpointTesting.bits(discriminatorAdam2.secondMoments) == CheckpointTesting.bits(discriminatorAdam.secondMoments))
        #expect(generatorAdam2.stepCount == 5 && discriminatorAdam2.stepCount == 7)

        // Generation needs the generator only: the discriminator is ignored by name, not silently.
        var third = SeededRandom(seed: 23)
        let generatorOnly = ConditionalGenerator(random: &third)
        #expect(throws: ReptileError.self) { try ModelCheckpoint.load(from: path, into: generatorOnly) }
        try ModelCheckpoint.load(from: path, into: [generatorOnly], ignoring: ["discriminator"])
        #expect(CheckpointTesting.bits(generatorOnly.parameters + generatorOnly.buffers)
                == CheckpointTesting.bits(generator.parameters + generator.buffers))

        let names = try CheckpointFile.read(at: path).tensorNames
        #expect(names.contains("generator_optimizer.generator.fc.weight.m"))
        #expect(names.contains("discriminator_optimizer.discriminator.class_head.bias.v"))
    }
}

@Suite struct ClassifierCheckpointTests {
    @Test func imageClassifierRoundTripWithConfig() throws {
        let folder = try Support.makeTemporaryFolder("ckpt")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("classifier.h5").path
        var random = SeededRandom(seed: 3)
        let model = ConvolutionalClassifier(inputChannels: 3, imageHeight: 8, imageWidth: 12, classCount: 4, random: &random)
        let config = ClassifierConfig(kind: "image", architecture: "cnn", classNames: ["a", "b", "c", "d"],
                                      imageHeight: 8, imageWidth: 12, imageChannels: 3)
        try ImageClassifierCheckpoint.save(model, config: config, to: path)
        let (loaded, loadedConfig) = try ImageClassifierCheckpoint.load(from: path)
        #expect(loadedConfig == config)
        let images = Tensor(uniformShape: [2, 3, 8, 12], in: -1...1, random: &random)
        model.setTraining(false)
        #expect(loaded(Variable(images)).value.scalars == model(Variable(images)).value.scalars)

        // A checkpoint without a classifier config is refused with the file named.
        let plain = folder.appendingPathComponent("plain.h5").path
        try ModelCheckpoint.save(to: plain, model: model)
        #expect(throws: ReptileError.self) { try ImageClassifierCheckpoint.load(from: plain) }
    }

    @Test func channelsFirstMovesChannels() {
        // Two 1×2 RGB images, channel-last.
        let values: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        let tensor = channelsFirst(values, count: 2, height: 1, width: 2, channels: 3)
        #expect(tensor.shape == [2, 3, 1, 2])
        #expect(tensor.scalars == [1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12])
        #expect(ImageScaling.pixel(ImageScaling.float(200)) == 200)
    }
}
