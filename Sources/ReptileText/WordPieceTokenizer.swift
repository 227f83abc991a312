import Foundation
import ReptileCore

// BERT's WordPiece tokenizer, written to give the same ids as Hugging Face's reference (slow)
// `BertTokenizer`: a basic tokenizer (clean, split CJK, whitespace split, lower-case and strip
// accents, split punctuation) and then greedy longest-match-first WordPiece.
//
// Python iterates a string by code points and compares strings code point by code point. Swift's
// `Character` is a grapheme cluster and `String ==` is canonical equivalence ("é" equals
// "e\u{301}"), so everything here works on `Unicode.Scalar` arrays and looks words up by their
// UTF-8 bytes, never by `String` equality.

/// The settings of `tokenizer_config.json` that change the tokens.
public struct TokenizerSettings: Codable, Equatable, Sendable {
    public var doLowerCase: Bool
    public var tokenizeChineseChars: Bool
    /// nil: strip accents exactly when lower-casing (the reference's default).
    public var stripAccents: Bool?

    public init(doLowerCase: Bool = true, tokenizeChineseChars: Bool = true, stripAccents: Bool? = nil) {
        self.doLowerCase = doLowerCase
        self.tokenizeChineseChars = tokenizeChineseChars
        self.stripAccents = stripAccents
    }

    /// The settings of a model folder's `tokenizer_config.json`, or the defaults when it has none.
    public static func read(folder: String) throws -> TokenizerSettings {
        let path = (folder as NSString).appendingPathComponent("tokenizer_config.json")
        return FileManager.default.fileExists(atPath: path) ? try read(configAt: path) : TokenizerSettings()
    }

    /// Reads the three settings from a `tokenizer_config.json`; absent keys (or null) keep the defaults.
    public static func read(configAt path: String) throws -> TokenizerSettings {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReptileError(path: path, "cannot read the tokenizer config", fix: "check the file's permissions")
        }
        guard let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ReptileError(path: path, "is not a JSON object", fix: "download tokenizer_config.json again")
        }
        var settings = TokenizerSettings()
        if let value = fields["do_lower_case"] as? Bool { settings.doLowerCase = value }
        if let value = fields["tokenize_chinese_chars"] as? Bool { settings.tokenizeChineseChars = value }
        if let value = fields["strip_accents"] as? Bool { settings.stripAccents = value }
        return settings
    }
}

/// Token ids of a batch, padded to the longest sequence: `ids` and `attentionMask` hold
/// `count × sequenceLength` values, row-major.
public struct EncodedBatch: Equatable, Sendable {
    public var ids: [Int]
    public var attentionMask: [Bool]
    public var count: Int
    public var sequenceLength: Int

    /// The ids of row `index` without its padding.
    public func ids(ofRow index: Int) -> [Int] {
        let row = (index * sequenceLength)..<((index + 1) * sequenceLength)
        return zip(ids[row], attentionMask[row]).filter(\.1).map(\.0)
    }
}

public struct WordPieceTokenizer: Sendable {
    public let settings: TokenizerSettings
    /// Tokens in id order (line n of vocab.txt has id n).
    public let vocabulary: [String]
    private let idsByBytes: [[UInt8]: Int]
    public let unknownID: Int, classifierID: Int, separatorID: Int, paddingID: Int
    /// Tokens kept whole: not lower-cased, not split (the reference's special tokens).
    private let specialTokens: [[Unicode.Scalar]]

    /// Words longer than this (in code points) become [UNK], as in the reference.
    public static let maximumWordLength = 100
    /// The truncation length used when none is given (all-MiniLM-L6-v2's max_seq_length).
    public static let defaultMaximumLength = 256

    /// `vocabularyText` is vocab.txt's content: one token a line, the line number its id.
    public init(vocabularyText: String, settings: TokenizerSettings = TokenizerSettings(), path: String = "vocab.txt") throws {
        self.settings = settings
        // Python's text mode reads with universal newlines: \n, \r\n and \r all end a line.
        var lines = vocabularyText.replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\r", with: "\n").components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        vocabulary = lines
        var ids: [[UInt8]: Int] = [:]
        ids.reserveCapacity(lines.count)
        // A token listed twice keeps its last line's id, as the reference's dict assignment does.
        for (id, token) in lines.enumerated() { ids[Array(token.utf8)] = id }
        idsByBytes = ids
        func required(_ token: String) throws -> Int {
            guard let id = ids[Array(token.utf8)] else {
                throw ReptileError(path: path, "the vocabulary has no \(token) token", fix: "use the vocab.txt that came with the model")
            }
            return id
        }
        unknownID = try required("[UNK]")
        classifierID = try required("[CLS]")
        separatorID = try required("[SEP]")
        paddingID = try required("[PAD]")
        specialTokens = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
            .filter { ids[Array($0.utf8)] != nil }.map { Array($0.unicodeScalars) }
    }

    /// Loads `vocab.txt` (strict UTF-8) and, when present, `tokenizer_config.json` from a model folder.
    public static func load(folder: String) throws -> WordPieceTokenizer {
        let vocabularyPath = (folder as NSString).appendingPathComponent("vocab.txt")
        return try WordPieceTokenizer(vocabularyText: try readVocabulary(at: vocabularyPath),
                                      settings: try TokenizerSettings.read(folder: folder), path: vocabularyPath)
    }

    /// vocab.txt's text; a missing file or one that is not UTF-8 is an error naming it.
    public static func readVocabulary(at path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ReptileError(path: path, "no such file", fix: "the encoder folder must hold vocab.txt, as a Hugging Face download does")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReptileError(path: path, "cannot read the vocabulary", fix: "check the file's permissions")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ReptileError(path: path, "is not valid UTF-8", fix: "download vocab.txt again")
        }
        return text
    }

    public var vocabularySize: Int { vocabulary.count }

    // MARK: Tokens

    /// The WordPiece tokens of `text`, without [CLS] and [SEP].
    public func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        for piece in splitOnSpecialTokens(Array(text.unicodeScalars)) {
            if piece.isSpecial {
                tokens.append(String(String.UnicodeScalarView(piece.scalars)))
                continue
            }
            for word in basicTokens(piece.scalars) { appendWordPieces(of: word, to: &tokens) }
        }
        return tokens
    }

    /// [CLS] tokens [SEP] as ids, the tokens cut so that the whole is at most `maximumLength`.
    public func encode(_ text: String, maximumLength: Int = WordPieceTokenizer.defaultMaximumLength) -> [Int] {
        precondition(maximumLength >= 2, "maximum length \(maximumLength) leaves no room for [CLS] and [SEP]")
        let ids = tokenize(text).prefix(maximumLength - 2).map(id(of:))
        return [classifierID] + ids + [separatorID]
    }

    /// Encodes each text and pads them to the longest with [PAD]; the mask is false on padding.
    public func encodeBatch(_ texts: [String], maximumLength: Int = WordPieceTokenizer.defaultMaximumLength) -> EncodedBatch {
        padBatch(texts.map { encode($0, maximumLength: maximumLength) })
    }

    /// Pads encoded texts to the longest with [PAD]; the mask is false on padding.
    public func padBatch(_ rows: [[Int]]) -> EncodedBatch {
        let length = rows.map(\.count).max() ?? 0
        var ids: [Int] = [], mask: [Bool] = []
        ids.reserveCapacity(rows.count * length)
        mask.reserveCapacity(rows.count * length)
        for row in rows {
            ids += row + Array(repeating: paddingID, count: length - row.count)
            mask += Array(repeating: true, count: row.count) + Array(repeating: false, count: length - row.count)
        }
        return EncodedBatch(ids: ids, attentionMask: mask, count: rows.count, sequenceLength: length)
    }

    /// The id of a token, [UNK]'s for one not in the vocabulary.
    public func id(of token: String) -> Int {
        idsByBytes[Array(token.utf8)] ?? unknownID
    }

    // MARK: Special tokens

    /// Cuts the text around special tokens written in it ("[SEP]"), which the reference keeps as
    /// they are; the text between them goes through the basic tokenizer.
    private func splitOnSpecialTokens(_ scalars: [Unicode.Scalar]) -> [(scalars: [Unicode.Scalar], isSpecial: Bool)] {
        guard scalars.contains("[") else { return [(scalars, false)] }
        var pieces: [(scalars: [Unicode.Scalar], isSpecial: Bool)] = []
        var current: [Unicode.Scalar] = []
        var index = 0
        scan: while index < scalars.count {
            if scalars[index] == "[" {
                for special in specialTokens where index + special.count <= scalars.count
                    && scalars[index..<(index + special.count)].elementsEqual(special) {
                    if !current.isEmpty { pieces.append((current, false)) }
                    pieces.append((special, true))
                    current = []
                    index += special.count
                    continue scan
                }
            }
            current.append(scalars[index])
            index += 1
        }
        if !current.isEmpty { pieces.append((current, false)) }
        return pieces
    }

    // MARK: Basic tokenizer

    /// Cleaning, CJK splitting, whitespace splitting, lower-casing and accent stripping, and
    /// punctuation splitting: words ready for WordPiece.
    func basicTokens(_ input: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var text: [Unicode.Scalar] = []
        text.reserveCapacity(input.count)
        for scalar in input {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) {
                text.append(" ")
            } else if settings.tokenizeChineseChars && isChineseCharacter(scalar) {
                text += [" ", scalar, " "]
            } else {
                text.append(scalar)
            }
        }
        // The reference normalises to NFC before splitting (it matters only without lower-casing).
        let composed = Array(String(String.UnicodeScalarView(text)).precomposedStringWithCanonicalMapping.unicodeScalars)
        var words: [[Unicode.Scalar]] = []
        for var word in splitOnWhitespace(composed) {
            if settings.doLowerCase {
                word = Array(String(String.UnicodeScalarView(word)).lowercased().unicodeScalars)
                if settings.stripAccents != false { word = strippingAccents(word) }
            } else if settings.stripAccents == true {
                word = strippingAccents(word)
            }
            words += splitOnPunctuation(word)
        }
        // Lower-casing can produce whitespace-free words only, but the reference re-splits anyway.
        return words.flatMap(splitOnWhitespace)
    }

    /// NFD, then without the non-spacing marks (category Mn): "café" → "cafe".
    private func strippingAccents(_ word: [Unicode.Scalar]) -> [Unicode.Scalar] {
        String(String.UnicodeScalarView(word)).decomposedStringWithCanonicalMapping.unicodeScalars
            .filter { $0.properties.generalCategory != .nonspacingMark }
    }

    /// Python's `str.split()`: runs of whitespace separate words, none are empty.
    private func splitOnWhitespace(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        scalars.split(whereSeparator: { $0.properties.isWhitespace }).map(Array.init)
    }

    /// Each punctuation character becomes a word of its own.
    private func splitOnPunctuation(_ word: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var pieces: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in word {
            if isPunctuation(scalar) {
                if !current.isEmpty { pieces.append(current); current = [] }
                pieces.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    // MARK: WordPiece

    /// Greedy longest-match-first: the longest vocabulary entry that starts the word, then the
    /// longest `##` continuation, and so on; a word with no such split is one [UNK].
    private func appendWordPieces(of word: [Unicode.Scalar], to tokens: inout [String]) {
        guard word.count <= Self.maximumWordLength else {
            tokens.append("[UNK]")
            return
        }
        // UTF-8 offsets of every code point, so each candidate is a byte slice, not a new String.
        var bytes: [UInt8] = [], offsets: [Int] = [0]
        for scalar in word {
            bytes += Array(String(String.UnicodeScalarView([scalar])).utf8)
            offsets.append(bytes.count)
        }
        var pieces: [String] = []
        var start = 0
        let prefix: [UInt8] = Array("##".utf8)
        while start < word.count {
            var end = word.count
            var match: [UInt8]?
            while start < end {
                let candidate = (start > 0 ? prefix : []) + bytes[offsets[start]..<offsets[end]]
                if idsByBytes[candidate] != nil { match = candidate; break }
                end -= 1
            }
            guard let match else {
                tokens.append("[UNK]")
                return
            }
            pieces.append(String(decoding: match, as: UTF8.self))
            start = end
        }
        tokens += pieces
    }
}

// MARK: Character classes, as the reference defines them

/// \t, \n, \r and the Zs category (other control characters are removed before this is asked).
func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" { return true }
    return scalar.properties.generalCategory == .spaceSeparator
}

/// Categories C* except \t, \n and \r (which count as whitespace).
func isControl(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned: return true
    default: return false
    }
}

/// The ASCII symbol ranges (so "$", "^", "`" split words, though Unicode calls them symbols) and
/// every P* category.
func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value) || (123...126).contains(value) {
        return true
    }
    switch scalar.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
         .initialPunctuation, .finalPunctuation, .otherPunctuation:
        return true
    default:
        return false
    }
}

/// The CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul, which are written with spaces or
/// tokenised as ordinary letters).
func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
         0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
        return true
    default:
        return false
    }
}
