import Foundation
import ReptileBench
import ReptileCore
import ReptileEmbedding
import ReptileFormats
import ReptileText
import Testing
@testable import ReptileEngine

/// all-MiniLM-L6-v2's outputs from transformers + torch (shared/models/.../reference-outputs.json).
struct ReferenceOutputs: Decodable {
    struct Case: Decodable {
        var text: String
        var inputIds: [Int]
        var tokens: [String]
        var clsHiddenFirst8: [Float]
        var meanPooled: [Float]
        var normalized: [Float]
    }
    struct PaddedBatch: Decodable {
        var texts: [String]
        var inputIds: [[Int]]
        var attentionMask: [[Int]]
        var meanPooled: [[Float]]
    }
    var cases: [Case]
    var paddedBatch: PaddedBatch?

    static let folder = Support.shared.appendingPathComponent("models/all-MiniLM-L6-v2")
    static let loaded: ReferenceOutputs? = {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("reference-outputs.json").path) else { return nil }
        return try? StableJSON.decode(ReferenceOutputs.self, from: data)
    }()
}

/// One embedding line of `reptile embed` (JSON Lines).
struct EmbeddingLine: Decodable {
    var text: String
    var label: Int?
    var inputIds: [Int]
    var embedding: [Float]

    static func parse(_ output: String) throws -> [EmbeddingLine] {
        try output.split(separator: "\n").map { try StableJSON.decode(EmbeddingLine.self, from: Data($0.utf8)) }
    }
}

func maximumDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "comparing \(a.count) values with \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

@Suite(.enabled(if: ReferenceOutputs.loaded != nil, "needs ../shared/models/all-MiniLM-L6-v2 with reference-outputs.json"))
struct TextEncoderReferenceTests {
    let reference = ReferenceOutputs.loaded!
    let encoderPath = ReferenceOutputs.folder.path

    private func writeLines(_ texts: [String], in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("texts.txt").path
        try Data(texts.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func everyCaseAloneThroughTheCommandLine() throws {
        let folder = try Support.makeTemporaryFolder("embed-reference")
        defer { Support.remove(folder) }
        let input = try writeLines(reference.cases.map(\.text), in: folder)
        // Batch size 1: each text alone, unpadded, as the reference ran them.
        let result = try Support.reptile(["embed", "--encoder", encoderPath, "--batch-size", "1", input])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try EmbeddingLine.parse(result.standardOutput)
        try #require(lines.count == reference.cases.count)
        for (line, expected) in zip(lines, reference.cases) {
            #expect(line.text == expected.text)
            #expect(line.inputIds == expected.inputIds, "\(quoted(expected.text))")
            #expect(maximumDifference(line.embedding, expected.meanPooled) < 1e-4, "\(quoted(expected.text))")
        }
    }

    @Test func normalizedEmbeddingsIntoHDF5() throws {
        let folder = try Support.makeTemporaryFolder("embed-normalized")
        defer { Support.remove(folder) }
        let cases = Array(reference.cases.prefix(4))
        let input = try writeLines(cases.map(\.text), in: folder)
        let output = folder.appendingPathComponent("embeddings.h5").path
        let result = try Support.reptile(["embed", "--encoder", encoderPath, "--normalize", "--batch-size", "1", input, "--out", output])
        #expect(result.status == 0, "\(result.standardError)")
        let file = try HDF5File.open(at: output)
        let embeddings = try file.dataset("embeddings")
        #expect(embeddings.shape == [cases.count, 384])
        #expect(!file.hasDataset("labels"))
        #expect(try file.dataset("texts").readStrings(rows: 0..<cases.count) == cases.map(\.text))
        let values = try embeddings.readAll(as: Float.self)
        for (row, expected) in cases.enumerated() {
            #expect(maximumDifference(Array(values[(row * 384)..<((row + 1) * 384)]), expected.normalized) < 1e-4, "\(quoted(expected.text))")
        }
        // Nothing but the output is left in the folder (no temporary file).
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["embeddings.h5", "texts.txt"])
    }

    @Test func thePaddedBatchThroughTheCommandLine() throws {
        let batch = try #require(reference.paddedBatch)
        let folder = try Support.makeTemporaryFolder("embed-padded")
        defer { Support.remove(folder) }
        let input = try writeLines(batch.texts, in: folder)
        let result = try Support.reptile(["embed", "--encoder", encoderPath, input])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try EmbeddingLine.parse(result.standardOutput)
        try #require(lines.count == batch.texts.count)
        for (row, line) in lines.enumerated() {
            let unpadded = zip(batch.inputIds[row], batch.attentionMask[row]).filter { $0.1 == 1 }.map(\.0)
            #expect(line.inputIds == unpadded)
            #expect(maximumDifference(line.embedding, batch.meanPooled[row]) < 1e-4, "row \(row)")
        }
        // Batches of two are formed by length (the two 12-token texts together, then the 7 and
        // 19); the output still follows the input's order.
        let pairs = try Support.reptile(["embed", "--encoder", encoderPath, "--batch-size", "2", input])
        #expect(pairs.status == 0, "\(pairs.standardError)")
        let pairLines = try EmbeddingLine.parse(pairs.standardOutput)
        #expect(pairLines.map(\.text) == batch.texts)
        for (row, line) in pairLines.enumerated() {
            #expect(maximumDifference(line.embedding, batch.meanPooled[row]) < 1e-4, "row \(row) in batches of two")
        }
        // The library pads exactly as the reference did.
        let tokenizer = try WordPieceTokenizer.load(folder: encoderPath)
        let encoded = tokenizer.encodeBatch(batch.texts)
        #expect(encoded.ids == batch.inputIds.flatMap { $0 })
        #expect(encoded.attentionMask == batch.attentionMask.flatMap { $0 }.map { $0 == 1 })
    }

    @Test func tokensAndTheClassifierTokensHiddenStateThroughTheLibrary() throws {
        let pretrained = try PretrainedTextEncoder.load(folder: encoderPath)
        pretrained.encoder.prepareForInference()
        for expected in reference.cases {
            #expect(["[CLS]"] + pretrained.tokenizer.tokenize(expected.text).prefix(254) + ["[SEP]"] == expected.tokens)
            let ids = pretrained.tokenizer.encode(expected.text)
            let hidden = pretrained.encoder(ids: ids, mask: Array(repeating: true, count: ids.count), batch: 1, sequence: ids.count)
            #expect(maximumDifference(Array(hidden.value.scalars.prefix(8)), expected.clsHiddenFirst8) < 1e-4, "\(quoted(expected.text))")
        }
    }

    @Test func aTextDatasetSplitWithLabelsAndNoOverwriteWithoutForce() throws {
        let folder = try Support.makeTemporaryFolder("embed-dataset")
        defer { Support.remove(folder) }
        let source = folder.appendingPathComponent("reviews.jsonl").path
        let records = (0..<10).map { #"{"text": "review number \#($0) was \#($0 % 2 == 0 ? "great" : "awful")", "label": "\#($0 % 2 == 0 ? "pos" : "neg")"}"# }
        try Data((records.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: source))
        let ingest = try IngestTesting.ingest(["ingest", "text", source, "--name", "reviews", "--test-fraction", "0.4"], parent: folder)
        try #require(ingest.status == 0, "\(ingest.standardError)")
        let dataset = folder.appendingPathComponent("reviews").path
        let output = folder.appendingPathComponent("test.h5").path

        let first = try Support.reptile(["embed", "--encoder", encoderPath, dataset, "--out", output, "--batch-size", "3"])
        #expect(first.status == 0, "\(first.standardError)")
        let shard = try DatasetFolder(path: dataset).shards(of: "test")[0]
        let file = try HDF5File.open(at: output)
        #expect(try file.dataset("embeddings").shape == [shard.count, 384])
        #expect(try file.dataset("labels").readAll(as: Int64.self) == shard.labels())
        #expect(try file.dataset("texts").readStrings(rows: 0..<shard.count) == shard.texts(0..<shard.count))

        let again = try Support.reptile(["embed", "--encoder", encoderPath, dataset, "--out", output])
        #expect(again.status == 1 && again.standardError.contains("already exists") && again.standardError.contains("--force"),
                "\(again.standardError)")
        let forced = try Support.reptile(["embed", "--encoder", encoderPath, dataset, "--split", "train", "--out", output, "--force"])
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(try HDF5File.open(at: output).dataset("embeddings").shape == [10 - shard.count, 384])
    }
}

/// A BERT small enough to check gradients and write by hand: vocabulary 12, hidden 8, 2 heads,
/// feed-forward 16, 2 layers, 64 positions (W5's sequence length).
enum TinyBERT {
    static let config = TextEncoderConfig(vocabSize: 12, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2,
                                          intermediateSize: 16, maxPositionEmbeddings: 64)
    static let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", "."]

    /// `name`, shape and values of every encoder weight, under Hugging Face's names.
    static func weights(seed: UInt64 = 3) -> [(name: String, shape: [Int], values: [Float])] {
        var random = SeededRandom(seed: seed)
        return TextEncoder(config: config, random: &random).parameters.map { ($0.name!, $0.shape, $0.value.scalars) }
    }

    /// The safetensors layout: 8-byte little-endian header length, JSON header, raw float32 data.
    static func safeTensors(_ tensors: [(name: String, shape: [Int], values: [Float])]) -> Data {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var data = Data()
        for tensor in tensors {
            let start = data.count
            for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [start, data.count]]
        }
        let headerData = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var file = Data()
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { file.append(contentsOf: $0) }
        return file + headerData + data
    }

    /// A Hugging Face-style folder (config.json, model.safetensors, vocab.txt) for the tiny BERT.
    static func makeFolder(in parent: URL, weights: [(name: String, shape: [Int], values: [Float])] = weights()) throws -> URL {
        let folder = parent.appendingPathComponent("tiny-bert")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try StableJSON.encode(config).write(to: folder.appendingPathComponent("config.json"))
        try safeTensors(weights).write(to: folder.appendingPathComponent("model.safetensors"))
        try Data((vocabulary.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("vocab.txt"))
        return folder
    }
}

@Suite struct TextEncoderTests {
    /// W5's code path end to end on the tiny model (the real one takes seconds a step in a debug build).
    @Test func workloadW5ReportsTrainingAndEmbeddingRates() throws {
        let folder = try Support.makeTemporaryFolder("w5")
        defer { Support.remove(folder) }
        let model = try TinyBERT.makeFolder(in: folder)
        let results = try runWorkload(.w5, engine: EngineBenchOptions(steps: 2, warmup: 1, threads: 1), encoderFolder: model.path)
        #expect(results.map(\.metric) == ["train_sequences_per_s", "embed_sequences_per_s"])
        for result in results {
            #expect(result.workload == "W5" && result.value > 0 && result.steps == 2 && result.threads == 1)
            #expect(result.jsonLine.hasPrefix("{\"workload\":\"W5\",\"metric\":\"\(result.metric)\",\"value\":"))
            #expect(result.freshAllocations == 0, "a step after the warm-up reuses its buffers")
        }
    }

    /// The reduced BERT with weights large enough (N(0, 0.4), layer-norm scales around 1) that a
    /// wrong backward shows above the checker's floor.
    static func classifier(seed: UInt64) -> SentenceClassifier {
        var random = SeededRandom(seed: seed)
        let encoder = TextEncoder(config: TinyBERT.config, name: SentenceClassifier.encoderName, random: &random)
        let model = SentenceClassifier(encoder: encoder, classCount: 3, random: &random)
        for parameter in model.parameters {
            let offset: Float = parameter.name!.hasSuffix("LayerNorm.weight") ? 1 : 0
            var values = Tensor(normalShape: parameter.shape, standardDeviation: 0.4, random: &random)
            values.withUnsafeMutableBufferPointer { buffer in for index in buffer.indices { buffer[index] += offset } }
            parameter.value = values
        }
        return model
    }

    @Test func reducedBERTGradientsThroughTheSentenceClassifierLoss() {
        let model = Self.classifier(seed: 11)
        model.setTraining(false)
        // Two sequences of five; the second ends in two padded positions.
        let ids = [2, 5, 6, 7, 3, 2, 9, 3, 0, 0]
        let mask = [true, true, true, true, true, true, true, true, false, false]
        var unused = SeededRandom(seed: 0)
        let result = gradientCheck(model.parameters, elementsPerInput: 8) { _ in
            crossEntropy(logits: model(ids: ids, mask: mask, batch: 2, sequence: 5, random: &unused), labels: [0, 2])
        }
        expectGradientsMatch(result)
        #expect(result.checkedElements > 200)
        // Padded positions must not matter: changing their ids changes nothing.
        let logits = model(ids: ids, mask: mask, batch: 2, sequence: 5, random: &unused).value.scalars
        let repadded = model(ids: Array(ids.prefix(8)) + [11, 4], mask: mask, batch: 2, sequence: 5, random: &unused).value.scalars
        #expect(logits == repadded)
    }

    @Test func maskedMeanPoolingGradient() {
        let hidden = randomVariable([2, 3, 4], seed: 21)
        expectGradientsMatch(gradientCheck([hidden]) { maskedMeanPooling($0[0], mask: [true, false, true, true, true, false]) })
        let pooled = maskedMeanPooling(hidden, mask: [true, false, true, false, false, false]).value
        for index in 0..<4 {
            let expected = (hidden.value[flatIndex: index] + hidden.value[flatIndex: 8 + index]) / 2
            #expect(abs(pooled[flatIndex: index] - expected) < 1e-6)
            #expect(pooled[flatIndex: 4 + index] == 0, "a sequence without real tokens pools to zero")
        }
    }

    @Test func aFrozenEncoderStaysPutWhileTheHeadTrains() {
        let model = Self.classifier(seed: 12)
        model.setTraining(false)
        model.setEncoderFrozen(true)
        #expect(model.isEncoderFrozen)
        #expect(model.trainableParameters.map(\.name!) == ["head.weight", "head.bias"])
        let trainer = SentenceClassifierTrainer(model: model, learningRate: 1e-2)
        let encoderBefore = model.encoder.parameters.map(\.value.scalars), headBefore = model.head.weight.value.scalars
        var random = SeededRandom(seed: 1)
        let ids = [2, 5, 6, 3, 2, 7, 8, 3], mask = [Bool](repeating: true, count: 8)
        let first = trainer.step(ids: ids, mask: mask, batch: 2, sequence: 4, labels: [0, 1], random: &random)
        for _ in 0..<5 { trainer.step(ids: ids, mask: mask, batch: 2, sequence: 4, labels: [0, 1], random: &random) }
        let last = trainer.step(ids: ids, mask: mask, batch: 2, sequence: 4, labels: [0, 1], random: &random)
        #expect(model.encoder.parameters.map(\.value.scalars) == encoderBefore)
        #expect(model.head.weight.value.scalars != headBefore)
        #expect(last < first)
        // Warm-up: the schedule's factor scales the peak rate; update n uses base · (n + 1) / 4 for the first four.
        let schedule = LearningRateSchedule.warmupThenLinearDecay(warmupSteps: 4, totalSteps: 8)
        let warming = SentenceClassifierTrainer(model: model, learningRate: 1e-2)
        warming.setLearningRateFactor(schedule.factor(atStep: warming.optimizer.stepCount))
        warming.step(ids: ids, mask: mask, batch: 2, sequence: 4, labels: [0, 1], random: &random)
        #expect(warming.optimizer.learningRate == 1e-2 / 4)
        warming.setLearningRateFactor(schedule.factor(atStep: warming.optimizer.stepCount))
        warming.step(ids: ids, mask: mask, batch: 2, sequence: 4, labels: [0, 1], random: &random)
        #expect(warming.optimizer.learningRate == 1e-2 / 2)
    }

    @Test func pretrainedWeightsLoadByHuggingFaceNameAndTheCheckpointCarriesTheVocabulary() throws {
        let folder = try Support.makeTemporaryFolder("tiny-bert")
        defer { Support.remove(folder) }
        let weights = TinyBERT.weights()
        let modelFolder = try TinyBERT.makeFolder(in: folder, weights: weights)
        let pretrained = try PretrainedTextEncoder.load(folder: modelFolder.path, encoderName: SentenceClassifier.encoderName)
        let loaded = pretrained.encoder.parameters
        #expect(loaded.count == weights.count)
        for (parameter, weight) in zip(loaded, weights) {
            #expect(parameter.name == "encoder." + weight.name)
            #expect(parameter.value.scalars == weight.values)
        }

        var random = SeededRandom(seed: 4)
        let model = TextClassifierCheckpoint.makeModel(pretrained: pretrained, classCount: 2, random: &random)
        let config = try TextClassifierCheckpoint.makeConfig(classNames: ["neg", "pos"], pretrained: pretrained)
        let path = folder.appendingPathComponent("classifier.h5").path
        try TextClassifierCheckpoint.save(model, config: config, vocabularyText: pretrained.vocabularyText, to: path)

        let restored = try TextClassifierCheckpoint.load(from: path)
        #expect(restored.config == config && restored.config.architecture == "minilm")
        #expect(restored.tokenizer.vocabulary == TinyBERT.vocabulary)
        #expect(restored.maximumLength == 256)
        model.setTraining(false)
        let batch = pretrained.tokenizer.encodeBatch(["the cat sat", "on the mats ."])
        var unused = SeededRandom(seed: 0)
        let expected = model(ids: batch.ids, mask: batch.attentionMask, batch: batch.count, sequence: batch.sequenceLength, random: &unused)
        let again = restored.tokenizer.encodeBatch(["the cat sat", "on the mats ."])
        #expect(again == batch)
        let got = restored.model(ids: again.ids, mask: again.attentionMask, batch: again.count, sequence: again.sequenceLength, random: &unused)
        #expect(got.value.scalars == expected.value.scalars)
        // The vocabulary is plain text in the file, for h5py and people.
        #expect(try CheckpointFile.read(at: path).attributes["vocabulary"] == pretrained.vocabularyText)
    }
}

/// A broken encoder folder or input, through the real command line: exit 1, one line naming the
/// file, and no output file (or temporary file) left behind.
@Suite struct TextEncoderBadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        /// Breaks the tiny model folder or the input; returns what the error must mention.
        var breakIt: @Sendable (_ model: URL, _ input: URL) throws -> [String]
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "missing config.json") { model, _ in
            try FileManager.default.removeItem(at: model.appendingPathComponent("config.json"))
            return [model.appendingPathComponent("config.json").path, "no such file"]
        },
        Case(name: "missing model.safetensors") { model, _ in
            try FileManager.default.removeItem(at: model.appendingPathComponent("model.safetensors"))
            return [model.appendingPathComponent("model.safetensors").path, "no such file"]
        },
        Case(name: "missing vocab.txt") { model, _ in
            try FileManager.default.removeItem(at: model.appendingPathComponent("vocab.txt"))
            return [model.appendingPathComponent("vocab.txt").path, "no such file"]
        },
        Case(name: "safetensors header cut short") { model, _ in
            let path = model.appendingPathComponent("model.safetensors")
            try Data(try Data(contentsOf: path).prefix(200)).write(to: path)
            return [path.path, "header claims"]
        },
        Case(name: "tensors of the wrong size and a missing one") { model, _ in
            var weights = TinyBERT.weights().filter { $0.name != "encoder.layer.1.output.dense.bias" }
            let index = weights.firstIndex { $0.name == "embeddings.word_embeddings.weight" }!
            weights[index] = (weights[index].name, [12, 7], Array(weights[index].values.prefix(84)))
            let query = weights.firstIndex { $0.name == "encoder.layer.0.attention.self.query.weight" }!
            weights[query] = (weights[query].name, [8, 9], weights[query].values + Array(repeating: 0, count: 8))
            try TinyBERT.safeTensors(weights).write(to: model.appendingPathComponent("model.safetensors"))
            return [model.appendingPathComponent("model.safetensors").path, "3 mismatches", "encoder.layer.1.output.dense.bias",
                    "embeddings.word_embeddings.weight is [12, 7], expected [12, 8]", "encoder.layer.0.attention.self.query.weight is [8, 9]"]
        },
        Case(name: "config.json without hidden_size") { model, _ in
            let path = model.appendingPathComponent("config.json")
            var fields = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
            fields["hidden_size"] = nil
            try JSONSerialization.data(withJSONObject: fields).write(to: path)
            return [path.path, "hidden_size"]
        },
        Case(name: "input line that is not UTF-8") { _, input in
            try Data([0x6F, 0x6B, 0x0A, 0x62, 0x61, 0xFF, 0x64, 0x0A]).write(to: input)
            return [input.path, "line 2", "0xFF"]
        },
    ]

    @Test(arguments: cases)
    func failsCleanly(_ testCase: Case) throws {
        let folder = try Support.makeTemporaryFolder("embed-bad")
        defer { Support.remove(folder) }
        let model = try TinyBERT.makeFolder(in: folder)
        let input = folder.appendingPathComponent("texts.txt")
        try Data("the cat sat\non the mat .\n".utf8).write(to: input)
        let mentions = try testCase.breakIt(model, input)
        let outputFolder = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputFolder, withIntermediateDirectories: true)
        let result = try Support.reptile(["embed", "--encoder", model.path, input.path, "--out", outputFolder.appendingPathComponent("e.h5").path])
        try IngestTesting.expectCleanFailure(result, parent: outputFolder, mentions: mentions)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outputFolder.path).isEmpty)
    }

    @Test func theTinyModelEmbedsWhenNothingIsBroken() throws {
        let folder = try Support.makeTemporaryFolder("embed-tiny")
        defer { Support.remove(folder) }
        let model = try TinyBERT.makeFolder(in: folder)
        let input = folder.appendingPathComponent("texts.txt")
        try Data("the cat sat\non the mats .".utf8).write(to: input)
        let result = try Support.reptile(["embed", "--encoder", model.path, input.path])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try EmbeddingLine.parse(result.standardOutput)
        #expect(lines.map(\.inputIds) == [[2, 5, 6, 7, 3], [2, 8, 5, 9, 10, 11, 3]])
        #expect(lines.allSatisfy { $0.embedding.count == 8 })
        // The same input gives the same bytes, on standard output or in a file.
        let output = folder.appendingPathComponent("e.jsonl")
        let again = try Support.reptile(["embed", "--encoder", model.path, input.path, "--out", output.path])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(try String(contentsOf: output, encoding: .utf8) == result.standardOutput)
    }
}
