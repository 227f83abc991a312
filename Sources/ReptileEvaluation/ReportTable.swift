import Foundation

/// A figure of the report as the tables show it (Markdown here, HTML in `evaluationPage`).
struct EvaluationColumn: Sendable {
    let header: String
    let value: @Sendable (EvaluationRow) -> Double?
    let format: String

    static let all: [EvaluationColumn] = [
        .init(header: "BLEU-2", value: \.bleu2, format: "%.3f"), .init(header: "BLEU-3", value: \.bleu3, format: "%.3f"),
        .init(header: "BLEU-4", value: \.bleu4, format: "%.3f"),
        .init(header: "Self-BLEU-2", value: \.selfBleu2, format: "%.3f"), .init(header: "Self-BLEU-3", value: \.selfBleu3, format: "%.3f"),
        .init(header: "Self-BLEU-4", value: \.selfBleu4, format: "%.3f"),
        .init(header: "distinct-1", value: \.distinct1, format: "%.3f"), .init(header: "distinct-2", value: \.distinct2, format: "%.3f"),
        .init(header: "copies %", value: { $0.copyShare.map { $0 * 100 } }, format: "%.1f"),
        .init(header: "duplicates %", value: { $0.duplicateShare.map { $0 * 100 } }, format: "%.1f"),
        .init(header: "novel 4-grams %", value: { $0.novelFourGramShare.map { $0 * 100 } }, format: "%.1f"),
        .init(header: "classifier agrees %", value: { $0.classifierAgreement.map { $0 * 100 } }, format: "%.1f"),
        .init(header: "intended-class confidence", value: \.meanIntendedConfidence, format: "%.3f"),
        .init(header: "precision", value: \.precision, format: "%.3f"), .init(header: "recall", value: \.recall, format: "%.3f"),
        .init(header: "density", value: \.density, format: "%.3f"), .init(header: "coverage", value: \.coverage, format: "%.3f"),
        .init(header: "pairwise distance synthetic", value: \.meanPairwiseDistanceSynthetic, format: "%.2f"),
        .init(header: "pairwise distance real", value: \.meanPairwiseDistanceReal, format: "%.2f"),
    ]

    /// The columns some row has a value in.
    static func used(by rows: [EvaluationRow]) -> [EvaluationColumn] {
        all.filter { column in rows.contains { column.value($0) != nil } }
    }

    func cell(_ row: EvaluationRow) -> String { value(row).map { String(format: format, $0) } ?? "" }
}

/// The report as Markdown tables: one row for all classes, then one per class; a column only
/// when some row has a value in it.
public func evaluationTable(_ report: EvaluationReport) -> String {
    func table(_ rows: [EvaluationRow]) -> [String] {
        let used = EvaluationColumn.used(by: rows)
        // Self-BLEU, distinct-n and PRDC depend on how many records were compared: show it.
        let showSampled = rows.contains { $0.sampled != nil }
        var lines = ["| class | records | " + (showSampled ? "sampled | " : "") + used.map(\.header).joined(separator: " | ") + " |",
                     "|---|---:|" + String(repeating: "---:|", count: used.count + (showSampled ? 1 : 0))]
        for row in rows {
            let cells = (showSampled ? [row.sampled.map(String.init) ?? ""] : [])
                + used.map { $0.cell(row) }
            lines.append("| \(row.class) | \(row.records) | " + cells.joined(separator: " | ") + " |")
        }
        return lines
    }

    var lines = [evaluationSummary(report), ""]
    lines += table([report.overall] + report.classes)
    if let realTest = report.realTest {
        lines += ["", "The real test split, for comparison:", ""]
        lines += table(realTest)
    }
    lines.append("")
    lines += evaluationNotes(report)
    return lines.joined(separator: "\n")
}

/// What was compared with what: the line above the tables.
func evaluationSummary(_ report: EvaluationReport) -> String {
    "Synthetic \(report.kind)s \(report.synthetic.dataset):\(report.synthetic.split) (\(report.synthetic.records)) against "
        + "\(report.reference.dataset):\(report.reference.split) (\(report.reference.records)); copies and novelty against "
        + "\(report.train.dataset):\(report.train.split) (\(report.train.records))."
}

/// How the figures were computed: the notes below the tables.
func evaluationNotes(_ report: EvaluationReport) -> [String] {
    var notes: [String] = []
    if report.kind == "text" {
        notes.append("BLEU, Self-BLEU and distinct-n on a seeded sample of at most \(report.settings.sample) texts per row (seed \(report.settings.seed)); BLEU against the real test texts of the same class (all classes for \"all\"), Self-BLEU against the other sampled texts; nltk's sentence_bleu with smoothing method 1, averaged. Tokens: \(report.settings.tokenization ?? "").")
    }
    if let classifier = report.classifier {
        notes.append("Classifier \(classifier.path) (\(classifier.architecture)).")
        if report.kind == "image" {
            notes.append("Precision, recall, density, coverage (k = \(report.settings.neighbours)) and pairwise distances in its penultimate features; at most \(report.settings.sample) synthetic images per class against every real test image.")
        }
    } else {
        notes.append("No --classifier: no agreement\(report.kind == "image" ? ", precision, recall, density or coverage" : "").")
    }
    return notes
}
