import Foundation
import Testing
import ReptileCore
import ReptileFormats
@testable import ReptileText
@testable import ReptileLanguageModel

/// SmolLM2's byte-level BPE: the reference ids of transformers, 410 strings encoded by Hugging Face
/// `tokenizers` (Tests/Golden/smollm2-bpe-cases.json, from scripts/reference/bpe_golden.py), round
/// trips of random UTF-8, the GPT-2 pattern on its own, tokenizer.json, and refusals.
@Suite struct ByteLevelBPETokenizerTests {
    static let modelFolder = Support.shared.appendingPathComponent("models/SmolLM2-135M-Instruct")
    static let available = FileManager.default.fileExists(atPath: modelFolder.appendingPathComponent("reference-outputs.json").path)

    static let smolLM: ByteLevelBPETokenizer? = {
        guard let source = try? PretrainedLanguageModelSource(folder: modelFolder) else { return nil }
        return try? loadTokenizer(source)
    }()

    struct Case: Decodable { var text: String; var ids: [Int] }

    static func referenceCases() throws -> [Case] {
        struct Reference: Decodable { var tokenizer_cases: [Case] }
        let data = try Data(contentsOf: modelFolder.appendingPathComponent("reference-outputs.json"))
        return try JSONDecoder().decode(Reference.self, from: data).tokenizer_cases
    }

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func matchesTheReferenceIdsForEveryCase() throws {
        let tokenizer = try #require(Self.smolLM)
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2 && tokenizer.padID == 2)
        #expect(tokenizer.token(1) == "<|im_start|>" && tokenizer.token(216) == "Ġ" && tokenizer.token(49152) == nil)
        #expect(tokenizer.specialTokenIDs == Array(0...16))
        let cases = try Self.referenceCases()
        #expect(cases.count == 16)
        for item in cases {
            #expect(tokenizer.encode(item.text) == item.ids, "\(quoted(item.text))")
            #expect(Array(tokenizer.decode(item.ids).utf8) == Array(item.text.utf8), "\(quoted(item.text))")
        }
    }

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func matchesHuggingFaceTokenizersOnFourHundredStrings() throws {
        let tokenizer = try #require(Self.smolLM)
        let url = Support.packageRoot.appendingPathComponent("Tests/Golden/smollm2-bpe-cases.json")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
        #expect(cases.count == 412)
        var failures = 0
        for item in cases {
            let ids = tokenizer.encode(item.text)
            if ids != item.ids {
                failures += 1
                if failures <= 5 { Issue.record("\(quoted(item.text, limit: 200)): \(ids) ≠ \(item.ids); pieces \(tokenizer.preTokens(item.text))") }
            }
            if !item.text.utf8.contains(where: Set(tokenizer.missingByteTokens).contains) {
                #expect(Array(tokenizer.decode(ids).utf8) == Array(item.text.utf8), "\(quoted(item.text))")
            }
        }
        #expect(failures == 0)
    }

    /// Random strings of scalars from many scripts, emoji, whitespace and digits, and any valid scalar.
    static func randomTexts(count: Int, seed: UInt64, avoiding missing: Set<UInt8> = []) -> [String] {
        var random = SeededRandom(seed: seed)
        let pools: [[Unicode.Scalar]] = [
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789٣٤²½Ⅻ", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            " \t\n\r\u{A0}\u{3000}\u{2028}\u{85}\u{B}\u{C}\u{200B}", "éàçñßøœ\u{301}\u{300}\u{308}", "абвгдежзий", "数据集合成的模型",
            "ひらがなカタカナ", "한국어", "العربية", "हिन्दी", "🙂👍🏽🎉❤️🇫🇷👨‍👩‍👧‍👦\u{FE0F}\u{200D}", "'sltmdvre",
        ].map { Array(($0 as String).unicodeScalars) }
        var texts: [String] = []
        for _ in 0..<count {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<(1 + random.nextIndex(below: 60)) {
                if random.nextIndex(below: 10) == 0 {
                    // Any scalar (not a surrogate).
                    var value = UInt32(random.nextIndex(below: 0x10FFFF))
                    if (0xD800...0xDFFF).contains(value) { value = 0xFFFD }
                    let scalar = Unicode.Scalar(value)!
                    if String(scalar).utf8.contains(where: missing.contains) { continue }
                    scalars.append(scalar)
                } else {
                    let pool = pools[random.nextIndex(below: pools.count)]
                    scalars.append(pool[random.nextIndex(below: pool.count)])
                }
            }
            if random.nextIndex(below: 8) == 0 { scalars.append(contentsOf: "<|im_end|>".unicodeScalars) }
            texts.append(String(scalars))
        }
        return texts
    }

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func decodeOfEncodeGivesBackAnyUTF8() throws {
        let tokenizer = try #require(Self.smolLM)
        // SmolLM2 has no token for 8 of the bytes UTF-8 uses (Hugging Face drops them too): characters holding them cannot come back.
        #expect(tokenizer.missingByteTokens == [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2] + Array(0xF5...0xFF))
        // U+80000 is F2 80 80 80: without its lead byte, three stray continuation bytes remain.
        #expect(tokenizer.decode(tokenizer.encode("a\u{4}b\u{80000}c")) == "ab\u{FFFD}\u{FFFD}\u{FFFD}c")
        let texts = Self.randomTexts(count: 2000, seed: 23, avoiding: Set(tokenizer.missingByteTokens)) + (try Self.referenceCases()).map(\.text)
            + [String(repeating: "ab", count: 500), String(repeating: " ", count: 300), String(repeating: "🙂", count: 100)]
        for text in texts {
            let ids = tokenizer.encode(text)
            #expect(ids.allSatisfy { (0..<tokenizer.vocabularySize).contains($0) })
            #expect(Array(tokenizer.decode(ids).utf8) == Array(text.utf8), "\(quoted(text))")
        }
    }

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func invalidBytesDecodeToReplacementCharactersOnly() throws {
        let tokenizer = try #require(Self.smolLM)
        let ids = tokenizer.encode("🙂")
        #expect(ids.count > 1, "the emoji takes byte tokens")
        #expect(tokenizer.decode(ids) == "🙂")
        #expect(tokenizer.decode(Array(ids.dropLast())).unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
        #expect(tokenizer.decode(Array(ids.dropLast())) .isEmpty == false)
        // A valid prefix stays as it is; ids outside the vocabulary are skipped.
        #expect(tokenizer.decode(tokenizer.encode("ok ") + [-1, 999_999]) == "ok ")
        #expect(tokenizer.decodeBytes(Array(ids.dropLast())) == Array(Array("🙂".utf8).prefix(tokenizer.decodeBytes(Array(ids.dropLast())).count)))
    }

    // MARK: - The rules on a hand-made vocabulary

    /// Every byte, then merges "a b" → "ab", "ab c" → "abc", "Ġ a" → "Ġa", "b c" → "bc".
    static func tiny(_ preTokenizer: ByteLevelBPETokenizer.PreTokenizer = .smollm) throws -> ByteLevelBPETokenizer {
        let bytes = (0..<256).map { String(Character(ByteMapping.byteToScalar[$0])) }
        let merges = ["b c", "a b", "ab c", "Ġ a", "Ġa bc"]
        let extra = ["bc", "ab", "abc", "Ġa", "Ġabc", "<|end|>", "<|end|>x"]
        return try ByteLevelBPETokenizer(tokens: bytes + extra, merges: merges, specialTokenIDs: [261, 262],
                                         bosID: nil, eosID: 261, padID: nil, preTokenizer: preTokenizer)
    }

    @Test func mergesApplyByRankNotByPosition() throws {
        let tokenizer = try Self.tiny()
        // "abc": pairs (a,b) rank 1 and (b,c) rank 0: "bc" first, then no merge "a bc" exists.
        #expect(tokenizer.encode("abc").map { tokenizer.token($0)! } == ["a", "bc"])
        #expect(tokenizer.encode("ab").map { tokenizer.token($0)! } == ["ab"])
        // " abab": (a,b) outranks (Ġ,a), so "Ġa" never forms.
        #expect(tokenizer.encode(" abab").map { tokenizer.token($0)! } == ["Ġ", "ab", "ab"])
        // " abc": "bc" (rank 0), then "Ġa" (3), then "Ġabc" (4).
        #expect(tokenizer.encode(" abc").map { tokenizer.token($0)! } == ["Ġabc"])
        // Long pre-tokens take the heap path and agree with the short one.
        let long = String(repeating: "abcab", count: 40)
        let expected = Array(repeating: ["a", "bc", "ab"], count: 40).flatMap { $0 }
        #expect(tokenizer.encode(long).map { tokenizer.token($0)! } == expected)
        // Special tokens are matched whole, longest first, and decode to their text.
        #expect(tokenizer.encode("ab<|end|>xab<|end|>") == [257, 262, 257, 261])
        #expect(tokenizer.decode([257, 262, 261]) == "ab<|end|>x<|end|>")
        #expect(tokenizer.vocabularySize == 263 && tokenizer.eosID == 261)
    }

    @Test func thePreTokenizerIsGPT2sPatternAfterSingleDigits() throws {
        let smollm = try Self.tiny(.smollm)
        let gpt2 = try Self.tiny(.gpt2)
        #expect(smollm.preTokens("Hello, world!") == ["Hello", ",", " world", "!"])
        #expect(smollm.preTokens("don't we'll THEY'RE 's") == ["don", "'t", " we", "'ll", " THEY", "'", "RE", " '", "s"])
        // A whitespace run before a non-space gives up its last character: "\s+(?!\S)" then "\s+" or " ?\p{L}+".
        #expect(smollm.preTokens("a  b\n\nc \t d   ") == ["a", " ", " b", "\n", "\n", "c", " \t", " d", "   "])
        #expect(smollm.preTokens("x\n\n") == ["x", "\n\n"])
        #expect(smollm.preTokens("x\ny") == ["x", "\n", "y"])
        #expect(smollm.preTokens("  two") == [" ", " two"])
        #expect(smollm.preTokens("12 345") == ["1", "2", " ", "3", "4", "5"])
        #expect(gpt2.preTokens("12 345") == ["12", " 345"])
        #expect(smollm.preTokens("a  1") == ["a", "  ", "1"])
        #expect(gpt2.preTokens("a  1") == ["a", " ", " 1"])
        #expect(smollm.preTokens("!!'s ?!x") == ["!!'", "s", " ?!", "x"])
        #expect(smollm.preTokens("café\u{301} 数据 🙂👍") == ["café", "\u{301}", " 数据", " 🙂👍"])
        #expect(smollm.preTokens("\u{A0}a\u{3000} b") == ["\u{A0}", "a", "\u{3000}", " b"])
        #expect(smollm.preTokens("x<|end|>  <|end|>") == ["x", "<|end|>", "  ", "<|end|>"])
        #expect(smollm.preTokens("") == [] && smollm.encode("") == [])
    }

    // MARK: - tokenizer.json and model folders

    @Test(.enabled(if: available, "needs ../shared/models/SmolLM2-135M-Instruct"))
    func readsAHuggingFaceTokenizerJSON() throws {
        let gguf = try GGUFFile(contentsOf: Self.modelFolder.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf"))
        let tokens = try #require(gguf.metadata["tokenizer.ggml.tokens"]?.stringArray)
        let merges = try #require(gguf.metadata["tokenizer.ggml.merges"]?.stringArray)
        let folder = try Support.makeTemporaryFolder("hf-tokenizer")
        defer { Support.remove(folder) }
        // SmolLM2's tokenizer.json layout: merges as pairs, 17 special added tokens, Digits then ByteLevel.
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where id > 16 { vocabulary[token] = id }
        let json: [String: Any] = [
            "version": "1.0", "normalizer": NSNull(), "post_processor": NSNull(),
            "added_tokens": (0...16).map { ["id": $0, "content": tokens[$0], "special": true, "single_word": false,
                                            "lstrip": false, "rstrip": false, "normalized": false] as [String: Any] },
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": true],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]]],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocabulary, "merges": merges.map { $0.split(separator: " ").map(String.init) }],
        ]
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("tokenizer.json"))
        try Data(#"{"bos_token": "<|im_start|>", "eos_token": {"content": "<|im_end|>"}, "pad_token": "<|im_end|>"}"#.utf8)
            .write(to: folder.appendingPathComponent("tokenizer_config.json"))
        for name in ["config.json", "model.safetensors"] { try Data("{}".utf8).write(to: folder.appendingPathComponent(name)) }
        let source = try PretrainedLanguageModelSource(folder: folder)
        #expect(source == .huggingFace(folder))
        let tokenizer = try loadTokenizer(source)
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2 && tokenizer.padID == 2 && tokenizer.preTokenizer == .smollm)
        #expect(tokenizer.vocabularySize == 49152 && tokenizer.specialTokenIDs == Array(0...16))
        for item in try Self.referenceCases() {
            #expect(tokenizer.encode(item.text) == item.ids, "\(quoted(item.text))")
        }
    }

    @Test func anotherTokenizerModelIsRefusedWithOneLine() throws {
        let folder = try Support.makeTemporaryFolder("bpe-refusals")
        defer { Support.remove(folder) }
        var refusals: [(() throws -> Void, [String])] = []
        let miniLM = Support.shared.appendingPathComponent("models/all-MiniLM-L6-v2/tokenizer.json")
        if FileManager.default.fileExists(atPath: miniLM.path) {
            refusals.append(({ _ = try ByteLevelBPETokenizer(huggingFaceTokenizerJSON: miniLM) }, [miniLM.path, "WordPiece", "not byte-level BPE"]))
        }
        let unigram = folder.appendingPathComponent("unigram.json")
        try Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8).write(to: unigram)
        refusals.append(({ _ = try ByteLevelBPETokenizer(huggingFaceTokenizerJSON: unigram) }, [unigram.path, "Unigram"]))
        let metaspace = folder.appendingPathComponent("metaspace.json")
        try Data(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}}"#.utf8).write(to: metaspace)
        refusals.append(({ _ = try ByteLevelBPETokenizer(huggingFaceTokenizerJSON: metaspace) }, [metaspace.path, "Metaspace"]))
        // A GGUF whose tokenizer is SentencePiece (llama), and one with an unknown pre-tokenizer.
        let llama = folder.appendingPathComponent("llama.gguf")
        try Data(GGUFTests.Writer.file(strings: [("tokenizer.ggml.model", "llama")])).write(to: llama)
        refusals.append(({ _ = try loadByteLevelBPETokenizer(from: GGUFFile(contentsOf: llama)) }, [llama.path, "\"llama\" tokenizer"]))
        let qwen = folder.appendingPathComponent("qwen.gguf")
        try Data(GGUFTests.Writer.file(strings: [("tokenizer.ggml.model", "gpt2"), ("tokenizer.ggml.pre", "qwen2")])).write(to: qwen)
        refusals.append(({ _ = try loadByteLevelBPETokenizer(from: GGUFFile(contentsOf: qwen)) }, [qwen.path, "\"qwen2\""]))
        // Folders: empty, two GGUF files, a Hugging Face folder missing its weights.
        let empty = folder.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        refusals.append(({ _ = try PretrainedLanguageModelSource(folder: empty) }, [empty.path, "config.json, model.safetensors, tokenizer.json"]))
        let two = folder.appendingPathComponent("two")
        try FileManager.default.createDirectory(at: two, withIntermediateDirectories: true)
        for name in ["a.gguf", "b.gguf"] { try Data().write(to: two.appendingPathComponent(name)) }
        refusals.append(({ _ = try PretrainedLanguageModelSource(folder: two) }, [two.path, "2 .gguf files"]))
        let partial = folder.appendingPathComponent("partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        for name in ["config.json", "tokenizer.json"] { try Data().write(to: partial.appendingPathComponent(name)) }
        refusals.append(({ _ = try PretrainedLanguageModelSource(folder: partial) }, [partial.path, "lacks model.safetensors"]))
        for (attempt, words) in refusals {
            do {
                try attempt()
                Issue.record("accepted: \(words)")
            } catch let error as ReptileError {
                let line = error.description
                #expect(!line.contains("\n"))
                for word in words { #expect(line.contains(word), "\(line)") }
            }
        }
    }
}
