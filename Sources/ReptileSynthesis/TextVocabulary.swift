import Foundation
import ReptileCore
import ReptileText

/// The generation vocabulary of a text run: `[PAD]`, `[UNK]`, the start and end markers, then the
/// most frequent tokens of the training texts (`GenerationTokenizer`: words and punctuation, case
/// kept, `##` on tokens glued to their predecessor), at most `maximumSize` entries in all.
/// `[UNK]` stands for out-of-vocabulary tokens in training; sampling never draws it, nor `[PAD]`
/// or the start marker (`forbiddenWhenSampling`), so generated text holds only real tokens.
public struct TextGenerationVocabulary: Equatable, Sendable {
    public static let start = "[BOS]"
    public static let end = "[EOS]"
    public static let paddingIndex = WordVocabulary.paddingIndex
    public static let unknownIndex = WordVocabulary.unknownIndex
    public static let startIndex = 2
    public static let endIndex = 3

    public let words: WordVocabulary

    public init(entries: [String]) throws {
        guard entries.count > 4, entries[0] == WordVocabulary.padding, entries[1] == WordVocabulary.unknown,
              entries[2] == Self.start, entries[3] == Self.end else {
            throw ReptileError("a text generation vocabulary starts with [PAD], [UNK], [BOS], [EOS] and holds tokens after them",
                               fix: "re-create the run with `reptile train text`")
        }
        words = WordVocabulary(entries: entries)
    }

    public static func build<Texts: Sequence>(from texts: Texts, maximumSize: Int) throws -> TextGenerationVocabulary where Texts.Element == String {
        guard maximumSize > 4 else { throw ReptileError("--vocab-size must be at least 5 (4 markers and a token)", fix: "use e.g. 5000") }
        let built = WordVocabulary.build(fromTokenized: texts.lazy.map(GenerationTokenizer.tokens), maximumSize: maximumSize,
                                         reserved: [start, end])
        guard built.count > 4 else { throw ReptileError("the training texts hold no tokens", fix: "ingest a text dataset with non-empty texts") }
        return try TextGenerationVocabulary(entries: built.entries)
    }

    public var entries: [String] { words.entries }
    public var count: Int { words.count }
    public var forbiddenWhenSampling: [Int] { [Self.paddingIndex, Self.unknownIndex, Self.startIndex] }

    /// The token indices of a text, without markers, cut at `maximumLength` tokens.
    public func encode(_ text: String, maximumLength: Int) -> (indices: [Int], truncated: Bool) {
        let tokens = GenerationTokenizer.tokens(text)
        return (tokens.prefix(maximumLength).map(words.index(of:)), tokens.count > maximumLength)
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
