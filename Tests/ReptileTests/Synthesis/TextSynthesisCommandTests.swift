import Foundation
import ReptileCore
import ReptileFormats
import ReptileText
import Testing
@testable import ReptileSynthesis

/// `reptile train text`, `reptile generate` on a text run and `reptile bench W3` through the real
/// binary, on TREC ingested with 30 questions a class: outputs read with h5py and json,
/// reproducibility, kill-and-resume and bad input.
@Suite struct TextSynthesisCommandTests {
    static func ingestTREC(into parent: URL) throws -> URL {
        let result = try IngestTesting.ingest(["ingest", "text", Support.sharedDataset("trec/train_5500.label"),
                                               "--test", Support.sharedDataset("trec/TREC_10.label"), "--encoding", "latin1",
                                               "--per-class", "30", "--name", "trec", "--seed", "2"], parent: parent.appendingPathComponent("datasets"))
        try #require(result.status == 0, "\(result.standardError)")
        return parent.appendingPathComponent("datasets/trec")
    }

    static let small = ["--vocab-size", "400", "--max-length", "16", "--batch-size", "32", "--threads", "1", "--seed", "3"]

    /// MLE, discriminator and one PPO iteration with a text-cnn reward classifier; then generate:
    /// exactly N per class, no training copies, shards h5py reads, JSONL that parses, the counts in
    /// dataset_info.json, and the same seed giving identical files.
    @Test func trainTextAndGenerateEndToEndOnTREC() throws {
        let parent = try Support.makeTemporaryFolder("text-gan")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestTREC(into: parent)
        let classifier = parent.appendingPathComponent("classifier")
        let pretrained = try Support.reptile(["pretrain", "--dataset", dataset.path, "--out", classifier.path, "--epochs", "2",
                                              "--threads", "1", "--max-length", "32", "--seed", "1"])
        try #require(pretrained.status == 0, "\(pretrained.standardError)")
        let run = parent.appendingPathComponent("outputs/run")
        let trained = try Support.reptile(["train", "text", "--dataset", dataset.path, "--out", run.path, "--epochs", "2",
                                           "--discriminator-epochs", "1", "--ppo-iterations", "1", "--ppo-rollouts", "24",
                                           "--classifier", classifier.appendingPathComponent("classifier.h5").path] + Self.small)
        try #require(trained.status == 0, "\(trained.standardError)")
        #expect(trained.standardOutput.contains("training texts cut at 16 tokens"), "\(trained.standardOutput)")
        #expect(trained.standardOutput.contains("test perplexity: MLE"), "\(trained.standardOutput)")
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].contains("\"phase\":\"mle\"") && lines[0].contains("val_perplexity"))
        #expect(lines[2].contains("\"phase\":\"discriminator\"") && lines[2].contains("d_accuracy"))
        #expect(lines[3].contains("\"phase\":\"ppo\"") && lines[3].contains("clip_fraction") && lines[3].contains("mean_classifier_log_prob")
                && lines[3].contains("approx_kl") && lines[3].contains("\"kl\""))
        for name in ["samples-0001.txt", "samples-0002.txt", "samples-ppo-0001.txt", "report.json", "config.json"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(name).path), "\(name) missing")
        }
        let samples = try String(contentsOf: run.appendingPathComponent("samples-ppo-0001.txt"), encoding: .utf8)
        #expect(!samples.contains("[UNK]") && !samples.contains("[PAD]") && !samples.contains("[BOS]") && !samples.contains("[EOS]"))

        let arguments = ["generate", "--run", run.path, "--per-class", "7", "--shard-size", "25", "--seed", "4", "--deterministic",
                         "--threads", "1", "--temperature", "0.9", "--top-p", "0.95"]
        let generated = try Support.reptile(arguments)
        try #require(generated.status == 0, "\(generated.standardError)")
        let synthetic = run.appendingPathComponent("synthetic")
        let training = try IngestTesting.readSplit(dataset, "train").texts.map(GenerationTokenizer.normalised)
        let trainingFile = parent.appendingPathComponent("training.json")
        try JSONEncoder().encode(training).write(to: trainingFile)
        let check = try Support.python("""
            import h5py, json, sys, os, collections
            root, training = sys.argv[1], set(json.load(open(sys.argv[2])))
            info = json.load(open(os.path.join(root, "dataset_info.json")))
            assert info["kind"] == "text" and info["splits"]["synthetic"]["class_counts"] == [7] * 6, info["splits"]
            files = [s["file"] for s in info["splits"]["synthetic"]["shards"]]
            assert files == ["synthetic-00000-of-00002.h5", "synthetic-00001-of-00002.h5"], files
            texts, labels = [], []
            for name in files:
                f = h5py.File(os.path.join(root, name))
                assert json.loads(f.attrs["class_names"]) == info["class_names"] and f.attrs["kind"] == "text"
                assert f.attrs["split"] == "synthetic" and len(f.attrs["generator_sha256"]) == 64
                n = f["labels"].shape[0]
                assert f["d_score"].dtype == "float32" and f["confidence"].shape == (n,) and f["d_score"].shape == (n,)
                assert all(0 <= c <= 1 for c in f["confidence"][:])
                texts += [t.decode("utf-8") for t in f["texts"][:]]
                labels += list(f["labels"][:])
            assert collections.Counter(labels) == {c: 7 for c in range(6)}, collections.Counter(labels)
            assert len(set(texts)) == len(texts), "duplicates"
            assert not (set(" ".join(t.split()) for t in texts) & training), "training copies"
            rows = [json.loads(line) for line in open(os.path.join(root, "synthetic.jsonl"))]
            assert [r["text"] for r in rows] == texts and [info["class_names"].index(r["label"]) for r in rows] == labels
            assert all(isinstance(r["d_score"], float) and isinstance(r["confidence"], float) for r in rows)
            p = info["source"]["processing"]
            assert p["draws"] == 42 + p["dropped_duplicates"] + p["dropped_training_copies"] + p["dropped_empty"] + p["dropped_below_min_confidence"] or p["draws"] > 42
            assert sum(p["class_draws"]) == p["draws"] and len(p["class_draws"]) == len(info["class_names"]), p
            assert "dropped_duplicates" in p and "dropped_training_copies" in p and p["confidence_source"].startswith("classifier:")
            print("OK")
            """, arguments: [synthetic.path, trainingFile.path])
        #expect(check.status == 0 && check.standardOutput.contains("OK"), "\(check.standardOutput)\(check.standardError)")

        // The same seed again: identical shards and JSONL.
        let first = try FileManager.default.contentsOfDirectory(atPath: synthetic.path).sorted().map {
            try Data(contentsOf: synthetic.appendingPathComponent($0))
        }
        let again = try Support.reptile(arguments + ["--force"])
        try #require(again.status == 0, "\(again.standardError)")
        let second = try FileManager.default.contentsOfDirectory(atPath: synthetic.path).sorted().map {
            try Data(contentsOf: synthetic.appendingPathComponent($0))
        }
        // dataset_info.json differs only in the command line it records (--force).
        #expect(first.count == 4 && Array(first.dropFirst()) == Array(second.dropFirst()))
        #expect(String(decoding: first[0], as: UTF8.self).replacingOccurrences(of: " --force", with: "")
                == String(decoding: second[0], as: UTF8.self).replacingOccurrences(of: " --force", with: ""))

        // Unreachable counts fail in one line and leave the old synthetic folder alone.
        let impossible = try Support.reptile(["generate", "--run", run.path, "--per-class", "3", "--min-confidence", "1", "--force", "--threads", "1",
                                              "--max-draws", "2"])
        #expect(impossible.status == 1 && impossible.standardError.split(separator: "\n").count == 1
                && impossible.standardError.contains("in 6 draws") && impossible.standardError.contains("--max-draws 2"), "\(impossible.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: synthetic.path).sorted().map {
            try Data(contentsOf: synthetic.appendingPathComponent($0))
        } == second)
        // Image-only options are refused on a text run.
        let pngs = try Support.reptile(["generate", "--run", run.path, "--per-class", "1", "--format", "h5,png", "--force"])
        #expect(pngs.status == 1 && pngs.standardError.contains("--format"), "\(pngs.standardError)")

        // --class-proportions train (this train split has 30 a class, so the counts stay equal) is
        // recorded in the provenance; an unknown value is a one-line error.
        let proportional = try Support.reptile(["generate", "--run", run.path, "--per-class", "2", "--class-proportions", "train",
                                                "--force", "--threads", "1", "--json"])
        try #require(proportional.status == 0, "\(proportional.standardError)")
        let info = try DatasetFolder(path: synthetic.path).info
        #expect(info.splits["synthetic"]?.classCounts == [2, 2, 2, 2, 2, 2])
        #expect(info.provenance.config["class_proportions"] == .string("train"), "\(info.provenance.config)")
        let unknown = try Support.reptile(["generate", "--run", run.path, "--per-class", "2", "--class-proportions", "test", "--force"])
        #expect(unknown.status == 1 && unknown.standardError.split(separator: "\n").count == 1
                && unknown.standardError.contains("--class-proportions"), "\(unknown.standardError)")
    }

    /// The per-class counts of `generate --class-proportions train`: TREC's train split shared out
    /// over 6,000 texts (worked by hand: floors 94/1278/1375/1345/918/986, the 4 left over to the
    /// largest remainders .93, .93, .80, .64), and the minimum of one text a class.
    @Test func proportionalClassCountsFollowTheTrainSplit() {
        #expect(proportionalClassCounts(total: 6000, weights: [86, 1162, 1250, 1223, 835, 896]) == [95, 1279, 1375, 1346, 919, 986])
        #expect(proportionalClassCounts(total: 4, weights: [100, 1, 0, 1]) == [1, 1, 1, 1])
        #expect(proportionalClassCounts(total: 10, weights: [0, 0]) == [5, 5])
        #expect(proportionalClassCounts(total: 2000, weights: [3474, 539]) == [1731, 269])
    }

    /// A run killed (SIGKILL) after its first checkpoint and resumed ends with the same checkpoint,
    /// byte for byte, as an uninterrupted one, with the same metrics lines.
    @Test func aKilledAndResumedTextRunEqualsAnUninterruptedOne() throws {
        let parent = try Support.makeTemporaryFolder("text-resume")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestTREC(into: parent)
        let whole = parent.appendingPathComponent("whole"), killed = parent.appendingPathComponent("killed")
        let common = ["train", "text", "--dataset", dataset.path, "--epochs", "3", "--discriminator-epochs", "1",
                      "--ppo-iterations", "2", "--ppo-rollouts", "16"] + Self.small
        let uninterrupted = try Support.reptile(common + ["--out", whole.path])
        try #require(uninterrupted.status == 0, "\(uninterrupted.standardError)")

        let checkpoint = killed.appendingPathComponent("checkpoint.h5").path
        try Support.reptileKilled(common + ["--out", killed.path], once: checkpoint)

        // --json: standard output is one JSON document, the epoch lines go to standard error.
        let resumed = try Support.reptile(["train", "text", "--out", killed.path, "--resume", "--json"])
        try #require(resumed.status == 0, "\(resumed.standardError)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(resumed.standardOutput.utf8)) as? [String: Any])
        #expect(result["epochs"] as? Int == 3 && result["discriminator_epochs"] as? Int == 1 && result["ppo_iterations"] as? Int == 2)
        #expect(result["run"] as? String == killed.path && result["test_perplexity_ppo"] is Double, "\(resumed.standardOutput)")
        #expect(resumed.standardError.contains("ppo iteration 2/2") && resumed.standardError.contains("test perplexity"), "\(resumed.standardError)")
        #expect(try SHA256.hex(ofFileAt: checkpoint) == SHA256.hex(ofFileAt: whole.appendingPathComponent("checkpoint.h5").path))
        func lines(_ run: URL) throws -> [String] {
            try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").map { line in
                String(line.split(separator: ",").filter { !$0.contains("seconds") && !$0.contains("tokens_per_s") }.joined(separator: ","))
            }
        }
        #expect(try lines(killed) == lines(whole))
        #expect(try lines(whole).count == 6)

        // Bad input: a dataset of images, and a resume that changes the vocabulary.
        let changed = try Support.reptile(["train", "text", "--out", killed.path, "--resume", "--vocab-size", "100"])
        #expect(changed.status == 1 && changed.standardError.contains("--vocab-size"), "\(changed.standardError)")
        let again = try Support.reptile(common + ["--out", whole.path])
        #expect(again.status == 1 && again.standardError.contains("--force"), "\(again.standardError)")
    }

    @Test func benchW3ReportsSequencesPerSecond() throws {
        let result = try Support.reptile(["bench", "W3", "--steps", "1", "--warmup", "0", "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["workload"] as? String == "W3" && object["metric"] as? String == "sequences_per_s")
        #expect((object["value"] as? Double ?? 0) > 0)
    }
}
