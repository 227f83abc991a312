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
