import Foundation
import Testing
@testable import ReptileClassify
import ReptileText

/// The evaluation metrics against values worked out by hand (and the word tokenizer the text
/// classifier reads with).
@Suite struct ClassifierMetricsTests {
    /// labels   0 0 1 1 2 2
    /// predicted 0 1 1 1 2 0
    /// confusion [[1,1,0],[0,2,0],[1,0,1]]; precision 1/2, 2/3, 1; recall 1/2, 1, 1/2;
    /// F1 1/2, 4/5, 2/3; macro-F1 (1/2 + 4/5 + 2/3)/3 = 59/90.
    @Test func metricsMatchHandComputedValues() {
        let metrics = ClassificationMetrics(labels: [0, 0, 1, 1, 2, 2], predictions: [0, 1, 1, 1, 2, 0], classNames: ["a", "b", "c"])
        #expect(metrics.confusionMatrix == [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
        #expect(metrics.correct == 4)
        #expect(abs(metrics.accuracy - 4.0 / 6.0) < 1e-12)
        let precision = metrics.perClass.map(\.precision), recall = metrics.perClass.map(\.recall), f1 = metrics.perClass.map(\.f1)
        for (value, expected) in zip(precision + recall + f1, [0.5, 2.0 / 3.0, 1, 0.5, 1, 0.5, 0.5, 0.8, 2.0 / 3.0]) {
            #expect(abs(value - expected) < 1e-12)
        }
        #expect(metrics.perClass.map(\.support) == [2, 2, 2])
        #expect(metrics.perClass.map(\.name) == ["a", "b", "c"])
        #expect(abs(metrics.macroF1 - 59.0 / 90.0) < 1e-12)
    }

    /// A class never predicted has precision 0; one that never occurs has recall 0; both count in macro-F1.
    @Test func absentAndNeverPredictedClassesScoreZero() {
        let metrics = ClassificationMetrics(labels: [0, 0, 1], predictions: [0, 0, 0], classNames: ["x", "y", "z"])
        #expect(metrics.perClass[0].precision == 2.0 / 3.0 && metrics.perClass[0].recall == 1)
        #expect(metrics.perClass[1].precision == 0 && metrics.perClass[1].recall == 0 && metrics.perClass[1].f1 == 0)
        #expect(metrics.perClass[2].support == 0 && metrics.perClass[2].f1 == 0)
        #expect(abs(metrics.macroF1 - (0.8 / 3.0)) < 1e-12)  // F1 of x: 2·(2/3)·1/(5/3) = 0.8
    }

    @Test func meanAndSampleStandardDeviation() {
        let summary = MeanAndDeviation([0.9, 0.92])
        #expect(abs(summary.mean - 0.91) < 1e-12)
        #expect(abs(summary.std - 0.0002.squareRoot()) < 1e-12)
        #expect(MeanAndDeviation([0.5]).std == 0)
    }

    @Test func wordTokenizerAndVocabulary() {
        #expect(WordTokenizer.words("Don't stop! Call 0800-123 now.") == ["don't", "stop", "!", "call", "0800", "-", "123", "now", "."])
        #expect(WordTokenizer.words("  Qu'est-ce que c'est ?\tÉté") == ["qu'est", "-", "ce", "que", "c'est", "?", "été"])
        let vocabulary = WordVocabulary.build(from: ["b a a", "c b a", "d"], maximumSize: 5)
        // a ×3, b ×2, then c and d once each: ties in code-point order, cut at 5 entries.
        #expect(vocabulary.entries == ["[PAD]", "[UNK]", "a", "b", "c"])
        #expect(vocabulary.encode("A d b zzz", maximumLength: 3) == [2, 1, 3])
    }
}

/// The training defaults for small datasets: no held-out slice under 200 records, and at least 200
/// optimizer steps for a fresh native classifier when --epochs is not given.
@Suite struct SmallDataDefaultsTests {
    @Test func validationSliceOnlyFromTwoThousandRecordsUnlessAsked() {
        #expect(TrainingDefaults.validationFraction(requested: nil, trainingRecords: 1_999) == 0)
        #expect(TrainingDefaults.validationFraction(requested: nil, trainingRecords: 2_000) == 0.1)
        #expect(TrainingDefaults.validationFraction(requested: 0.25, trainingRecords: 40) == 0.25)
        #expect(TrainingDefaults.validationFraction(requested: 0, trainingRecords: 50_000) == 0)
    }

    @Test func freshClassifiersTrainAtLeastTwoHundredStepsByDefault() {
        func epochs(finetuning: Bool = false, epochs: Int? = nil, stepsPerEpoch: Int) -> Int {
            TrainingDefaults.settings(for: .image, finetuning: finetuning, epochs: epochs, batchSize: nil, learningRate: nil,
                                      patience: nil, seed: 0, augment: false).withMinimumSteps(stepsPerEpoch: stepsPerEpoch).epochs
        }
        #expect(epochs(stepsPerEpoch: 2) == 100)       // 100 images at batch 64
        #expect(epochs(stepsPerEpoch: 113) == 15)      // the default 15 epochs are already 1,695 steps
        #expect(epochs(stepsPerEpoch: 1) == 200)       // at most 200 epochs
        #expect(epochs(epochs: 4, stepsPerEpoch: 2) == 4)             // --epochs is obeyed
        #expect(epochs(finetuning: true, stepsPerEpoch: 2) == 5)      // continuing a classifier keeps its 5 epochs
    }
}
