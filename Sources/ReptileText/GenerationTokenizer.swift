import Foundation

/// Tokens for text generation that give the text back: words (letters and digits, an apostrophe
/// inside or leading a word kept, so "don't" and "'s" are one token each) and every other
/// non-space character as a token of its own. Case is kept. A token that followed the previous
/// one without a space carries the prefix `##` (as WordPiece marks continuations), so
/// `detokenize(tokens(text))` restores the spacing of the source, normalised to single spaces:
/// "Hello, world!" → ["Hello", "##,", "world", "##!"], and TREC's "Russia ?" → ["Russia", "?"].
public enum GenerationTokenizer {
    public static let gluePrefix = "##"

    public static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        for chunk in text.split(whereSeparator: { $0.unicodeScalars.allSatisfy(isSpace) }) {
            var pieces: [String] = []
            var current = String.UnicodeScalarView()
            func flush() {
                if !current.isEmpty { pieces.append(String(current)) }
                current = String.UnicodeScalarView()
            }
            let scalars = Array(chunk.unicodeScalars)
            for (position, scalar) in scalars.enumerated() {
                if isWordCharacter(scalar) {
                    current.append(scalar)
                } else if scalar == "'" || scalar == "\u{2019}", position + 1 < scalars.count, isWordCharacter(scalars[position + 1]) {
                    // Inside a word ("don't") or leading one ("'s"): part of the word.
                    current.append(scalar)
                } else {
                    flush()
                    pieces.append(String(scalar))
                }
            }
            flush()
            for (index, piece) in pieces.enumerated() { tokens.append(index == 0 ? piece : gluePrefix + piece) }
        }
        return tokens
    }

    /// Tokens back to text: a glued token joins its predecessor, every other token follows a space.
    public static func detokenize<Tokens: Sequence>(_ tokens: Tokens) -> String where Tokens.Element == String {
        var text = ""
        for token in tokens {
            if token.count > gluePrefix.count && token.hasPrefix(gluePrefix) {
                text += token.dropFirst(gluePrefix.count)
            } else {
                if !text.isEmpty { text += " " }
                text += token
            }
        }
        return text
    }

    /// The text as `tokens` followed by `detokenize` gives it: what generated texts are compared
    /// with (copies of training texts are detected in this form).
    public static func normalised(_ text: String) -> String { detokenize(tokens(text)) }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
    }

    private static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }
}
