import Foundation

/// Word-level tokenization for the native text classifier: lower-cased runs of letters and digits
/// (an apostrophe inside a word stays, so "don't" is one word), and every other non-space character
/// as a word of its own ("?" matters for TREC questions, "!" and "£" for spam).
public enum WordTokenizer {
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty { words.append(String(current)) }
            current = String.UnicodeScalarView()
        }
        let scalars = Array(text.lowercased().unicodeScalars)
        for (position, scalar) in scalars.enumerated() {
            let properties = scalar.properties
            if properties.isAlphabetic || properties.numericType != nil {
                current.append(scalar)
            } else if scalar == "'" || scalar == "\u{2019}", !current.isEmpty, position + 1 < scalars.count,
                      scalars[position + 1].properties.isAlphabetic {
                current.append(scalar)
            } else if properties.isWhitespace || properties.generalCategory == .control || properties.generalCategory == .format {
                flush()
            } else {
                flush()
                words.append(String(scalar))
            }
        }
        flush()
        return words
    }
}

/// A word vocabulary built from training texts: index 0 pads, 1 stands for unknown words, then the
/// most frequent words (ties in code-point order, so the same texts always give the same vocabulary).
public struct WordVocabulary: Equatable, Sendable {
    public static let padding = "[PAD]"
    public static let unknown = "[UNK]"
    public static let paddingIndex = 0
    public static let unknownIndex = 1

    /// Every entry, index order: `[PAD]`, `[UNK]`, then words.
    public let entries: [String]
    private let indices: [String: Int]

    public init(entries: [String]) {
        precondition(entries.count >= 2 && entries[0] == Self.padding && entries[1] == Self.unknown,
                     "a word vocabulary starts with [PAD] and [UNK]")
        self.entries = entries
        var indices: [String: Int] = [:]
        for (index, entry) in entries.enumerated() where indices[entry] == nil { indices[entry] = index }
        self.indices = indices
    }

    /// At most `maximumSize` entries (the two special ones included) of words seen at least `minimumCount` times.
    public static func build<Texts: Sequence>(from texts: Texts, maximumSize: Int, minimumCount: Int = 1) -> WordVocabulary
    where Texts.Element == String {
        build(fromTokenized: texts.lazy.map(WordTokenizer.words), maximumSize: maximumSize, minimumCount: minimumCount)
    }

    /// The same from texts already split into tokens (any tokenizer), with `reserved` special
    /// entries placed right after `[PAD]` and `[UNK]` (a generator's start and end markers).
    public static func build<Sequences: Sequence>(fromTokenized sequences: Sequences, maximumSize: Int, minimumCount: Int = 1,
                                                  reserved: [String] = []) -> WordVocabulary
    where Sequences.Element: Sequence, Sequences.Element.Element == String {
        let specials = [padding, unknown] + reserved
        precondition(maximumSize >= specials.count, "a vocabulary needs room for \(specials.joined(separator: ", "))")
        var counts: [String: Int] = [:]
        for tokens in sequences {
            for token in tokens { counts[token, default: 0] += 1 }
        }
        let ranked = counts.filter { $0.value >= minimumCount && !specials.contains($0.key) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : Array($0.key.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.key.unicodeScalars.map(\.value)) }
        return WordVocabulary(entries: specials + ranked.prefix(maximumSize - specials.count).map(\.key))
    }

    public var count: Int { entries.count }

    public func index(of word: String) -> Int { indices[word] ?? Self.unknownIndex }

    /// The word indices of a text, cut at `maximumLength` words.
    public func encode(_ text: String, maximumLength: Int) -> [Int] {
        WordTokenizer.words(text).prefix(maximumLength).map(index(of:))
    }
}
