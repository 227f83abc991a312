import Foundation
import ReptileCore
import ReptileText

/// The generation vocabulary of a text run: `[PAD]`, `[UNK]`, the start and end markers, then the
/// most frequent tokens of the training texts (`GenerationTokenizer`: words and punctuation, case
/// kept, `##` on tokens glued to their predecessor), at most `maximumSize` entries in all.
/// `[UNK]` stands for out-of-vocabulary tokens in training; sampling never draws it, nor `[PAD]`
/// or the start marker (`forbiddenWhenSampling`), so generated text holds only real tokens.
/// With `spellsRareTokens` the characters that spell every training token come first, and a token
/// outside the vocabulary is spelled out instead of becoming `[UNK]` ("0800" → "0", "##8", "##0",
/// "##0"): a small vocabulary then still lets the generator learn and write rare words and numbers.
public struct TextGenerationVocabulary: Equatable, Sendable {
    public static let start = "[BOS]"
    public static let end = "[EOS]"
    public static let paddingIndex = WordVocabulary.paddingIndex
    public static let unknownIndex = WordVocabulary.unknownIndex
    public static let startIndex = 2
    public static let endIndex = 3

    public let words: WordVocabulary
    public let spellsRareTokens: Bool

    public init(entries: [String], spellsRareTokens: Bool = false) throws {
        guard entries.count > 4, entries[0] == WordVocabulary.padding, entries[1] == WordVocabulary.unknown,
              entries[2] == Self.start, entries[3] == Self.end else {
            throw ReptileError("a text generation vocabulary starts with [PAD], [UNK], [BOS], [EOS] and holds tokens after them",
                               fix: "re-create the run with `reptile train text`")
        }
        words = WordVocabulary(entries: entries)
        self.spellsRareTokens = spellsRareTokens
    }

    public static func build<Texts: Sequence>(from texts: Texts, maximumSize: Int, spellingRareTokens: Bool = false) throws -> TextGenerationVocabulary
    where Texts.Element == String {
        guard maximumSize > 4 else { throw ReptileError("--vocab-size must be at least 5 (4 markers and a token)", fix: "use e.g. 5000") }
        let tokenized = texts.map(GenerationTokenizer.tokens)
        var reserved = [start, end]
        if spellingRareTokens {
            // Every character piece any training token needs, most frequent first (ties in code-point order).
            var pieceCounts: [String: Int] = [:]
            for tokens in tokenized { for token in tokens { for piece in spelled(token) { pieceCounts[piece, default: 0] += 1 } } }
            let pieces = pieceCounts.sorted { $0.value != $1.value ? $0.value > $1.value
                : Array($0.key.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.key.unicodeScalars.map(\.value)) }.map(\.key)
            guard maximumSize > 4 + pieces.count else {
                throw ReptileError("--vocab-size \(maximumSize) leaves no room for words after the 4 markers and the \(pieces.count) characters that spell rare words",
                                   fix: "use --vocab-size \(4 + pieces.count + 200) or more, or leave out --spell-rare-words")
            }
            reserved += pieces
        }
        let built = WordVocabulary.build(fromTokenized: tokenized, maximumSize: maximumSize, reserved: reserved)
        guard built.count > 4 else { throw ReptileError("the training texts hold no tokens", fix: "ingest a text dataset with non-empty texts") }
        return try TextGenerationVocabulary(entries: built.entries, spellsRareTokens: spellingRareTokens)
    }

    /// A token as the characters that write it: the first keeps the token's glue, the rest are glued.
    static func spelled(_ token: String) -> [String] {
        let prefix = GenerationTokenizer.gluePrefix
        let glued = token.count > prefix.count && token.hasPrefix(prefix)
        let body = glued ? token.dropFirst(prefix.count) : Substring(token)
        return body.enumerated().map { position, character in position == 0 && !glued ? String(character) : prefix + String(character) }
    }

    public var entries: [String] { words.entries }
    public var count: Int { words.count }
    public var forbiddenWhenSampling: [Int] { [Self.paddingIndex, Self.unknownIndex, Self.startIndex] }

    /// The token indices of a text, without markers, cut at `maximumLength` tokens.
    public func encode(_ text: String, maximumLength: Int) -> (indices: [Int], truncated: Bool) {
        var indices: [Int] = []
        for token in GenerationTokenizer.tokens(text) {
            let index = words.index(of: token)
            if index == Self.unknownIndex && spellsRareTokens {
                indices += Self.spelled(token).map(words.index(of:))
            } else {
                indices.append(index)
            }
        }
        return (Array(indices.prefix(maximumLength)), indices.count > maximumLength)
    }

    /// What the generator is trained to emit for a text: its tokens, then the end marker unless
    /// the text was cut (a cut text has no end within the window).
    public func targetSequence(_ text: String, maximumLength: Int) -> (indices: [Int], truncated: Bool) {
        let (indices, truncated) = encode(text, maximumLength: maximumLength)
        return (truncated ? indices : indices + [Self.endIndex], truncated)
    }

    /// Token indices back to text: up to the first end marker, markers and padding left out.
    public func decode<Indices: Sequence>(_ indices: Indices) -> String where Indices.Element == Int {
        var tokens: [String] = []
        for index in indices {
            if index == Self.endIndex { break }
            if index == Self.paddingIndex || index == Self.startIndex || index == Self.unknownIndex { continue }
            tokens.append(words.entries[index])
        }
        return GenerationTokenizer.detokenize(tokens)
    }
}
