import Foundation
import Testing
import ReptileClassify
import ReptileCore
@testable import ReptileEngine
@testable import ReptileEvaluation

/// `reptile evaluate`'s metrics against their reference implementations: BLEU and Self-BLEU from
/// nltk (as Texygen calls it), precision/recall/density/coverage from the `prdc` package, all
/// computed once by scripts/reference/evaluation_metrics.py (how to re-run it is written there).
@Suite struct EvaluationGoldenTests {
    struct Golden: Decodable {
        struct BLEUCase: Decodable {
            var name: String
            var references: [[String]]
            var hypothesis: [String]
            var bleu: [String: Double]
        }
        struct RealText: Decodable {
            var references: [String]
            var referenceTokens: [[String]]
            var hypotheses: [String]
            var hypothesisTokens: [[String]]
            var bleu: [[String: Double]]
            var meanBleu: [String: Double]
            var selfBleuTexts: [String]
            var selfBleuTokens: [[String]]
            var selfBleu: [[String: Double]]
            var meanSelfBleu: [String: Double]
        }
        struct PRDCCase: Decodable {
            var name: String
            var k: Int
            var real: [[Double]]
            var fake: [[Double]]
            var precision: Double
            var recall: Double
            var density: Double
            var coverage: Double
            var meanPairwiseReal: Double
            var meanPairwiseFake: Double
        }
        var bleuCases: [BLEUCase]
        var realText: RealText
        var prdcCases: [PRDCCase]
    }

    static let golden: Golden = {
        let url = Support.packageRoot.appendingPathComponent("Tests/Golden/evaluation-golden.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// Words to identifiers, one table for a whole case.
    final class Identifiers {
        var table: [String: Int32] = [:]
        func callAsFunction(_ words: [String]) -> [Int32] {
            words.map { word in
                if let known = table[word] { return known }
                table[word] = Int32(table.count)
                return Int32(table.count - 1)
            }
        }
    }

    static func expectClose(_ actual: Double?, _ expected: Double?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let actual, let expected else {
            Issue.record("\(label): missing value (\(String(describing: actual)) vs \(String(describing: expected)))", sourceLocation: sourceLocation)
            return
        }
        #expect(abs(actual - expected) <= 1e-12 + 1e-9 * abs(expected), "\(label): \(actual) vs nltk/prdc \(expected)", sourceLocation: sourceLocation)
    }

    @Test func sentenceBLEUMatchesNLTKOnHandMadeCases() {
        #expect(Self.golden.bleuCases.count >= 10)
        for testCase in Self.golden.bleuCases {
            let identifiers = Identifiers()
            let table = BLEUReferences(testCase.references.map { identifiers($0) })
            let scores = table.scores(identifiers(testCase.hypothesis))!
            for order in 2...4 {
                Self.expectClose(scores[order - 1], testCase.bleu[String(order)], "\(testCase.name) BLEU-\(order)")
            }
        }
    }

    @Test func metricTokensAreLowerCasedWordsAndPunctuation() {
        let text = Self.golden.realText
        let tokenizer = MetricTokenizer()
        var words: [Int32: String] = [:]
        for (raw, expected) in zip(text.references + text.hypotheses, text.referenceTokens + text.hypothesisTokens) {
            let identifiers = tokenizer.tokens(raw)
            for (identifier, word) in zip(identifiers, expected) { words[identifier] = words[identifier] ?? word }
            #expect(identifiers.map { words[$0]! } == expected, "tokens of \(raw)")
        }
    }

    @Test func bleuAndSelfBLEUMatchNLTKOnRealTexts() {
        let text = Self.golden.realText
        let tokenizer = MetricTokenizer()
        let references = text.references.map(tokenizer.tokens)
        let hypotheses = text.hypotheses.map(tokenizer.tokens)
        let table = BLEUReferences(references)
        for (index, hypothesis) in hypotheses.enumerated() {
            let scores = table.scores(hypothesis)!
            for order in 2...4 { Self.expectClose(scores[order - 1], text.bleu[index][String(order)], "hypothesis \(index) BLEU-\(order)") }
        }
        let mean = meanBLEU(hypotheses: hypotheses, references: references)!
        for order in 2...4 { Self.expectClose(mean[order], text.meanBleu[String(order)], "mean BLEU-\(order)") }

        // Self-BLEU over a set holding one text twice: the twin stays a reference of the other.
        let texts = text.selfBleuTexts.map(tokenizer.tokens)
        let selfTable = BLEUReferences(texts)
        for (index, hypothesis) in texts.enumerated() {
            let scores = selfTable.scores(hypothesis, excludingItself: true)!
            for order in 2...4 { Self.expectClose(scores[order - 1], text.selfBleu[index][String(order)], "text \(index) Self-BLEU-\(order)") }
        }
        let selfMean = meanSelfBLEU(texts)!
        for order in 2...4 { Self.expectClose(selfMean[order], text.meanSelfBleu[String(order)], "mean Self-BLEU-\(order)") }
        #expect(text.selfBleu.contains { $0["4"]! > 0.999 }, "the duplicated text must find its twin")
    }

    @Test func precisionRecallDensityCoverageMatchPRDC() {
        for testCase in Self.golden.prdcCases {
            let real = FeaturePoints(dimension: testCase.real[0].count, values: testCase.real.flatMap { $0 })
            let fake = FeaturePoints(dimension: testCase.fake[0].count, values: testCase.fake.flatMap { $0 })
            let result = precisionRecallDensityCoverage(real: real, fake: fake, k: testCase.k)!
            Self.expectClose(result.precision, testCase.precision, "\(testCase.name) precision")
            Self.expectClose(result.recall, testCase.recall, "\(testCase.name) recall")
            Self.expectClose(result.density, testCase.density, "\(testCase.name) density")
            Self.expectClose(result.coverage, testCase.coverage, "\(testCase.name) coverage")
            Self.expectClose(nearestNeighbourRadii(real, k: testCase.k).meanPairwiseDistance, testCase.meanPairwiseReal, "\(testCase.name) real distance")
            Self.expectClose(nearestNeighbourRadii(fake, k: testCase.k).meanPairwiseDistance, testCase.meanPairwiseFake, "\(testCase.name) fake distance")
        }
        #expect(precisionRecallDensityCoverage(real: FeaturePoints(dimension: 1, values: [0, 1, 2]),
                                               fake: FeaturePoints(dimension: 1, values: [0, 1, 2]), k: 5) == nil)
    }

    @Test func distinctAndNovelNGramsCountWhatTheySay() {
        let tokenizer = MetricTokenizer()
        let texts = ["a b a b", "a b c"].map(tokenizer.tokens)
        // Unigrams: a b a b a b c → 3 distinct of 7; bigrams: ab ba ab ab bc → 3 distinct of 5.
        #expect(distinctNGramShare(texts, order: 1) == 3.0 / 7.0)
        #expect(distinctNGramShare(texts, order: 2) == 3.0 / 5.0)
        #expect(distinctNGramShare([tokenizer.tokens("a")], order: 2) == nil)
        let seen = ngramSet(["x a b a y"].map(tokenizer.tokens), order: 2)
        // Distinct generated bigrams ab, ba, bc; seen: xa, ab, ba, ay → only bc is new.
        #expect(novelNGramShare(texts, seen: seen, order: 2) == 1.0 / 3.0)
    }

    /// The features PRDC is measured in are exactly what the image CNN's last layer reads, and
    /// splitting the forward pass in two leaves the logits bit-identical.
    @Test func imageFeaturesAreWhatTheLastLayerReads() throws {
        // Pinned to one thread: with the process-wide count left at 2 (this test alone, without
        // others having set 1) the two paths differed in the last bits; not yet explained.
        try BLAS.$taskThreadCount.withValue(1) { try compareSplitAndWholeForward() }
    }

    private func compareSplitAndWholeForward() throws {
        let config = ClassifierConfig(kind: "image", architecture: "cnn", classNames: ["a", "b", "c"],
                                      imageHeight: 28, imageWidth: 28, imageChannels: 1)
        let model = try ImageCNNClassifier(config: config, seed: 5)
        model.setTraining(false)
        var random = SeededRandom(seed: 9)
        var batch = ClassifierBatch()
        batch.images = (0..<(3 * 28 * 28)).map { _ in random.nextUnitFloat() * 2 - 1 }
        batch.labels = [0, 1, 2]
        let logits = model.logits(for: batch, random: &random).value
        let (splitLogits, features) = model.logitsAndFeatures(for: batch)
        #expect(features.shape == [3, 128])
        #expect(features.value.scalars.allSatisfy { $0 >= 0 }, "features come after a ReLU")
        #expect(splitLogits.value.scalars.map(\.bitPattern) == logits.scalars.map(\.bitPattern))
        #expect(model.network.output(features).value.scalars.map(\.bitPattern) == logits.scalars.map(\.bitPattern))
    }
}
