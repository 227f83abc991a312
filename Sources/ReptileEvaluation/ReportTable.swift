import Foundation

/// The report as Markdown tables: one row for all classes, then one per class; a column only
/// when some row has a value in it.
public func evaluationTable(_ report: EvaluationReport) -> String {
    typealias Column = (header: String, value: (EvaluationRow) -> Double?, format: String)
    let columns: [Column] = [
        ("BLEU-2", \.bleu2, "%.3f"), ("BLEU-3", \.bleu3, "%.3f"), ("BLEU-4", \.bleu4, "%.3f"),
        ("Self-BLEU-2", \.selfBleu2, "%.3f"), ("Self-BLEU-3", \.selfBleu3, "%.3f"), ("Self-BLEU-4", \.selfBleu4, "%.3f"),
        ("distinct-1", \.distinct1, "%.3f"), ("distinct-2", \.distinct2, "%.3f"),
        ("copies %", { $0.copyShare.map { $0 * 100 } }, "%.1f"), ("duplicates %", { $0.duplicateShare.map { $0 * 100 } }, "%.1f"),
        ("novel 4-grams %", { $0.novelFourGramShare.map { $0 * 100 } }, "%.1f"),
        ("classifier agrees %", { $0.classifierAgreement.map { $0 * 100 } }, "%.1f"),
        ("intended-class confidence", \.meanIntendedConfidence, "%.3f"),
        ("precision", \.precision, "%.3f"), ("recall", \.recall, "%.3f"), ("density", \.density, "%.3f"),
        ("coverage", \.coverage, "%.3f"),
        ("pairwise distance synthetic", \.meanPairwiseDistanceSynthetic, "%.2f"),
        ("pairwise distance real", \.meanPairwiseDistanceReal, "%.2f"),
    ]

    func table(_ rows: [EvaluationRow]) -> [String] {
        let used = columns.filter { column in rows.contains { column.value($0) != nil } }
        // Self-BLEU, distinct-n and PRDC depend on how many records were compared: show it.
        let showSampled = rows.contains { $0.sampled != nil }
        var lines = ["| class | records | " + (showSampled ? "sampled | " : "") + used.map(\.header).joined(separator: " | ") + " |",
                     "|---|---:|" + String(repeating: "---:|", count: used.count + (showSampled ? 1 : 0))]
        for row in rows {
            let cells = (showSampled ? [row.sampled.map(String.init) ?? ""] : [])
                + used.map { column in column.value(row).map { String(format: column.format, $0) } ?? "" }
            lines.append("| \(row.class) | \(row.records) | " + cells.joined(separator: " | ") + " |")
        }
        return lines
    }

    var lines = ["Synthetic \(report.kind)s \(report.synthetic.dataset):\(report.synthetic.split) (\(report.synthetic.records)) against "
                 + "\(report.reference.dataset):\(report.reference.split) (\(report.reference.records)); copies and novelty against "
                 + "\(report.train.dataset):\(report.train.split) (\(report.train.records)).", ""]
    lines += table([report.overall] + report.classes)
    if let realTest = report.realTest {
        lines += ["", "The real test split, for comparison:", ""]
        lines += table(realTest)
    }
    lines.append("")
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
    lines += notes
    return lines.joined(separator: "\n")
}
