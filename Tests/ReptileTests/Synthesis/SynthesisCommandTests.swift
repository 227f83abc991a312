import Foundation
import ReptileCore
import ReptileFormats
import Testing
@testable import ReptileSynthesis

/// `reptile train image` and `reptile generate` end to end through the real binary, on the bundled
/// MNIST sample ingested with 10 images per class: outputs checked with h5py and Pillow,
/// reproducibility, kill-and-resume, interrupts and bad input.
@Suite struct SynthesisCommandTests {
    static let digits = (0..<10).map(String.init)

    /// datasets/m (100 train images) under `parent`, ingested by the binary.
    static func ingestSample(into parent: URL, extra: [String] = []) throws -> URL {
        let result = try IngestTesting.ingest(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "m", "--per-class", "10",
                                               "--seed", "1"] + extra, parent: parent.appendingPathComponent("datasets"))
        try #require(result.status == 0, "\(result.standardError)")
        return parent.appendingPathComponent("datasets/m")
    }

    /// Small runs: an epoch is one pass (5 steps) unless the arguments say otherwise.
    static func train(_ arguments: [String]) throws -> Support.Result {
        let onePassEpochs = arguments.contains("--min-epoch-steps") || arguments.contains("--resume") ? [] : ["--min-epoch-steps", "1"]
        return try Support.reptile(["train", "image", "--batch-size", "20", "--threads", "1"] + onePassEpochs + arguments)
    }

    /// One trained epoch, then one PPO iteration with a classifier checkpoint: the run that the
    /// generate tests sample from.
    @Test func generateWritesExactlyNPerClassAsShardsAndPNGsThatH5pyAndPillowRead() throws {
        let parent = try Support.makeTemporaryFolder("generate")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestSample(into: parent)
        let run = parent.appendingPathComponent("outputs/run")
        let trained = try Self.train(["--dataset", dataset.path, "--out", run.path, "--epochs", "1"])
        try #require(trained.status == 0, "\(trained.standardError)")
        let classifier = parent.appendingPathComponent("classifier.h5").path
        try SynthesisTesting.toyClassifier(at: classifier, classNames: Self.digits)
        let refined = try Self.train(["--out", run.path, "--resume", "--ppo-iterations", "1", "--classifier", classifier,
                                      "--ppo-rollouts", "40", "--ppo-epochs", "1", "--json"])
        try #require(refined.status == 0, "\(refined.standardError)")
        // --json: standard output is one JSON document, the iteration's line goes to standard error.
        let result = try #require(try JSONSerialization.jsonObject(with: Data(refined.standardOutput.utf8)) as? [String: Any])
        #expect(result["epochs"] as? Int == 1 && result["ppo_iterations"] as? Int == 1 && result["run"] as? String == run.path)
        #expect((result["last_metrics"] as? [String: Any])?["clip_fraction"] != nil, "\(refined.standardOutput)")
        #expect(refined.standardError.contains("ppo iteration 1/1"), "\(refined.standardError)")
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(metrics.count == 2 && metrics[1].contains("\"phase\":\"ppo\"") && metrics[1].contains("clip_fraction"))

        // 6 per class in shards of 25 (three files), with PNGs; the run's PPO classifier gives the confidence.
        let synthetic = run.appendingPathComponent("synthetic")
        let arguments = ["generate", "--run", run.path, "--per-class", "6", "--format", "h5,png", "--batch-size", "16",
                         "--shard-size", "25", "--seed", "4", "--deterministic", "--threads", "1"]
        let generated = try Support.reptile(arguments)
        try #require(generated.status == 0, "\(generated.standardError)")
        let checkpointSHA = try SHA256.hex(ofFileAt: run.appendingPathComponent("checkpoint.h5").path)
        let check = try Support.python("""
            import h5py, json, sys, os, glob
            from PIL import Image
            root, sha = sys.argv[1], sys.argv[2]
            info = json.load(open(os.path.join(root, "dataset_info.json")))
            files = [s["file"] for s in info["splits"]["synthetic"]["shards"]]
            assert files == ["synthetic-00000-of-00003.h5", "synthetic-00001-of-00003.h5", "synthetic-00002-of-00003.h5"], files
            labels, scores, confidences = [], [], []
            for name in files:
                f = h5py.File(os.path.join(root, name))
                n = f["labels"].shape[0]
                assert f["images"].dtype == "uint8" and f["images"].shape == (n, 28, 28, 1), f["images"]
                assert f["d_score"].dtype == "float32" and f["confidence"].dtype == "float32"
                assert f.attrs["generator_sha256"] == sha and f.attrs["split"] == "synthetic", dict(f.attrs)
                assert json.loads(f.attrs["class_names"]) == [str(d) for d in range(10)]
                labels += list(f["labels"][:]); scores += list(f["d_score"][:]); confidences += list(f["confidence"][:])
            assert sorted(labels) == sorted(list(range(10)) * 6), labels
            assert all(0 <= c <= 1 for c in confidences) and len(set(scores)) > 1
            assert info["splits"]["synthetic"]["class_counts"] == [6] * 10
            assert info["source"]["processing"]["confidence_source"].startswith("classifier:"), info["source"]
            assert info["source"]["processing"]["class_draws"] == [6] * 10, info["source"]  # unfiltered: none drawn in vain
            pngs = sorted(glob.glob(os.path.join(root, "png", "*", "*.png")))
            assert len(pngs) == 60, len(pngs)
            for p in pngs:
                im = Image.open(p); im.load()
                assert im.size == (28, 28) and im.mode == "L", (p, im.size, im.mode)
            assert sorted(os.listdir(os.path.join(root, "png"))) == [str(d) for d in range(10)]
            # The lowest of the per-class medians: every class passes it about half the time or more;
            # and the highest: every class stays at or below it about half the time or more.
            by_class = {}
            for label, confidence in zip(labels, confidences): by_class.setdefault(label, []).append(confidence)
            medians = [sorted(values)[len(values) // 2] for values in by_class.values()]
            scores_by_class = {}
            for label, score in zip(labels, scores): scores_by_class.setdefault(label, []).append(score)
            score_medians = [sorted(values)[len(values) // 2] for values in scores_by_class.values()]
            print(min(medians), max(medians), min(score_medians))
            """, arguments: [synthetic.path, checkpointSHA])
        try #require(check.status == 0, "\(check.standardError)")
        let medians = check.standardOutput.split(whereSeparator: \.isWhitespace).compactMap { Float($0) }
        try #require(medians.count == 3, "\(check.standardOutput)")
        let medianConfidence = medians[0], highestMedianConfidence = medians[1], medianDScore = medians[2]

        // The same seed gives byte-identical files (the time stamp fixed by --deterministic).
        let first = parent.appendingPathComponent("first-synthetic")
        try FileManager.default.moveItem(at: synthetic, to: first)
        let again = try Support.reptile(arguments)
        try #require(again.status == 0, "\(again.standardError)")
        let names = try FileManager.default.subpathsOfDirectory(atPath: first.path).sorted()
        #expect(try FileManager.default.subpathsOfDirectory(atPath: synthetic.path).sorted() == names)
        for name in names where name.hasSuffix(".h5") || name.hasSuffix(".json") || name.hasSuffix(".png") {
            #expect(FileManager.default.contents(atPath: first.appendingPathComponent(name).path)
                    == FileManager.default.contents(atPath: synthetic.appendingPathComponent(name).path), "\(name) differs")
        }

        // Filtering still gives exactly N per class, every one at or above the threshold.
        let filtered = try Support.reptile(["generate", "--run", run.path, "--per-class", "6", "--min-confidence", "\(medianConfidence)",
                                            "--force", "--seed", "5", "--json"])
        try #require(filtered.status == 0, "\(filtered.standardError)")
        #expect(filtered.standardOutput.contains("\"generator\" : \"ppo_generator\""), "\(filtered.standardOutput)")
        let folder = try DatasetFolder(path: synthetic.path)
        var counts = [Int](repeating: 0, count: 10)
        for shard in try folder.shards(of: "synthetic") {
            for label in try shard.labels() { counts[Int(label)] += 1 }
            #expect(try shard.floatColumn("confidence").allSatisfy { $0 >= medianConfidence })
        }
        #expect(counts == [Int](repeating: 6, count: 10))
        // With one draw per image asked for, the class that passes the threshold half the time
        // cannot fill 20 (all 20 draws would have to pass); the error names the limit to raise.
        let tooFewDraws = try Support.reptile(["generate", "--run", run.path, "--per-class", "20", "--min-confidence", "\(medianConfidence)",
                                               "--max-draws", "1", "--force", "--seed", "5"])
        #expect(tooFewDraws.status == 1 && tooFewDraws.standardError.contains("--max-draws 1"), "\(tooFewDraws.standardError)")
        let noDraws = try Support.reptile(["generate", "--run", run.path, "--per-class", "1", "--max-draws", "0", "--force"])
        #expect(noDraws.status != 0 && noDraws.standardError.contains("--max-draws must be at least 1"), "\(noDraws.standardError)")

        // --max-confidence keeps only images at or below it (exactly N a class still), and records
        // it with --noise-scale in the provenance; noise scale 2 gives other images than 1.
        let capped = try Support.reptile(["generate", "--run", run.path, "--per-class", "6", "--max-confidence", "\(highestMedianConfidence)",
                                          "--noise-scale", "2", "--force", "--seed", "5"])
        try #require(capped.status == 0, "\(capped.standardError)")
        var cappedCounts = [Int](repeating: 0, count: 10)
        for shard in try DatasetFolder(path: synthetic.path).shards(of: "synthetic") {
            for label in try shard.labels() { cappedCounts[Int(label)] += 1 }
            #expect(try shard.floatColumn("confidence").allSatisfy { $0 <= highestMedianConfidence })
        }
        #expect(cappedCounts == [Int](repeating: 6, count: 10))
        let provenance = try String(contentsOf: synthetic.appendingPathComponent("dataset_info.json"), encoding: .utf8)
        #expect(provenance.contains("\"noise_scale\" : 2") && provenance.contains("\"max_confidence\""), "\(provenance)")

        // --min-d-score keeps only images the discriminator scores at or above it, N a class (written
        // with `=`, as the logit may be negative).
        let realistic = try Support.reptile(["generate", "--run", run.path, "--per-class", "6", "--min-d-score=\(medianDScore)",
                                             "--force", "--seed", "5"])
        try #require(realistic.status == 0, "\(realistic.standardError)")
        var realisticCounts = [Int](repeating: 0, count: 10)
        for shard in try DatasetFolder(path: synthetic.path).shards(of: "synthetic") {
            for label in try shard.labels() { realisticCounts[Int(label)] += 1 }
            #expect(try shard.floatColumn("d_score").allSatisfy { $0 >= medianDScore })
        }
        #expect(realisticCounts == [Int](repeating: 6, count: 10))
        #expect(try String(contentsOf: synthetic.appendingPathComponent("dataset_info.json"), encoding: .utf8).contains("\"min_d_score\""))
        func pixels(_ extra: [String]) throws -> [UInt8] {
            let result = try Support.reptile(["generate", "--run", run.path, "--per-class", "2", "--force", "--seed", "6", "--generator", "pre-ppo"] + extra)
            try #require(result.status == 0, "\(result.standardError)")
            return try DatasetFolder(path: synthetic.path).shards(of: "synthetic").flatMap { try $0.images(0..<$0.count) }
        }
        let ordinary = try pixels([])
        #expect(try pixels(["--noise-scale", "2"]) != ordinary)
        #expect(try pixels(["--generator", "raw"]) != ordinary)
        let badScale = try Support.reptile(["generate", "--run", run.path, "--per-class", "1", "--noise-scale", "0", "--force"])
        #expect(badScale.status != 0 && badScale.standardError.contains("--noise-scale"), "\(badScale.standardError)")

        // An unreachable threshold fails in one line naming the acceptance rate, and the synthetic
        // folder already there stays as it was.
        let before = try SHA256.hex(ofFileAt: synthetic.appendingPathComponent("dataset_info.json").path)
        let impossible = try Support.reptile(["generate", "--run", run.path, "--per-class", "1", "--min-confidence", "1", "--force",
                                              "--generator", "pre-ppo"])
        #expect(impossible.status == 1)
        #expect(impossible.standardError.split(separator: "\n").count == 1 && impossible.standardError.contains("acceptance rate"),
                "\(impossible.standardError)")
        #expect(try SHA256.hex(ofFileAt: synthetic.appendingPathComponent("dataset_info.json").path) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.hasPrefix(".") }.isEmpty)

        // The pre-PPO (EMA) generator is still there to compare with.
        let prePPO = try Support.reptile(["generate", "--run", run.path, "--per-class", "1", "--generator", "pre-ppo", "--force", "--json"])
        #expect(prePPO.status == 0 && prePPO.standardOutput.contains("\"generator\" : \"ema_generator\""), "\(prePPO.standardOutput)\(prePPO.standardError)")
    }

    /// A run killed (SIGKILL) after its first epoch and resumed ends with a checkpoint identical
    /// byte for byte to an uninterrupted run's, and with one metrics line per epoch.
    @Test func aKilledAndResumedTrainingEqualsAnUninterruptedOne() throws {
        let parent = try Support.makeTemporaryFolder("resume")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestSample(into: parent)
        let whole = parent.appendingPathComponent("whole"), killed = parent.appendingPathComponent("killed")
        // Two passes over the 100 images (5 steps each) an epoch: resuming replays whole epochs of
        // passes. The mode-seeking term is on, so its paired classes are part of what must replay.
        let common = ["--dataset", dataset.path, "--epochs", "2", "--seed", "7", "--diff-augment", "on", "--min-epoch-steps", "8",
                      "--mode-seeking", "1"]
        let uninterrupted = try Self.train(common + ["--out", whole.path])
        try #require(uninterrupted.status == 0, "\(uninterrupted.standardError)")

        let checkpoint = killed.appendingPathComponent("checkpoint.h5").path
        try Support.reptileKilled(["train", "image", "--batch-size", "20", "--threads", "1", "--out", killed.path] + common,
                                  once: checkpoint, within: 60)
        #expect(try readRunConfig(checkpoint: checkpoint).epochs == 2)

        let resumed = try Self.train(["--out", killed.path, "--resume"])
        try #require(resumed.status == 0, "\(resumed.standardError)")
        #expect(try SHA256.hex(ofFileAt: checkpoint) == SHA256.hex(ofFileAt: whole.appendingPathComponent("checkpoint.h5").path))
        func losses(_ run: URL) throws -> [String] {
            try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").map { line in
                String(line.split(separator: ",").filter { !$0.contains("seconds") && !$0.contains("images_per_s") }.joined(separator: ","))
            }
        }
        #expect(try losses(killed) == losses(whole))
        #expect(try losses(whole).count == 2)
        #expect(try losses(whole).last?.contains("\"step\":20") == true)
        #expect(FileManager.default.fileExists(atPath: killed.appendingPathComponent("samples/epoch-0002.png").path))
    }

    /// A dataset ingested again the same way (another creation time and command line in its
    /// provenance) still resumes; one ingested with another seed, other images, does not.
    @Test func resumeAcceptsTheSameDataIngestedAgainAndRefusesOtherData() throws {
        let parent = try Support.makeTemporaryFolder("resume-reingest")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestSample(into: parent)
        let run = parent.appendingPathComponent("run")
        let trained = try Self.train(["--dataset", dataset.path, "--out", run.path, "--epochs", "1", "--seed", "3"])
        try #require(trained.status == 0, "\(trained.standardError)")

        let infoPath = dataset.appendingPathComponent("dataset_info.json")
        func reingest(seed: String) throws {
            try #require(try Self.ingestSample(into: parent, extra: ["--force", "--seed", seed]).path == dataset.path)
            // Same second or not, make the provenance differ as a later ingest's would.
            let text = try String(contentsOf: infoPath, encoding: .utf8)
                .replacingOccurrences(of: #""created" : "[^"]*""#, with: #""created" : "2001-01-01T00:00:00Z""#, options: .regularExpression)
            try text.write(to: infoPath, atomically: true, encoding: .utf8)
        }
        try reingest(seed: "1")
        let resumed = try Self.train(["--dataset", dataset.path, "--out", run.path, "--resume", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.standardError)")

        try reingest(seed: "2")
        let other = try Self.train(["--dataset", dataset.path, "--out", run.path, "--resume", "--epochs", "3"])
        #expect(other.status == 1 && other.standardError.contains("dataset_info.json: differs from the dataset the run was trained on"),
                "\(other.standardError)")
    }

    /// Ctrl-C during generate removes the unfinished folder (nothing named synthetic, no hidden
    /// staging folder), and running it again completes.
    @Test func anInterruptedGenerateLeavesNoPartialOutputAndARerunCompletes() throws {
        let parent = try Support.makeTemporaryFolder("generate-interrupt")
        defer { Support.remove(parent) }
        let dataset = try Self.ingestSample(into: parent)
        let run = parent.appendingPathComponent("run")
        let trained = try Self.train(["--dataset", dataset.path, "--out", run.path, "--epochs", "1"])
        try #require(trained.status == 0, "\(trained.standardError)")

        let process = Process()
        process.executableURL = Support.reptileExecutable
        process.arguments = ["generate", "--run", run.path, "--per-class", "5000", "--format", "h5,png", "--batch-size", "64"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        func staged() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: run.path)) ?? []).filter { $0.hasPrefix(".synthetic") } }
        while Date() < deadline, process.isRunning, staged().isEmpty { usleep(10_000) }
        usleep(500_000)  // well into writing shards and PNGs
        try #require(process.isRunning, "generate finished before it could be interrupted")
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(staged().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("synthetic").path))

        let rerun = try Support.reptile(["generate", "--run", run.path, "--per-class", "2"])
        try #require(rerun.status == 0, "\(rerun.standardError)")
        #expect(try DatasetFolder(path: run.appendingPathComponent("synthetic").path).info.splits["synthetic"]?.count == 20)
    }

    /// Bad input: one line on stderr naming the file and the fix, exit 1, nothing written.
    @Test func badInputFailsInOneLineNamingTheFileAndTheFix() throws {
        let parent = try Support.makeTemporaryFolder("synthesis-bad")
        defer { Support.remove(parent) }
        let outputs = parent.appendingPathComponent("outputs")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)

        // Images of a size the GAN does not take.
        let small = try IngestTesting.ingest(["ingest", "image", IngestImageTests.mnistFolder.path, "--name", "small", "--per-class", "2",
                                              "--resize", "16x16"], parent: parent.appendingPathComponent("datasets"))
        try #require(small.status == 0, "\(small.standardError)")
        try IngestTesting.expectCleanFailure(
            try Self.train(["--dataset", parent.appendingPathComponent("datasets/small").path, "--out", outputs.appendingPathComponent("r").path]),
            parent: outputs, mentions: ["small/dataset_info.json", "16×16×1", "--resize 28x28"])

        // A run folder without a checkpoint, for generate and for --resume.
        let empty = outputs.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let noCheckpoint = try Support.reptile(["generate", "--run", empty.path, "--per-class", "2"])
        #expect(noCheckpoint.status == 1 && noCheckpoint.standardError.split(separator: "\n").count == 1)
        #expect(noCheckpoint.standardError.contains("empty/checkpoint.h5") && noCheckpoint.standardError.contains("reptile train image"),
                "\(noCheckpoint.standardError)")
        let noResume = try Self.train(["--out", empty.path, "--resume"])
        #expect(noResume.status == 1 && noResume.standardError.contains("empty/checkpoint.h5") && noResume.standardError.contains("without --resume"),
                "\(noResume.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).isEmpty)

        // A classifier with another class set, or another image shape.
        let dataset = try Self.ingestSample(into: parent)
        let run = outputs.appendingPathComponent("run")
        let trained = try Self.train(["--dataset", dataset.path, "--out", run.path, "--epochs", "1"])
        try #require(trained.status == 0, "\(trained.standardError)")
        let otherClasses = parent.appendingPathComponent("letters.h5").path
        try SynthesisTesting.toyClassifier(at: otherClasses, classNames: ["a", "b"])
        let wrongClasses = try Support.reptile(["generate", "--run", run.path, "--per-class", "2", "--classifier", otherClasses])
        #expect(wrongClasses.status == 1 && wrongClasses.standardError.split(separator: "\n").count == 1)
        #expect(wrongClasses.standardError.contains("letters.h5") && wrongClasses.standardError.contains("classes"), "\(wrongClasses.standardError)")
        // Text-only sampling options on an image run.
        let textOnly = try Support.reptile(["generate", "--run", run.path, "--per-class", "2", "--class-proportions", "train"])
        #expect(textOnly.status == 1 && textOnly.standardError.split(separator: "\n").count == 1
                && textOnly.standardError.contains("--class-proportions"), "\(textOnly.standardError)")
        let otherShape = parent.appendingPathComponent("large.h5").path
        try SynthesisTesting.toyClassifier(at: otherShape, classNames: Self.digits, imageSize: 32)
        let wrongShape = try Self.train(["--out", run.path, "--resume", "--ppo-iterations", "1", "--classifier", otherShape])
        #expect(wrongShape.status == 1 && wrongShape.standardError.split(separator: "\n").count == 1)
        #expect(wrongShape.standardError.contains("large.h5") && wrongShape.standardError.contains("32×32×1"), "\(wrongShape.standardError)")
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("synthetic").path))

        // An existing run is not overwritten without --force or --resume.
        let again = try Self.train(["--dataset", dataset.path, "--out", run.path])
        #expect(again.status == 1 && again.standardError.contains("--resume") && again.standardError.contains("--force"), "\(again.standardError)")
    }
}
