// swift-tools-version:6.0
import Foundation
import PackageDescription

/// The engine's loops (Winograd transforms, im2col, activations, normalisation) are built for the
/// CPU that builds them when it has AVX2 and FMA, as nearly every x86-64 server since 2013 does:
/// eight-wide vectors instead of SSE's four. Other CPUs, and builds with REPTILE_PORTABLE=1 (for a
/// binary to copy elsewhere), keep the baseline target. Results are the same bits either way: Swift
/// neither reassociates nor contracts floating-point arithmetic.
let engineTargetCPU: [String] = {
    guard ProcessInfo.processInfo.environment["REPTILE_PORTABLE"] == nil,
          let cpuInfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuInfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    // Every instruction set `haswell` lets the compiler use, as /proc/cpuinfo names them (abm: lzcnt).
    let haswell: Set = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt", "abm", "xsave",
                        "pclmulqdq", "aes", "rdrand", "fsgsbase"]
    return flags.isSuperset(of: haswell) ? ["-target-cpu", "haswell"] : []
}()

let package = Package(
    name: "reptile",
    products: [
        .executable(name: "reptile", targets: ["ReptileCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, found through pkg-config (scripts/setup.sh installs them).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Seeded randomness, hashing, errors, progress: what every stage shares.
        .target(name: "ReptileCore"),
        // Optimised in debug builds too: the test suite trains real models, and the engine's SIMD
        // kernels run tens of times slower unoptimised.
        .target(name: "ReptileEngine", dependencies: ["ReptileCore", "ReptileFormats", "COpenBLAS"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug)), .unsafeFlags(engineTargetCPU)]),
        // The one module that owns the file formats: HDF5 shards, dataset_info.json, PNG, JPEG, gzip, IDX.
        // Optimised in debug builds too: GGUF dequantisation runs over a model's 100M+ weights on loading.
        .target(name: "ReptileFormats", dependencies: ["ReptileCore", "CHDF5", "CPNG", "CJPEG", "CZlib"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Raw sources (IDX, ImageFolder, CSV/TSV/JSONL/...) to shards: the ingest stage.
        .target(name: "ReptileIngest", dependencies: ["ReptileCore", "ReptileFormats"]),
        // Shards to views: `inspect` summaries and `export` (ImageFolder PNGs).
        .target(name: "ReptileDatasetTools", dependencies: ["ReptileCore", "ReptileFormats"]),
        // Text processing: BERT's WordPiece tokenizer (identical to Hugging Face's BertTokenizer) and
        // the word vocabulary of the native text models.
        // Optimised in debug builds too: a language model's corpus is tokenised in the tests.
        .target(name: "ReptileText", dependencies: ["ReptileCore"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // The pretrained text encoder from a Hugging Face folder: `reptile embed`, text classifier checkpoints.
        .target(name: "ReptileEmbedding", dependencies: ["ReptileCore", "ReptileFormats", "ReptileEngine", "ReptileText"]),
        // The pretrained causal language model (Llama family, from GGUF or a Hugging Face folder): its
        // byte-level BPE tokenizer, blocks with a key/value cache, sampling and LoRA fine-tuning.
        .target(name: "ReptileLanguageModel", dependencies: ["ReptileCore", "ReptileFormats", "ReptileEngine", "ReptileText"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug)), .unsafeFlags(engineTargetCPU)]),
        // `reptile bench`: the fixed workloads of docs/workloads.md.
        .target(name: "ReptileBench", dependencies: ["ReptileCore", "ReptileFormats", "ReptileEngine", "ReptileSynthesis", "ReptileLanguageModel"]),
        // GAN training, PPO refinement and generation: datasets/NAME → outputs/RUN → outputs/RUN/synthetic.
        // Text runs tokenise with ReptileText and take their PPO reward classifier from ReptileClassify.
        .target(name: "ReptileSynthesis", dependencies: ["ReptileCore", "ReptileFormats", "ReptileEngine", "ReptileText", "ReptileClassify", "ReptileLanguageModel"]),
        // `pretrain`, `finetune`, `classify`: classifiers on shards, metrics and reports.
        .target(name: "ReptileClassify", dependencies: ["ReptileCore", "ReptileFormats", "ReptileEngine", "ReptileText", "ReptileEmbedding"]),
        // `reptile evaluate`: quality and diversity of synthetic shards against the real data (BLEU,
        // Self-BLEU, copies, novelty, distinct-n; classifier agreement; precision/recall/density/coverage).
        .target(name: "ReptileEvaluation", dependencies: ["ReptileCore", "ReptileFormats", "ReptileEngine", "ReptileText", "ReptileClassify"]),
        // The thin command line.
        .executableTarget(name: "ReptileCLI", dependencies: [
            "ReptileCore", "ReptileFormats", "ReptileIngest", "ReptileDatasetTools", "ReptileBench", "ReptileClassify",
            "ReptileEngine", "ReptileEmbedding", "ReptileSynthesis", "ReptileEvaluation", "ReptileLanguageModel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ReptileTests", dependencies: [
            "ReptileCore", "ReptileFormats", "ReptileIngest", "ReptileDatasetTools", "ReptileBench", "ReptileCLI",
            "ReptileEngine", "ReptileText", "ReptileClassify", "ReptileEmbedding", "ReptileSynthesis", "ReptileEvaluation", "ReptileLanguageModel",
        ]),
    ]
)
