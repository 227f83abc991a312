import ArgumentParser
import Foundation
import ReptileCore
import ReptileEvaluation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure how faithful and how diverse synthetic shards are, against the real dataset.",
        discussion: """
            Examples:
              reptile evaluate --synthetic outputs/mnist-sample-gan/synthetic --dataset datasets/mnist-sample \
            --classifier outputs/mnist-sample-classifier/classifier.h5
              reptile evaluate --synthetic outputs/trec-gan/synthetic --dataset datasets/trec --json --out report.json
              reptile evaluate --synthetic outputs/mnist-sample-gan/synthetic --dataset datasets/mnist-sample --html report.html
            Texts: BLEU-2/3/4 against the real test split and Self-BLEU-2/3/4 among the generated texts (nltk's \
            sentence_bleu with smoothing method 1, averaged over a seeded sample, as Texygen), distinct-1/2, the \
            share of exact copies of training texts and of novel 4-grams; the same diversity figures for the real \
            test split. Images: exact copies and duplicates. With --classifier (both kinds): the share whose \
            intended class it predicts and its mean probability for that class; images also get precision, \
            recall, density and coverage (k = 5) and within-class pairwise distances in its penultimate features; \
            --threads is the classifier's.
            """)

    @Option(help: "Synthetic shards: FOLDER[:SPLIT] (default split: synthetic, or the folder's only one).")
    var synthetic: String

    @Option(help: "The real dataset folder: its test split is the reference, its train split is checked for copies.")
    var dataset: String

    @Option(help: "A classifier checkpoint (from `reptile pretrain`), ideally not the PPO reward classifier.")
    var classifier: String?

    @Option(parsing: .unconditional, help: "Texts: hypotheses sampled for BLEU, Self-BLEU and distinct-n; images: most synthetic images per class in the feature metrics.")
    var sample: Int = 500

    @Option(help: "Seed of the samples.")
    var seed: UInt64 = 0

    @OptionGroup var threads: ThreadOptions

    @Flag(help: "Print the report as JSON instead of tables.")
    var json = false

    @Option(help: "Also write the report as JSON to this file (atomically).")
    var out: String?

    @Option(help: "Also write the report as one self-contained HTML page (tables, notes, and a seeded sample of synthetic and real records of every class, images embedded).")
    var html: String?

    @Flag(help: "Replace an existing --out or --html file.")
    var force = false

    func run() throws {
        try runReportingErrors {
            try checkCounts([("--sample", sample, 2)])
            for path in [out, html].compactMap({ $0 }) where FileManager.default.fileExists(atPath: path) && !force {
                throw ReptileError(path: path, "already exists", fix: "choose another name or pass --force to replace it")
            }
            if let out, let html, URL(fileURLWithPath: out).standardized == URL(fileURLWithPath: html).standardized {
                throw ReptileError(path: out, "given as both --out and --html", fix: "name two files, e.g. report.json and report.html")
            }
            var options = EvaluateOptions(synthetic: synthetic, dataset: dataset, classifier: classifier, threads: threads.resolved)
            options.sampleSize = sample
            options.seed = seed
            let report = try evaluate(options)
            // The page is made before either file is written, so a failure leaves neither.
            let page = try html.map { _ in try evaluationPage(report, examples: try evaluationExamples(options)) }
            if let out {
                let text = try StableJSON.string(report, pretty: true) + "\n"
                try writeAtomically(to: out, force: force) { handle in try handle.write(contentsOf: Data(text.utf8)) }
            }
            if let html, let page {
                try writeAtomically(to: html, force: force) { handle in try handle.write(contentsOf: Data(page.utf8)) }
            }
            if json {
                try printJSON(report)
            } else {
                print(evaluationTable(report))
            }
        }
    }
}
