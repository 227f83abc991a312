import ArgumentParser
import Foundation
import ReptileClassify
import ReptileCore
#if canImport(Glibc)
import Glibc
#endif

/// Training flags shared by `pretrain` and `finetune`; unset ones take the per-kind defaults.
struct ClassifierTrainingArguments: ParsableArguments {
    /// Its count options, for `checkCounts`.
    var counts: [(option: String, value: Int?, minimum: Int)] {
        [("--epochs", epochs, 1), ("--batch-size", batchSize, 1), ("--patience", patience, 1),
         ("--vocab-size", vocabSize, 1), ("--max-length", maxLength, 1)]
    }

    @Option(parsing: .unconditional, help: "Most epochs to train (default: images 15, texts 20; fine-tuning 5; --encoder 3, continuing minilm 2; more on small sets: at least 200 steps for a fresh classifier or any minilm, in at most 200 epochs, minilm 20).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Records per training batch (default 64; --encoder 32).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Peak Adam learning rate, after a half-epoch warm-up, then cosine decay (default 1e-3; fine-tuning 3e-4). With --encoder: the encoder's peak AdamW rate after a 10 % linear warm-up, then linear decay (default 2e-5).")
    var learningRate: Float?

    @Option(help: "Texts: a Hugging Face BERT folder (config.json, model.safetensors, vocab.txt), e.g. all-MiniLM-L6-v2; the classifier is then minilm (encoder, mean pooling, linear head).")
    var encoder: String?

    @Flag(help: "With --encoder: train only the head (the encoder's weights stay as loaded).")
    var freezeEncoder = false

    @Option(parsing: .unconditional, help: "With --encoder: the peak AdamW rate of the linear head (default 1e-3 for a fresh head; continuing: --learning-rate).")
    var headLearningRate: Float?

    @Option(parsing: .unconditional, help: "Stop after this many epochs without a better validation accuracy (default 3).")
    var patience: Int?

    @Option(name: .customLong("val-fraction"), parsing: .unconditional, help: "Share of the training data held out (seeded) for early stopping when there is no val split (default 0.1, or none when that would be under 200 records: training then keeps the last epoch's weights; 0: none).")
    var validationFraction: Double?

    @Flag(help: "Images: random shifts of up to ±2 pixels while training.")
    var augment = false

    @Option(parsing: .unconditional, help: "Texts: most words in the vocabulary built from the training texts ([PAD] and [UNK] included).")
    var vocabSize: Int = 20_000

    @Option(parsing: .unconditional, help: "Texts: words read per text (the rest is cut); with --encoder, WordPiece tokens including [CLS] and [SEP].")
    var maxLength: Int = 64

    @Option(help: "Seed for weights, data order, held-out slice, dropout and augmentation.")
    var seed: UInt64 = 0

    @OptionGroup var threads: ThreadOptions

    @Flag(help: "Replace an existing output folder (only once the new one is complete).")
    var force = false

    @Flag(help: "Continue an unfinished (interrupted or killed) run of --out after its last saved epoch; it ends as an uninterrupted run with the same command and threads would.")
    var resume = false

    @Flag(help: "Print the report as JSON on standard output (no progress bar).")
    var json = false

    var textOptions: TextModelOptions {
        var options = TextModelOptions()
        options.vocabularySize = vocabSize
        options.maximumLength = maxLength
        return options
    }

    /// The library's options from the flags (progress bar unless --json; the command line for the report).
    func options() throws -> ClassifierTrainingOptions {
        var options = ClassifierTrainingOptions(threads: threads.resolved)
        options.epochs = epochs
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.patience = patience
        options.seed = seed
        options.augment = augment
        options.text = textOptions
        options.encoder = encoder
        options.freezeEncoder = freezeEncoder
        options.headLearningRate = headLearningRate
        options.validationFraction = validationFraction
        options.force = force
        options.resume = resume
        options.showProgress = !json
        options.command = commandLineText
        return options
    }
}

private func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the default classifier for a dataset's kind on its train split (early stopping on val, or a held-out slice).",
        discussion: """
            Images: the W4 CNN sized for the dataset's H×W×C. Texts: word embeddings, Conv1d of widths 3/4/5, max over time, \
            dropout, linear, with a vocabulary from the train split saved inside the checkpoint; with --encoder PATH, a \
            pretrained BERT (all-MiniLM-L6-v2) with mean pooling and a linear head, fine-tuned with AdamW (or only the head, \
            --freeze-encoder). Writes OUT/classifier.h5, \
            OUT/report.json (test accuracy, macro-F1, per-class precision/recall, confusion matrix, data sha256s, seeds, timing) \
            and OUT/metrics.jsonl (one line per epoch).
            """)

    @Option(help: "The dataset folder (made by `reptile ingest`).")
    var dataset: String

    @Option(help: "The output folder to create.")
    var out: String

    @OptionGroup var training: ClassifierTrainingArguments

    func run() throws {
        try runReportingErrors {
            try checkCounts(training.counts)
            let options = PretrainOptions(dataset: dataset, output: out, training: try training.options())
            let report = try pretrainClassifier(options)
            if training.json {
                try printJSON(report)
            } else {
                let test = report.test.map { "test accuracy \(percent($0.accuracy)), macro-F1 \(String(format: "%.4f", $0.macroF1))" } ?? "no test split"
                print("wrote \(out)/\(ClassifierRunFiles.checkpoint): \(test); best epoch \(report.training.bestEpoch) of \(report.training.epochsRun), "
                      + String(format: "%.1f s", report.timing.totalSeconds))
            }
        }
    }
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue training a classifier on any shards (real, synthetic or a mix) and evaluate it on a real split before and after.",
        discussion: """
            SHARDS is a dataset folder, optionally FOLDER:SPLIT (default: train, or the folder's only split). With two --train \
            sources, --mix F draws a share F of every batch from the second. Without --classifier (or with --scratch) a fresh \
            model is trained: on synthetic data only, the Classification Accuracy Score. --repeats K runs seeds SEED … SEED+K−1 \
            and reports mean ± std; the checkpoint written is the first seed's.
            """)

    @Option(help: "The pretrained classifier checkpoint (classifier.h5) to continue from.")
    var classifier: String?

    @Flag(help: "Train fresh weights (the checkpoint, if given, only supplies the architecture and vocabulary).")
    var scratch = false

    @Option(help: "Architecture of a fresh classifier (default per kind: cnn for images, text-cnn for texts).")
    var architecture: String?

    @Option(help: "Training shards: FOLDER[:SPLIT]. Give twice to mix two sources.")
    var train: [String] = []

    @Option(parsing: .unconditional, help: "With two --train sources: the share of each batch drawn from the second (default: in proportion to their sizes).")
    var mix: Double?

    @Option(name: .customLong("eval"), help: "The real split to evaluate on: FOLDER[:SPLIT] (default split test).")
    var evaluation: String

    @Option(help: "The output folder to create.")
    var out: String

    @Option(parsing: .unconditional, help: "Train with this many seeds (SEED, SEED+1, …) and report mean ± std.")
    var repeats: Int = 1

    @OptionGroup var training: ClassifierTrainingArguments

    func run() throws {
        try runReportingErrors {
            try checkCounts(training.counts + [("--repeats", repeats, 1)])
            guard !train.isEmpty else { throw ReptileError("give the training shards with --train FOLDER[:SPLIT]", fix: "e.g. --train datasets/NAME:train") }
            var options = FinetuneOptions(train: train, evaluation: evaluation, output: out, training: try training.options())
            options.classifier = classifier
            options.scratch = scratch
            options.architecture = architecture
            options.mix = mix
            options.repeats = repeats
            let report = try finetuneClassifier(options)
            if training.json {
                try printJSON(report)
            } else {
                let before = report.before.map { "accuracy \(percent($0.accuracy)) before, " } ?? ""
                let after = repeats > 1 ? "\(report.summary.accuracyText) after (\(repeats) seeds)" : "\(percent(report.after.accuracy)) after"
                print("wrote \(out)/\(ClassifierRunFiles.checkpoint): \(before)\(after), macro-F1 \(String(format: "%.4f", report.summary.macroF1.mean))")
            }
        }
    }
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict classes for a dataset split, a folder of PNG/JPEG images or a text file (one text a line), as JSON Lines.",
        discussion: """
            INPUT: FOLDER[:SPLIT] of a dataset (default split test; lines carry "index" and "true_label"), a folder of PNG or JPEG images \
            (searched recursively, converted like ingest; lines carry "file"), or a text file (lines carry "text"). Every line \
            has "label" and "probability" (the softmax probability of that label).
            """)

    @Option(help: "The classifier checkpoint (classifier.h5).")
    var classifier: String

    @Argument(help: "A dataset FOLDER[:SPLIT], a folder of PNG/JPEG images, or a text file.")
    var input: String

    @Option(help: "Write the JSON Lines to this file instead of standard output.")
    var out: String?

    @Flag(help: "Replace an existing --out file.")
    var force = false

    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try runReportingErrors {
            let options = ClassifyOptions(classifier: classifier, input: input, threads: threads.resolved)
            guard let out else {
                try classify(options) { prediction in
                    FileHandle.standardOutput.write(Data((try StableJSON.string(prediction) + "\n").utf8))
                }
                return
            }
            try writeAtomically(to: out, force: force) { handle in
                try classify(options) { prediction in try handle.write(contentsOf: Data((try StableJSON.string(prediction) + "\n").utf8)) }
            }
        }
    }
}

/// Writes a file through a temporary sibling renamed into place when complete; an existing file
/// is replaced only with `force`.
func writeAtomically(to path: String, force: Bool, _ body: (FileHandle) throws -> Void) throws {
    if FileManager.default.fileExists(atPath: path) && !force {
        throw ReptileError(path: path, "already exists", fix: "choose another name or pass --force to replace it")
    }
    let url = URL(fileURLWithPath: path)
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw ReptileError(path: path, "is a folder; --force replaces only a file", fix: "give a file name")
    }
    removeAbandonedPartials(of: url.lastPathComponent, in: url.deletingLastPathComponent())
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
    guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
        throw ReptileError(path: path, "cannot create the file", fix: "check that the folder exists and is writable")
    }
    InterruptCleanup.register(temporary)
    defer { InterruptCleanup.unregister(temporary) }
    do {
        try body(handle)
        try handle.close()
        try synchronizeToDisk(temporary)
        if force {
            guard rename(temporary, path) == 0 else {
                throw ReptileError(path: path, "cannot move the finished file into place (\(String(cString: strerror(errno))))")
            }
        } else {
            // link() never replaces: a file that appeared meanwhile (another run) is kept and this one refused.
            guard link(temporary, path) == 0 else {
                let reason = errno == EEXIST ? "appeared while this run was writing it; it was kept" : String(cString: strerror(errno))
                throw ReptileError(path: path, "cannot move the finished file into place (\(reason))", fix: "choose another name or pass --force to replace it")
            }
            unlink(temporary)
        }
    } catch {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
        // A failed write (a full disk) is Foundation's error: said as Reptile's one line, with the file.
        if error is ReptileError { throw error }
        throw ReptileError(path: path, "cannot write (\(error.localizedDescription))", fix: "check free disk space and permissions")
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the test accuracy of pretrain/finetune reports in one table.",
        discussion: """
            Each argument is LABEL=PATH, PATH a report.json or the output folder holding one, e.g. \
            real=outputs/mnist-sample-classifier synthetic=outputs/cas. A finetune that continued a \
            classifier lists what that one was trained on first ("A, then B"), read from the report \
            next to its checkpoint.
            """)

    @Argument(help: "LABEL=PATH pairs, in the order of the table's rows (the first is the baseline).")
    var reports: [String]

    @Flag(help: "Print the rows as JSON instead of a table.")
    var json = false

    func validate() throws {
        guard !reports.isEmpty else { throw ValidationError("give at least one LABEL=PATH") }
    }

    func run() throws {
        try runReportingErrors {
            let entries = try reports.map { argument -> (label: String, path: String) in
                guard let separator = argument.firstIndex(of: "="), separator != argument.startIndex else {
                    throw ReptileError(location: "argument \(quoted(argument))", "is not LABEL=PATH", fix: "write e.g. real=outputs/mnist-sample-classifier")
                }
                return (String(argument[..<separator]), String(argument[argument.index(after: separator)...]))
            }
            let rows = try compareReports(entries)
            if json { try printJSON(rows) } else { print(comparisonTable(rows)) }
        }
    }
}
