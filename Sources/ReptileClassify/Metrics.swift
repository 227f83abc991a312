import Foundation

/// How well predictions match true labels: accuracy, macro-F1, per-class precision / recall / F1
/// and the confusion matrix (rows: true class, columns: predicted class).
///
/// A class that is never predicted has precision 0 and one that never occurs has recall 0 (and
/// F1 0), scikit-learn's `zero_division=0`; macro-F1 averages over every class of the classifier.
public struct ClassificationMetrics: Codable, Equatable, Sendable {
    public struct PerClass: Codable, Equatable, Sendable {
        public var name: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// How many records of this class there are.
        public var support: Int
    }

    public var count: Int
    public var correct: Int
    public var accuracy: Double
    public var macroF1: Double
    public var perClass: [PerClass]
    public var confusionMatrix: [[Int]]

    public init(labels: [Int], predictions: [Int], classNames: [String]) {
        precondition(labels.count == predictions.count, "\(labels.count) labels but \(predictions.count) predictions")
        let classCount = classNames.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (label, prediction) in zip(labels, predictions) {
            precondition((0..<classCount).contains(label) && (0..<classCount).contains(prediction),
                         "label \(label) or prediction \(prediction) outside the \(classCount) classes")
            confusion[label][prediction] += 1
        }
        count = labels.count
        correct = (0..<classCount).reduce(0) { $0 + confusion[$1][$1] }
        accuracy = count > 0 ? Double(correct) / Double(count) : 0
        perClass = (0..<classCount).map { index in
            let truePositives = Double(confusion[index][index])
            let predicted = Double((0..<classCount).reduce(0) { $0 + confusion[$1][index] })
            let actual = confusion[index].reduce(0, +)
            let precision = predicted > 0 ? truePositives / predicted : 0
            let recall = actual > 0 ? truePositives / Double(actual) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return PerClass(name: classNames[index], precision: precision, recall: recall, f1: f1, support: actual)
        }
        macroF1 = classCount > 0 ? perClass.reduce(0) { $0 + $1.f1 } / Double(classCount) : 0
        confusionMatrix = confusion
    }
}

/// Mean and sample standard deviation (n − 1) of repeated measurements; std 0 for one value.
public struct MeanAndDeviation: Codable, Equatable, Sendable {
    public var mean: Double
    public var std: Double
    public var values: [Double]

    public init(_ values: [Double]) {
        self.values = values
        let mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        self.mean = mean
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        std = values.count > 1 ? (squares / Double(values.count - 1)).squareRoot() : 0
    }
}
