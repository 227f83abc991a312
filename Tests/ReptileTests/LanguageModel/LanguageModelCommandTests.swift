import Foundation
import Testing
import ReptileCore

/// `reptile lm tokenize` through the real binary: texts as arguments and as JSON Lines, bad lines.
@Suite struct LanguageModelCommandTests {
    static let model = Support.shared.appendingPathComponent("models/SmolLM2-135M-Instruct")
    static let available = FileManager.default.fileExists(atPath: model.appendingPathComponent("reference-outputs.json").path)

    struct Line: Decodable, Equatable { var text: String; var ids: [Int] }

    static func lines(_ output: String) throws -> [Line] {
        try output.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
    }

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func tokenizeGivesTheReferenceIds() throws {
        let cases = try ByteLevelBPETokenizerTests.referenceCases()
        let chosen = [cases[4], cases[11]]  // digits one by one; special tokens kept whole
        #expect(chosen[0].text.hasPrefix("Numbers") && chosen[1].text.hasPrefix("<|im_start|>"))
        let result = try Support.reptile(["lm", "tokenize", "--model", Self.model.path] + chosen.map(\.text))
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try Self.lines(result.standardOutput) == chosen.map { Line(text: $0.text, ids: $0.ids) })

        // The same as JSON Lines on standard input (a blank line skipped), with control characters.
        let input = chosen.map { "{\"text\": \(String(data: try! JSONEncoder().encode($0.text), encoding: .utf8)!)}" }.joined(separator: "\n\n")
            + "\n{\"text\": \"tabs\\tand\\nnewlines\\n\\n\", \"label\": 3}\n"
        let piped = try Support.run(Support.reptileExecutable, ["lm", "tokenize", "--model", Self.model.path], standardInput: input)
        #expect(piped.status == 0, "\(piped.standardError)")
        #expect(try Self.lines(piped.standardOutput) == chosen.map { Line(text: $0.text, ids: $0.ids) } + [Line(text: cases[3].text, ids: cases[3].ids)])
    }

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func aBadLineOrFolderIsOneLineAndExitOne() throws {
        let bad = try Support.run(Support.reptileExecutable, ["lm", "tokenize", "--model", Self.model.path],
                                  standardInput: "{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n")
        #expect(bad.status == 1)
        #expect(bad.standardOutput.isEmpty, "nothing printed before the input is checked")
        let line = bad.standardError.trimmingCharacters(in: .newlines)
        #expect(!line.contains("\n") && line.contains("line 2") && line.contains("\"text\""), "\(line)")

        let folder = try Support.makeTemporaryFolder("lm-folder")
        defer { Support.remove(folder) }
        let missing = try Support.reptile(["lm", "tokenize", "--model", folder.path, "hello"])
        #expect(missing.status == 1 && missing.standardOutput.isEmpty)
        #expect(missing.standardError.contains(folder.path) && missing.standardError.contains(".gguf"), "\(missing.standardError)")
    }
}

/// `reptile lm sample` through the real binary: the reference's greedy continuation, seeded
/// sampling, and model folders that are refused with one line.
@Suite struct LanguageModelSampleCommandTests {
    struct Sample: Decodable { var prompt_ids: [Int]; var ids: [Int]; var text: String }

    static func sample(_ arguments: [String]) throws -> (status: Int32, sample: Sample?, error: String) {
        let result = try Support.reptile(["lm", "sample", "--json"] + arguments)
        let sample = result.status == 0 ? try JSONDecoder().decode(Sample.self, from: Data(result.standardOutput.utf8)) : nil
        return (result.status, sample, result.standardError)
    }

    @Test(.enabled(if: LanguageModelCommandTests.available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func greedyGivesTheReferenceContinuation() throws {
        let reference = try SmolLM2Tests.reference().prompts[2]  // "The quick brown fox"
        let result = try Self.sample(["--model", LanguageModelCommandTests.model.path, "--prompt", reference.prompt,
                                      "--temperature", "0", "--max-new-tokens", "24"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.sample?.prompt_ids == reference.ids)
        #expect(result.sample?.ids == reference.greedy_24)
    }

    @Test func seededSamplingRepeatsOnTheTinyHuggingFaceModel() throws {
        let tiny = LanguageModelTests.tinyFolder.path
        let arguments = ["--model", tiny, "--prompt", "the quick brown", "--top-p", "0.9", "--max-new-tokens", "16"]
        let first = try Self.sample(arguments + ["--seed", "3"]), again = try Self.sample(arguments + ["--seed", "3"])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.sample?.ids == again.sample?.ids)
        #expect(first.sample.map { !$0.ids.isEmpty } == true)
    }

    /// A folder that is not a usable Llama: one line naming the file, exit 1, nothing on standard output.
    @Test func modelFoldersThatAreRefused() throws {
        let folder = try Support.makeTemporaryFolder("lm-bad")
        defer { Support.remove(folder) }
        let manager = FileManager.default
        func copyTiny(to name: String) throws -> URL {
            let destination = folder.appendingPathComponent(name)
            try manager.copyItem(at: LanguageModelTests.tinyFolder, to: destination)
            return destination
        }
        // A GGUF of another architecture.
        let otherArchitecture = folder.appendingPathComponent("other-architecture")
        try manager.createDirectory(at: otherArchitecture, withIntermediateDirectories: true)
        try manager.copyItem(at: Support.packageRoot.appendingPathComponent("Tests/Golden/gguf-types.gguf"),
                             to: otherArchitecture.appendingPathComponent("model.gguf"))
        // A safetensors folder missing a tensor (config.json asks for a third block).
        let missingTensor = try copyTiny(to: "missing-tensor")
        let configURL = missingTensor.appendingPathComponent("config.json")
        let config = try String(contentsOf: configURL, encoding: .utf8).replacingOccurrences(of: "\"num_hidden_layers\": 2", with: "\"num_hidden_layers\": 3")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        // A tokenizer.json of another model type (BERT's WordPiece).
        let otherTokenizer = try copyTiny(to: "other-tokenizer")
        try manager.removeItem(at: otherTokenizer.appendingPathComponent("tokenizer.json"))
        try manager.copyItem(at: Support.packageRoot.appendingPathComponent("Tests/Golden/wordpiece-tokenizer.json"),
                             to: otherTokenizer.appendingPathComponent("tokenizer.json"))
        // A truncated GGUF.
        let truncated = folder.appendingPathComponent("truncated")
        try manager.createDirectory(at: truncated, withIntermediateDirectories: true)
        let bytes = try Data(contentsOf: Support.packageRoot.appendingPathComponent("Tests/Golden/gguf-types.gguf"))
        try bytes.prefix(bytes.count / 2).write(to: truncated.appendingPathComponent("model.gguf"))

        for (case_, expected) in [(otherArchitecture, "not llama"), (missingTensor, "model.layers.2"),
                                  (otherTokenizer, "tokenizer.json"), (truncated, "model.gguf"), (folder, "neither")] {
            let result = try Self.sample(["--model", case_.path, "--prompt", "hi"])
            let line = result.error.trimmingCharacters(in: .newlines)
            #expect(result.status == 1, "\(case_.lastPathComponent): exit \(result.status)")
            #expect(!line.contains("\n") && line.contains(expected), "\(case_.lastPathComponent): \(line)")
        }
    }
}
