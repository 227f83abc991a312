import ArgumentParser
import Foundation
import ReptileCore
import ReptileFormats
import ReptileLanguageModel
import ReptileSynthesis

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a class-conditional generator on a dataset (outputs/RUN), optionally refined by PPO.",
        subcommands: [TrainImage.self, TrainText.self])
}

extension DiscriminatorHead: ExpressibleByArgument {}
extension DiffAugmentSetting: ExpressibleByArgument {}
extension DiffAugmentPolicy: ExpressibleByArgument {}
extension GeneratorConditioning: ExpressibleByArgument {}
extension AdversarialLoss: ExpressibleByArgument {}

/// What both `train` subcommands take: the dataset, the run folder, and how the run is seeded,
/// threaded and (re)started.
struct RunArguments: ParsableArguments {
    @Option(help: "The dataset folder (datasets/NAME). When resuming, the run's own dataset by default.")
    var dataset: String?

    @Option(help: "The run folder to create (or resume).")
    var out: String

    @Option(help: "Seed of initialisation, data order, noise, augmentation and sampling (default 0).")
    var seed: UInt64?

    @OptionGroup var threads: ThreadOptions

    @Flag(help: "Replace an existing run folder (only once the new run's first epoch is complete).")
    var force = false

    @Flag(help: "Continue the run in --out from its last checkpoint.")
    var resume = false

    @Flag(help: "Print the result as JSON on standard output at the end (the per-epoch lines go to standard error; no progress bar).")
    var json = false

    func apply<Options: RunOptions>(to options: inout Options) {
        options.seed = seed
        options.threads = threads.given
        options.force = force
        options.resume = resume
        options.showProgress = !json
    }

    /// Writes the per-epoch lines as they come (not through print's buffer, so a log file or pipe
    /// shows each epoch as it ends): to standard output, or under --json to standard error, so that
    /// standard output holds the JSON alone.
    func epochLineWriter() -> (String) -> Void {
        let handle = json ? FileHandle.standardError : FileHandle.standardOutput
        return { line in handle.write(Data((line + "\n").utf8)) }
    }
}

/// The run settings an image or text GAN's training options share with `RunArguments`.
protocol RunOptions {
    var seed: UInt64? { get set }
    var threads: Int? { get set }
    var force: Bool { get set }
    var resume: Bool { get set }
    var showProgress: Bool { get set }
}

extension ImageGANTrainingOptions: RunOptions {}
extension TextGANTrainingOptions: RunOptions {}

/// Whether PPO runs (a count above zero); a negative count, or a reward classifier without PPO, is an error.
private func ppoIsOn(iterations: Int, classifier: String?, example: Int) throws -> Bool {
    if iterations < 0 { throw ReptileError("--ppo-iterations must not be negative", fix: "use e.g. \(example)") }
    if iterations == 0 && classifier != nil {
        throw ReptileError("--classifier is the PPO reward classifier; it needs --ppo-iterations N", fix: "add e.g. --ppo-iterations \(example)")
    }
    return iterations > 0
}

struct TrainImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Train the conditional DCGAN (W1) on an image dataset of 28×28 or 32×32 images, 1 or 3 channels.",
        discussion: """
            Examples:
              reptile train image --dataset datasets/mnist-sample --out outputs/mnist-gan --epochs 10
              reptile train image --out outputs/mnist-gan --resume
              reptile train image --out outputs/mnist-gan --resume --ppo-iterations 20 \
            --classifier outputs/mnist-sample-classifier/classifier.h5
            Every epoch writes outputs/RUN/checkpoint.h5 (atomically), a line in metrics.jsonl and \
            samples/epoch-NNNN.png (one row per class). --resume continues a killed run and ends with the \
            same weights as an uninterrupted one (same seed and --threads).
            """)

    @OptionGroup var runArguments: RunArguments

    @Option(help: "Discriminator head: acgan (auxiliary classifier), tacgan (AC-GAN plus a twin classifier trained on generated images, Gong et al. 2019) or projection. Default acgan.")
    var discriminator: DiscriminatorHead?

    @Flag(help: "Spectral normalisation of every discriminator weight.")
    var spectralNorm = false

    @Option(help: "DiffAugment (translation + cutout on real and generated images): auto (on below 500 images per class), on, off.")
    var diffAugment: DiffAugmentSetting?

    @Option(help: "DiffAugment's transforms when it is on: translation, or translation-cutout (default translation-cutout).")
    var diffAugmentPolicy: DiffAugmentPolicy?

    @Option(help: "Where the generator sees the class: input (W1: one-hot next to the noise) or batchnorm (also per-class gains and biases in every batch-norm). Default input.")
    var generatorConditioning: GeneratorConditioning?

    @Option(help: "Adversarial loss: bce (non-saturating, W1) or hinge. Default bce.")
    var loss: AdversarialLoss?

    @Option(parsing: .unconditional, help: "Decay of the generator's exponential moving average (the weights sampled from). Default 0.999.")
    var emaDecay: Float?

    @Option(parsing: .unconditional, help: "Adversarial epochs in total (default 20; when resuming, raise it to train further).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Batch size (default 64).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Adam learning rate of both networks (default 0.0002, β₁ 0.5).")
    var learningRate: Float?

    @Option(parsing: .unconditional, help: "Adam learning rate of the discriminator alone (two time-scale update rule, e.g. 0.0004 with --learning-rate 0.0001). Default: --learning-rate.")
    var discriminatorLearningRate: Float?

    @Option(parsing: .unconditional, help: "λ of the mode-seeking term (MSGAN, Mao et al. 2019) in the generator's loss: pairs of images of one class should differ as much as their noise does (default 0, off).")
    var modeSeeking: Float?

    @Option(parsing: .unconditional, help: "Fewest steps in an epoch (default 100): a small dataset repeats its passes over the images, so 100 images still give 100 steps, not one, between checkpoints.")
    var minEpochSteps: Int?

    @Option(parsing: .unconditional, help: "PPO iterations after the adversarial epochs (needs --classifier). Default 0.")
    var ppoIterations: Int = 0

    @Option(help: "The reward classifier's checkpoint (made by `reptile pretrain` on the same dataset).")
    var classifier: String?

    @Option(parsing: .unconditional, help: "σ of the Gaussian policy around the generator's output, on the [-1, 1] pixel scale (default 0.05).")
    var ppoSigma: Float?

    @Option(parsing: .unconditional, help: "w in reward = D logit + w·log p_C(y|x) − β·KL (default 1).")
    var rewardClassifierWeight: Float?

    @Option(parsing: .unconditional, help: "β, the weight of the KL penalty to the pre-PPO generator, in nats summed over pixels (default 0.001).")
    var klWeight: Float?

    @Option(parsing: .unconditional, help: "PPO epochs over each batch of rollouts (default 4).")
    var ppoEpochs: Int?

    @Option(parsing: .unconditional, help: "Rollouts per PPO iteration (default 256).")
    var ppoRollouts: Int?

    @Option(parsing: .unconditional, help: "Adam learning rate of the PPO generator (default 0.00005).")
    var ppoLearningRate: Float?

    @Flag(inversion: .prefixedNo, help: "Update the discriminator between PPO iterations (it is frozen within one). Default off; a resumed run keeps its setting.")
    var refreshDiscriminator: Bool?

    func run() throws {
        try runReportingErrors {
            try checkCounts([("--epochs", epochs, 1), ("--batch-size", batchSize, 2), ("--min-epoch-steps", minEpochSteps, 1), ("--ppo-iterations", ppoIterations, 0), ("--ppo-epochs", ppoEpochs, 1), ("--ppo-rollouts", ppoRollouts, 1)])
            var options = ImageGANTrainingOptions(dataset: runArguments.dataset, out: runArguments.out)
            runArguments.apply(to: &options)
            options.discriminatorHead = discriminator
            options.spectralNorm = spectralNorm ? true : nil
            options.diffAugment = diffAugment
            options.emaDecay = emaDecay
            options.epochs = epochs
            options.batchSize = batchSize
            options.learningRate = learningRate
            options.discriminatorLearningRate = discriminatorLearningRate
            options.generatorConditioning = generatorConditioning
            options.diffAugmentPolicy = diffAugmentPolicy
            options.adversarialLoss = loss
            options.minimumStepsPerEpoch = minEpochSteps
            options.modeSeekingWeight = modeSeeking
            if try ppoIsOn(iterations: ppoIterations, classifier: classifier, example: 20) {
                var ppo = ImagePPOOptions(iterations: ppoIterations)
                ppo.classifier = classifier
                ppo.sigma = ppoSigma
                ppo.rewardClassifierWeight = rewardClassifierWeight
                ppo.klWeight = klWeight
                ppo.epochs = ppoEpochs
                ppo.rollouts = ppoRollouts
                ppo.learningRate = ppoLearningRate
                ppo.refreshDiscriminator = refreshDiscriminator
                options.ppo = ppo
            }
            let result = try trainImageGAN(options, report: runArguments.epochLineWriter())
            if runArguments.json {
                try printJSON(["run": .string(result.run), "epochs": .integer(Int64(result.epochs)), "steps": .integer(Int64(result.steps)),
                               "ppo_iterations": .integer(Int64(result.ppoIterations)), "diff_augment": .bool(result.diffAugment),
                               "last_metrics": .object(result.lastMetrics)] as [String: JSONValue])
            } else {
                print("trained \(result.run): \(result.epochs) epochs, \(result.steps) steps, \(result.ppoIterations) PPO iterations"
                      + (result.diffAugment ? " (DiffAugment on)" : ""))
            }
        }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write synthetic images or texts from a trained run: outputs/RUN/synthetic/ (shards; PNGs or synthetic.jsonl).",
        discussion: """
            Examples:
              reptile generate --run outputs/mnist-gan --per-class 1000
              reptile generate --run outputs/mnist-gan --per-class 100 --format h5,png --min-confidence 0.9
              reptile generate --run outputs/trec-text --per-class 500 --temperature 0.9 --top-p 0.95
            Shards follow the dataset contract with a d_score per sample (the discriminator's real/fake logit, \
            before the sigmoid) and a confidence (probability of the intended class under --classifier, else \
            the run's PPO reward classifier, else the discriminator's class head; dataset_info.json records \
            which as confidence_source). Exactly N per class; with --min-confidence, samples below it \
            are drawn again (at most --max-draws (20) draws per sample asked for; generation fails in one line, writing \
            nothing, when a class cannot reach N). Text runs also write synthetic.jsonl ({"text", "label", \
            "d_score", "confidence"} a line) and drop exact duplicates and exact copies of training texts \
            (counted in dataset_info.json).
            """)

    @Option(name: .customLong("run"), help: "The run folder (made by `reptile train image` or `reptile train text`).")
    var runFolder: String

    @Option(parsing: .unconditional, help: "Images or texts per class.")
    var perClass: Int

    @Option(parsing: .unconditional, help: "Text runs: softmax temperature of sampling (default 1).")
    var temperature: Float?

    @Option(parsing: .unconditional, help: "Text runs: nucleus sampling, only the most probable tokens holding this share of the probability (default 1: all).")
    var topP: Float?

    @Option(help: "Text runs: uniform (exactly N per class) or train (N × classes in all, in the real train split's class proportions).")
    var classProportions: String?

    @Flag(help: "Text runs: keep exact duplicates among the generated texts (dropped by default).")
    var keepDuplicates = false

    @Flag(help: "Text runs: keep generated texts that copy a training text exactly (dropped by default).")
    var keepTrainingCopies = false

    @Option(help: "Outputs: h5 (always), png (adds synthetic/png/<class>/<index>.png), comma-separated.")
    var format: String = "h5"

    @Option(parsing: .unconditional, help: "Keep only samples whose confidence is at least C.")
    var minConfidence: Float?

    @Option(parsing: .unconditional, help: "Image runs: keep only images whose confidence is at most C (drops the easiest, most prototypical samples).")
    var maxConfidence: Float?

    @Option(parsing: .unconditional, help: "Image runs: keep only images whose d_score (the discriminator's real/fake logit) is at least S.")
    var minDScore: Float?

    @Option(help: "Classifier checkpoint for the confidence column (default: the run's PPO reward classifier).")
    var classifier: String?

    @Option(help: "Generator: auto (PPO if trained, else EMA / MLE), ema (image), raw (image: the un-averaged adversarial generator), mle (text), pre-ppo (= ema or mle), ppo.")
    var generator: String = "auto"

    @Option(parsing: .unconditional, help: "Samples generated per batch (memory is bounded by it).")
    var batchSize: Int = 256

    @Option(parsing: .unconditional, help: "Image runs: standard deviation of the noise z (training uses 1; below 1 truncates towards typical images, above 1 widens the spread).")
    var noiseScale: Float = 1

    @Option(parsing: .unconditional, help: "Records per shard file.")
    var shardSize: Int = 10_000

    @Option(parsing: .unconditional, help: "Draws a class may take per sample asked for before generation gives up (filters and dropped texts make draws fail).")
    var maxDraws: Int = 20

    @Option(help: "Seed of the noise (images) or of the token sampling (texts).")
    var seed: UInt64 = 0

    @OptionGroup var threads: ThreadOptions

    @Flag(help: "Replace an existing synthetic folder (only once the new one is complete).")
    var force = false

    @Flag(help: "Fix the `created` time stamp (to $SOURCE_DATE_EPOCH, or 1970-01-01) so the same seed gives identical files.")
    var deterministic = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            try checkCounts([("--per-class", perClass, 1), ("--batch-size", batchSize, 1), ("--shard-size", shardSize, 1), ("--max-draws", maxDraws, 1)])
            if try RunKind.of(run: runFolder) .isText { return try generateText() }
            if temperature != nil || topP != nil || classProportions != nil {
                throw ReptileError("--temperature, --top-p and --class-proportions are for text runs; \(runFolder) is an image run", fix: "leave them out")
            }
            var options = ImageGenerationOptions(run: runFolder, perClass: perClass)
            let formats = format.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if let unknown = formats.first(where: { $0 != "h5" && $0 != "png" }) {
                throw ReptileError("--format \(quoted(unknown)) is not h5 or png", fix: "write e.g. --format h5,png")
            }
            options.writePNG = formats.contains("png")
            applyShared(to: &options)
            options.maximumConfidence = maxConfidence
            options.minimumDScore = minDScore
            guard let choice = GeneratorChoice(rawValue: generator) else {
                throw ReptileError("--generator \(quoted(generator)) is not one of \(GeneratorChoice.allCases.map(\.rawValue).joined(separator: ", "))",
                                   fix: "write e.g. --generator ema")
            }
            options.generator = choice
            options.noiseScale = noiseScale
            let result = try generateImages(options)
            if json {
                try printJSON(["path": .string(result.path), "count": .integer(Int64(result.count)), "draws": .integer(Int64(result.draws)),
                               "generator": .string(result.generator), "confidence_source": .string(result.confidenceSource),
                               "class_counts": .array(result.classCounts.map { .integer(Int64($0)) })] as [String: JSONValue])
            } else {
                print("wrote \(result.count) images (\(result.classCounts.first ?? 0) per class, \(result.draws) drawn) from \(result.generator) to \(result.path)")
            }
        }
    }
}

/// The settings image and text generation share with the `generate` options of either kind.
protocol GenerationSettings {
    var minimumConfidence: Float? { get set }
    var classifier: String? { get set }
    var batchSize: Int { get set }
    var shardSize: Int { get set }
    var maximumDrawsPerSample: Int { get set }
    var seed: UInt64 { get set }
    var threads: Int? { get set }
    var force: Bool { get set }
    var command: String { get set }
    var showProgress: Bool { get set }
    var created: String? { get set }
}

extension ImageGenerationOptions: GenerationSettings {}
extension TextGenerationOptions: GenerationSettings {}

extension Generate {
    /// Copies the options both kinds of run take into the library's options.
    func applyShared<Options: GenerationSettings>(to options: inout Options) {
        options.minimumConfidence = minConfidence
        options.classifier = classifier
        options.batchSize = batchSize
        options.shardSize = shardSize
        options.maximumDrawsPerSample = maxDraws
        options.seed = seed
        options.threads = threads.given
        options.force = force
        options.command = commandLineText
        options.showProgress = !json
        if deterministic {
            options.created = deterministicCreationTimestamp()
        }
    }

    /// `generate` on a text run (the run's checkpoint says which kind it is).
    func generateText() throws {
        if format != "h5" { throw ReptileError("--format is for image runs; a text run writes shards and synthetic.jsonl", fix: "leave --format out") }
        if maxConfidence != nil || minDScore != nil || noiseScale != 1 {
            throw ReptileError("--max-confidence, --min-d-score and --noise-scale are for image runs; \(runFolder) is a text run", fix: "leave them out")
        }
        var options = TextGenerationOptions(run: runFolder, perClass: perClass)
        options.temperature = temperature ?? 1
        options.topP = topP ?? 1
        if let classProportions {
            guard let proportions = TextClassProportions(rawValue: classProportions) else {
                throw ReptileError("--class-proportions \(quoted(classProportions)) is not one of \(TextClassProportions.allCases.map(\.rawValue).joined(separator: ", "))",
                                   fix: "write --class-proportions train or uniform")
            }
            options.classProportions = proportions
        }
        applyShared(to: &options)
        guard let choice = TextGeneratorChoice(rawValue: generator) else {
            throw ReptileError("--generator \(quoted(generator)) is not one of \(TextGeneratorChoice.allCases.map(\.rawValue).joined(separator: ", ")) for a text run",
                               fix: "write e.g. --generator mle")
        }
        options.generator = choice
        options.keepDuplicates = keepDuplicates
        options.keepTrainingCopies = keepTrainingCopies
        let result = try generateTexts(options)
        if json {
            try printJSON(["path": .string(result.path), "count": .integer(Int64(result.count)), "draws": .integer(Int64(result.draws)),
                           "dropped_duplicates": .integer(Int64(result.droppedDuplicates)),
                           "dropped_training_copies": .integer(Int64(result.droppedTrainingCopies)),
                           "generator": .string(result.generator), "confidence_source": .string(result.confidenceSource),
                           "class_counts": .array(result.classCounts.map { .integer(Int64($0)) })] as [String: JSONValue])
        } else {
            print("wrote \(result.count) texts (\(Set(result.classCounts).count == 1 ? "\(result.classCounts.first ?? 0) per class" : "per class " + result.classCounts.map(String.init).joined(separator: "/")), \(result.draws) drawn; dropped \(result.droppedDuplicates) duplicates, \(result.droppedTrainingCopies) training copies) from \(result.generator) to \(result.path)")
        }
    }
}

struct TrainText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "Train the class-conditional GRU generator (W2) by maximum likelihood, the class-aware CNN discriminator (W3), then optionally PPO.",
        discussion: """
            Examples:
              reptile train text --dataset datasets/trec --out outputs/trec-text
              reptile train text --out outputs/trec-text --resume --ppo-iterations 10 \
            --classifier outputs/trec-classifier/classifier.h5
            Every MLE epoch, discriminator epoch and PPO iteration replaces outputs/RUN/checkpoint.h5 atomically and adds \
            a line to metrics.jsonl; samples-NNNN.txt (samples-ppo-NNNN.txt) holds three generations per class. \
            MLE stops early when validation perplexity (the val split, else a seeded --val-fraction of train) has not \
            improved for --patience epochs; the best epoch's weights are the MLE (pre-PPO) generator. report.json gives \
            the test-split perplexity of the MLE and PPO generators. --resume ends with the same weights as an \
            uninterrupted run (same seed and --threads).
            """)

    @OptionGroup var runArguments: RunArguments

    @Option(parsing: .unconditional, help: "The generator: lm (a pretrained causal language model fine-tuned on the class-prompted texts) or gru (a small GRU trained from nothing, with its discriminator and PPO). Default gru.")
    var generator = "gru"

    @Option(parsing: .unconditional, help: "lm: the pretrained model, a folder holding one .gguf file or a Hugging Face Llama folder (default models/SmolLM2-135M-Instruct, else ../shared/models/SmolLM2-135M-Instruct).")
    var baseModel: String?

    @Option(parsing: .unconditional, help: "lm: rank of the LoRA adapters on every attention and feed-forward projection, or 0 for full fine-tuning (default 16).")
    var loraRank: Int?

    @Option(parsing: .unconditional, help: "Vocabulary size, markers included (default 5000): the most frequent words and punctuation of train.")
    var vocabSize: Int?

    @Option(parsing: .unconditional, help: "Tokens per text at most (default 32); longer training texts are cut (their share is reported).")
    var maxLength: Int?

    @Option(parsing: .unconditional, help: "MLE epochs at most (default 30).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Stop MLE after this many epochs without a better validation perplexity (default 3).")
    var patience: Int?

    @Option(parsing: .unconditional, help: "Share of train held out for validation when the dataset has no val split (default 0.1).")
    var valFraction: Double?

    @Option(parsing: .unconditional, help: "Batch size of MLE and discriminator training (default 64).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Adam learning rate of MLE (default 0.001).")
    var learningRate: Float?

    @Option(parsing: .unconditional, help: "Discriminator epochs (real vs MLE-generated texts) after MLE (default 3).")
    var discriminatorEpochs: Int?

    @Option(parsing: .unconditional, help: "PPO iterations after the discriminator epochs. Default 0.")
    var ppoIterations: Int = 0

    @Option(help: "Reward classifier (a text classifier made by `reptile pretrain` on the same dataset): reward += w·log p_C(y|text).")
    var classifier: String?

    @Option(parsing: .unconditional, help: "w in reward = D logit + w·log p_C(y|text) (default 1).")
    var rewardClassifierWeight: Float?

    @Option(parsing: .unconditional, help: "β of the per-token KL penalty to the MLE generator (default 0.05).")
    var klWeight: Float?

    @Option(parsing: .unconditional, help: "PPO epochs over each batch of rollouts (default 4).")
    var ppoEpochs: Int?

    @Option(parsing: .unconditional, help: "Sequences sampled per PPO iteration (default 256).")
    var ppoRollouts: Int?

    @Option(parsing: .unconditional, help: "Sequences per PPO minibatch (default 32).")
    var ppoMinibatch: Int?

    @Option(parsing: .unconditional, help: "Adam learning rate of the PPO generator and value head (default 0.00002).")
    var ppoLearningRate: Float?

    @Option(parsing: .unconditional, help: "Entropy bonus weight (default 0.01).")
    var entropyWeight: Float?

    @Flag(inversion: .prefixedNo, help: "Update the discriminator after every PPO iteration. Default on; a resumed run keeps its setting.")
    var refreshDiscriminator: Bool?

    /// The former spelling of --no-refresh-discriminator, still accepted.
    @Flag(help: .hidden)
    var frozenDiscriminator = false

    func run() throws {
        try runReportingErrors {
            switch generator {
            case "gru": break
            case "lm": return try trainLanguageModel()
            default: throw ReptileError("--generator \(quoted(generator)) is not lm or gru", fix: "write --generator lm or --generator gru")
            }
            if baseModel != nil || loraRank != nil { throw ReptileError("--base-model and --lora-rank are for --generator lm", fix: "add --generator lm") }
            try checkCounts([("--vocab-size", vocabSize, 5), ("--max-length", maxLength, 1), ("--epochs", epochs, 1), ("--patience", patience, 1), ("--batch-size", batchSize, 1), ("--discriminator-epochs", discriminatorEpochs, 0), ("--ppo-iterations", ppoIterations, 0), ("--ppo-epochs", ppoEpochs, 1), ("--ppo-rollouts", ppoRollouts, 1), ("--ppo-minibatch", ppoMinibatch, 1)])
            var options = TextGANTrainingOptions(dataset: runArguments.dataset, out: runArguments.out)
            runArguments.apply(to: &options)
            options.vocabularySize = vocabSize
            options.maximumLength = maxLength
            options.epochs = epochs
            options.patience = patience
            options.validationFraction = valFraction
            options.batchSize = batchSize
            options.learningRate = learningRate
            options.discriminatorEpochs = discriminatorEpochs
            if try ppoIsOn(iterations: ppoIterations, classifier: classifier, example: 10) {
                var ppo = TextPPOOptions(iterations: ppoIterations)
                ppo.classifier = classifier
                ppo.rewardClassifierWeight = rewardClassifierWeight
                ppo.klWeight = klWeight
                ppo.epochs = ppoEpochs
                ppo.rollouts = ppoRollouts
                ppo.minibatchSize = ppoMinibatch
                ppo.learningRate = ppoLearningRate
                ppo.entropyWeight = entropyWeight
                ppo.refreshDiscriminator = try discriminatorRefresh()
                options.ppo = ppo
            }
            let result = try trainTextGAN(options, report: runArguments.epochLineWriter())
            if runArguments.json {
                try printJSON(result.report)
            } else {
                print("trained \(result.run): \(result.epochs) MLE epochs (best \(result.bestEpoch)), \(result.discriminatorEpochs) discriminator epochs, \(result.ppoIterations) PPO iterations")
            }
        }
    }
}

extension TrainText {
    /// --refresh-discriminator, --no-refresh-discriminator or its former spelling --frozen-discriminator;
    /// nil when none is given (the default, or a resumed run's own setting).
    func discriminatorRefresh() throws -> Bool? {
        guard frozenDiscriminator else { return refreshDiscriminator }
        if refreshDiscriminator == true {
            throw ReptileError("--frozen-discriminator contradicts --refresh-discriminator", fix: "give only --refresh-discriminator or --no-refresh-discriminator")
        }
        return false
    }

    /// The folder `--base-model` defaults to: the one `scripts/setup.sh` fetches, else the shared copy.
    static var defaultBaseModel: String {
        let candidates = ["models/SmolLM2-135M-Instruct", "../shared/models/SmolLM2-135M-Instruct"]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// `train text --generator lm`: the GRU's own options are refused, the shared ones passed on.
    func trainLanguageModel() throws {
        let gruOnly: [(String, Bool)] = [("--vocab-size", vocabSize != nil), ("--patience", patience != nil), ("--val-fraction", valFraction != nil),
                                         ("--discriminator-epochs", discriminatorEpochs != nil), ("--ppo-iterations", ppoIterations != 0),
                                         ("--reward-classifier-weight", rewardClassifierWeight != nil), ("--kl-weight", klWeight != nil),
                                         ("--ppo-epochs", ppoEpochs != nil), ("--ppo-rollouts", ppoRollouts != nil),
                                         ("--ppo-minibatch", ppoMinibatch != nil), ("--ppo-learning-rate", ppoLearningRate != nil),
                                         ("--entropy-weight", entropyWeight != nil), ("--refresh-discriminator", refreshDiscriminator == true),
                                         ("--no-refresh-discriminator", refreshDiscriminator == false), ("--frozen-discriminator", frozenDiscriminator)]
        if let given = gruOnly.first(where: \.1) {
            throw ReptileError("\(given.0) is for --generator gru (PPO is not built for the language model yet)", fix: "leave \(given.0) out")
        }
        if runArguments.resume { throw ReptileError("--resume is not built for --generator lm yet", fix: "train again with --force") }
        try checkCounts([("--epochs", epochs, 1), ("--batch-size", batchSize, 1), ("--max-length", maxLength, 1), ("--lora-rank", loraRank, 0)])
        guard let dataset = runArguments.dataset else { throw ReptileError("--dataset is required", fix: "add --dataset datasets/NAME") }
        var options = LanguageModelTextTrainingOptions(dataset: dataset, out: runArguments.out, baseModel: baseModel ?? Self.defaultBaseModel)
        options.epochs = epochs
        if let batchSize { options.batchSize = batchSize }
        if let learningRate { options.learningRate = learningRate }
        if let maxLength { options.maximumTokens = maxLength }
        if let loraRank {
            guard loraRank >= 0 else { throw ReptileError("--lora-rank must not be negative", fix: "use e.g. 16, or 0 for full fine-tuning") }
            options.method = loraRank == 0 ? .full : .lowRank(rank: loraRank, alpha: Float(2 * loraRank), targets: FineTuningMethod.allProjections)
        }
        options.classifier = classifier
        options.seed = runArguments.seed ?? 0
        options.threads = runArguments.threads.given
        options.force = runArguments.force
        options.showProgress = !runArguments.json
        let result = try trainLanguageModelTextGenerator(options, report: runArguments.epochLineWriter())
        if runArguments.json {
            try printJSON(result.report)
        } else {
            print("trained \(result.run): \(result.epochs) epochs, \(result.steps) steps")
        }
    }
}
