import Foundation
import ReptileCore
import Testing
@testable import ReptileText

/// The tokenizer against hand-made vocabularies (each rule on its own) and the real MiniLM one.
@Suite struct WordPieceTokenizerTests {
    static let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    static func tokenizer(_ tokens: [String], settings: TokenizerSettings = TokenizerSettings()) throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabularyText: (specials + tokens).joined(separator: "\n") + "\n", settings: settings)
    }

    static let miniLM: WordPieceTokenizer? = {
        let folder = Support.shared.appendingPathComponent("models/all-MiniLM-L6-v2").path
        return try? WordPieceTokenizer.load(folder: folder)
    }()

    @Test func accentsAreStrippedWhenLowerCasing() throws {
        let vocabulary = try Self.tokenizer(["cafe", "naive", "café"])
        #expect(vocabulary.tokenize("Café NAÏVE") == ["cafe", "naive"])
        // Decomposed input (e + U+0301) gives the same.
        #expect(vocabulary.tokenize("Cafe\u{301}") == ["cafe"])
        // Without lower-casing, accents stay unless strip_accents is true.
        let cased = try Self.tokenizer(["Café", "cafe", "Cafe"], settings: TokenizerSettings(doLowerCase: false))
        #expect(cased.tokenize("Café") == ["Café"])
        #expect(cased.tokenize("Cafe\u{301}") == ["Café"], "NFC composes e + U+0301 before lookup")
        let stripped = try Self.tokenizer(["Cafe"], settings: TokenizerSettings(doLowerCase: false, stripAccents: true))
        #expect(stripped.tokenize("Café") == ["Cafe"])
    }

    @Test func codePointsNotGraphemeClustersDriveWordPiece() throws {
        // "a" + U+20DD (combining enclosing circle, category Me: not stripped, never composed) is one
        // Swift Character but two Python code points: WordPiece must see "a" then "##\u{20DD}".
        let vocabulary = try Self.tokenizer(["a", "##\u{20DD}"], settings: TokenizerSettings(doLowerCase: false))
        #expect(vocabulary.tokenize("a\u{20DD}") == ["a", "##\u{20DD}"])
        // Lookup is by code points: the precomposed "é" is not the vocabulary's decomposed entry.
        let decomposedOnly = try Self.tokenizer(["e\u{301}"], settings: TokenizerSettings(doLowerCase: false))
        #expect(decomposedOnly.tokenize("\u{E9}") == ["[UNK]"])
    }

    @Test func chineseCharactersAreSeparateTokens() throws {
        let vocabulary = try Self.tokenizer(["北", "京", "是", "ab", "##c"])
        #expect(vocabulary.tokenize("北京是abc") == ["北", "京", "是", "ab", "##c"])
        let unsplit = try Self.tokenizer(["北京是"], settings: TokenizerSettings(tokenizeChineseChars: false))
        #expect(unsplit.tokenize("北京是") == ["北京是"])
        // Hiragana is not in the CJK ideograph blocks: it stays one word.
        let kana = try Self.tokenizer(["はの"])
        #expect(kana.tokenize("はの") == ["はの"])
    }

    @Test func punctuationSplitsWords() throws {
        let vocabulary = try Self.tokenizer(["hello", ",", "world", "!", "$", "5", "^", "—", "¿"])
        #expect(vocabulary.tokenize("hello,world!") == ["hello", ",", "world", "!"])
        // ASCII symbols count as punctuation ($ and ^ are Unicode symbols, Sc and Sk).
        #expect(vocabulary.tokenize("$5^") == ["$", "5", "^"])
        // Unicode P* categories: em dash (Pd), inverted question mark (Po).
        #expect(vocabulary.tokenize("hello—¿world") == ["hello", "—", "¿", "world"])
    }

    @Test func controlCharactersAreRemovedAndWhitespaceSplits() throws {
        let vocabulary = try Self.tokenizer(["abcd", "x", "y", "z"])
        // NUL, U+FFFD, BEL (Cc) and a zero-width space (Cf) vanish without splitting the word.
        #expect(vocabulary.tokenize("a\u{0}b\u{FFFD}c\u{7}\u{200B}d") == ["abcd"])
        // Tab, newline, no-break space (Zs) and the line separator U+2028 all separate words.
        #expect(vocabulary.tokenize("x\ty\n\u{A0}z") == ["x", "y", "z"])
        #expect(vocabulary.tokenize("x\u{2028}y") == ["x", "y"])
        #expect(vocabulary.tokenize("  \t ") == [])
    }

    @Test func unknownWordsBecomeOneUnknownToken() throws {
        let vocabulary = try Self.tokenizer(["un", "##aff", "##able", "a", "##a"])
        #expect(vocabulary.tokenize("unaffable") == ["un", "##aff", "##able"])
        // No split covers "unx": the whole word is one [UNK], not "un" + [UNK].
        #expect(vocabulary.tokenize("unx") == ["[UNK]"])
        // 100 characters still split; 101 are [UNK] whatever the vocabulary.
        #expect(vocabulary.tokenize(String(repeating: "a", count: 100)) == ["a"] + Array(repeating: "##a", count: 99))
        #expect(vocabulary.tokenize(String(repeating: "a", count: 101)) == ["[UNK]"])
        #expect(vocabulary.encode("unx") == [2, 1, 3])
    }

    @Test func specialTokensInTheTextAreKept() throws {
        let vocabulary = try Self.tokenizer(["hello", "world"])
        #expect(vocabulary.tokenize("Hello [SEP] world[MASK]") == ["hello", "[SEP]", "world", "[MASK]"])
        #expect(vocabulary.tokenize("[sep]") == ["[UNK]", "[UNK]", "[UNK]"], "only the exact spelling is special")
    }

    @Test func encodingTruncatesAndBatchesPad() throws {
        let vocabulary = try Self.tokenizer(["a", "b"])
        let long = Array(repeating: "a b", count: 10).joined(separator: " ")
        let ids = vocabulary.encode(long, maximumLength: 8)
        #expect(ids == [2, 5, 6, 5, 6, 5, 6, 3], "[CLS] + 6 tokens + [SEP]")
        #expect(vocabulary.encode(long).count == 22)
        let batch = vocabulary.encodeBatch(["a", "a b b", ""], maximumLength: 4)
        #expect(batch.sequenceLength == 4 && batch.count == 3)
        #expect(batch.ids == [2, 5, 3, 0, 2, 5, 6, 3, 2, 3, 0, 0])
        #expect(batch.attentionMask == [true, true, true, false, true, true, true, true, true, true, false, false])
        #expect(batch.ids(ofRow: 2) == [2, 3])
    }

    @Test func vocabularyNeedsTheSpecialTokens() {
        #expect(throws: ReptileError.self) { try WordPieceTokenizer(vocabularyText: "[PAD]\n[CLS]\n[SEP]\nhello\n") }
    }

    @Test func settingsComeFromTokenizerConfig() throws {
        let folder = try Support.makeTemporaryFolder("tokenizer-config")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("tokenizer_config.json").path
        try Data(#"{"do_lower_case": false, "tokenize_chinese_chars": false, "strip_accents": null}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try TokenizerSettings.read(configAt: path) == TokenizerSettings(doLowerCase: false, tokenizeChineseChars: false, stripAccents: nil))
    }

    @Test(.enabled(if: miniLM != nil, "needs ../shared/models/all-MiniLM-L6-v2"))
    func realVocabularyWordPieces() throws {
        let tokenizer = try #require(Self.miniLM)
        #expect(tokenizer.vocabularySize == 30522)
        #expect(tokenizer.tokenize("unbelievably") == ["un", "##bel", "##ie", "##va", "##bly"])
        #expect(tokenizer.tokenize("です") == ["て", "##す"], "the dakuten (Mn) is stripped after NFD")
    }
}
