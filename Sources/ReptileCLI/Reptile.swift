import ArgumentParser
import ReptileCore

@main
struct Reptile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reptile",
        abstract: "Turn a small labelled dataset into a larger synthetic one, and measure whether it helped.",
        discussion: """
            Stages talk through files: `ingest` turns raw images or texts into HDF5 shards under \
            datasets/NAME; `inspect` summarises a dataset or shard; `export png` writes an ImageFolder tree and `export jsonl` texts as JSON Lines; \
            `pretrain` trains a classifier on a dataset, `finetune` continues one on real or synthetic shards and \
            reports accuracy before and after, `classify` predicts labels, `compare` puts reports side by side; \
            `train image` trains a conditional GAN and `train text` a conditional GRU language model with a \
            discriminator (both optionally refined by PPO) into outputs/RUN; `generate` writes synthetic shards \
            into outputs/RUN/synthetic; `evaluate` measures the quality and diversity of synthetic shards; \
            `embed` writes sentence embeddings from a pretrained text encoder; `lm` runs the pretrained causal \
            language model (SmolLM2: `lm tokenize`); `bench` times the fixed workloads.
            A typical image run: ingest image → pretrain → train image → generate → finetune → compare \
            (scripts/run.sh does exactly this on the MNIST sample).
            Exit status: 0 success, 1 bad input or a failed step (one line on standard error says which \
            file and record, and what to do), 64 a usage error.
            """,
        version: ReptileVersion.current,
        subcommands: [Ingest.self, Inspect.self, Export.self, Pretrain.self, Train.self, Generate.self, Finetune.self,
                      Classify.self, Compare.self, Evaluate.self, Embed.self, LanguageModelCommand.self, Bench.self])
}
