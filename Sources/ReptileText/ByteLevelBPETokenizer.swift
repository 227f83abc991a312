import Foundation
import ReptileCore

/// GPT-2's byte-level BPE, as Hugging Face `tokenizers` and llama.cpp run it for SmolLM2 and the
/// other GPT-2-style vocabularies: special tokens are cut out whole first; the rest is split into
/// pre-tokens (for `smollm`, every numeric character alone, then GPT-2's regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, here a scanner over
/// Unicode scalars); each pre-token's UTF-8 bytes become GPT-2's printable stand-ins, and merges
/// join adjacent symbols, the lowest-ranked pair first (the leftmost among equals).
/// `decode(encode(text))` gives back `text` byte for byte.
public struct ByteLevelBPETokenizer: Sendable {
    /// How text is cut before BPE.
    public enum PreTokenizer: String, Sendable {
        /// Hugging Face `Digits(individual_digits: true)` then `ByteLevel(use_regex: true)`; llama.cpp's `smollm`.
        case smollm
        /// `ByteLevel(use_regex: true)` alone (GPT-2); llama.cpp's `gpt2`.
        case gpt2
    }

    public let bosID: Int?
    public let eosID: Int?
    public let padID: Int?
    public let preTokenizer: PreTokenizer
    /// The ids that are matched whole in the text and never merged (control and added tokens).
    public let specialTokenIDs: [Int]

    /// Token strings as the vocabulary spells them (GPT-2's byte stand-ins: "Ġthe").
    private let tokens: [String]
    /// What each token decodes to.
    private let tokenBytes: [[UInt8]]
    /// Token text (exact UTF-8) → id.
    private let vocabulary: [ByteKey: Int32]
    /// The token of each single byte (-1 when the vocabulary lacks it).
    private let byteTokens: [Int32]
    /// (left << 32 | right) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    /// Special tokens' UTF-8, longest first, with their ids.
    private let specials: [(bytes: [UInt8], id: Int)]
    private let specialFirstBytes: [Bool]
    private let cache = BPECache()

    public var vocabularySize: Int { tokens.count }

    /// Bytes the vocabulary has no token for: encoding drops them (as Hugging Face does), so text
    /// holding them does not come back from `decode` (SmolLM2 lacks 0x04 0x06 0x13 0x14 0x16 0x1D
    /// 0xF1 0xF2, besides the bytes UTF-8 never uses).
    public var missingByteTokens: [UInt8] { (0..<256).filter { byteTokens[$0] < 0 }.map { UInt8($0) } }

    /// The token's string as the vocabulary spells it, or nil past the vocabulary.
    public func token(_ id: Int) -> String? {
        tokens.indices.contains(id) ? tokens[id] : nil
    }

    /// The id of a token spelled as in the vocabulary ("Ġthe", "<|im_end|>").
    public func id(ofToken token: String) -> Int? {
        vocabulary[ByteKey(Array(token.utf8))].map(Int.init)
    }

    /// - Parameters:
    ///   - tokens: every token by id, spelled with GPT-2's byte stand-ins.
    ///   - merges: "left right", highest priority first.
    ///   - specialTokenIDs: tokens matched whole before pre-tokenisation.
    public init(tokens: [String], merges: [String], specialTokenIDs: [Int], bosID: Int?, eosID: Int?, padID: Int?,
                preTokenizer: PreTokenizer = .smollm) throws {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ReptileError(location: "merge \(rank + 1)", "\(quoted(merge)) is not two tokens separated by one space",
                                   fix: "the tokenizer's merges are damaged")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        try self.init(tokens: tokens, mergePairs: pairs, specialTokenIDs: specialTokenIDs, bosID: bosID, eosID: eosID,
                      padID: padID, preTokenizer: preTokenizer)
    }

    /// As `init(tokens:merges:...)`, with each merge already split into its two tokens.
    public init(tokens: [String], mergePairs: [(String, String)], specialTokenIDs: [Int], bosID: Int?, eosID: Int?, padID: Int?,
                preTokenizer: PreTokenizer = .smollm) throws {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw ReptileError("the vocabulary has \(tokens.count) tokens", fix: "the tokenizer is damaged")
        }
        for (name, id) in [("bos", bosID), ("eos", eosID), ("pad", padID)] {
            if let id, !tokens.indices.contains(id) {
                throw ReptileError("the \(name) token id \(id) is outside the \(tokens.count)-token vocabulary", fix: "the tokenizer is damaged")
            }
        }
        for id in specialTokenIDs where !tokens.indices.contains(id) {
            throw ReptileError("special token id \(id) is outside the \(tokens.count)-token vocabulary", fix: "the tokenizer is damaged")
        }
        self.tokens = tokens
        self.bosID = bosID
        self.eosID = eosID
        self.padID = padID
        self.preTokenizer = preTokenizer
        let specialSet = Set(specialTokenIDs)
        self.specialTokenIDs = specialSet.sorted()

        // Token text → id by exact bytes (Swift's String equality is canonical equivalence; the first of duplicates wins).
        var vocabulary: [ByteKey: Int32] = [:]
        vocabulary.reserveCapacity(tokens.count)
        let decoder = ByteMapping.scalarToByte
        var decoded: [[UInt8]] = []
        decoded.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            let key = ByteKey(Array(token.utf8))
            if vocabulary[key] == nil { vocabulary[key] = Int32(id) }
            if specialSet.contains(id) {
                decoded.append(key.bytes)
                continue
            }
            // GPT-2's stand-ins back to bytes; a token with any other character decodes to its own UTF-8 (as Hugging Face does).
            var bytes: [UInt8] = []
            bytes.reserveCapacity(key.bytes.count)
            var mapped = true
            for scalar in token.unicodeScalars {
                if let byte = decoder[scalar.value] { bytes.append(byte) } else { mapped = false; break }
            }
            decoded.append(mapped ? bytes : key.bytes)
        }
        tokenBytes = decoded
        self.vocabulary = vocabulary

        var byteTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let stand = ByteMapping.byteToScalar[byte]
            if let id = vocabulary[ByteKey(Array(String(Character(stand)).utf8))] { byteTokens[byte] = id }
        }
        self.byteTokens = byteTokens

        var mergeTable: [UInt64: UInt64] = [:]
        mergeTable.reserveCapacity(mergePairs.count)
        for (rank, (left, right)) in mergePairs.enumerated() {
            guard let l = vocabulary[ByteKey(Array(left.utf8))], let r = vocabulary[ByteKey(Array(right.utf8))] else {
                throw ReptileError(location: "merge \(rank + 1)", "\(quoted(left + " " + right)) names a token outside the vocabulary",
                                   fix: "the tokenizer's merges are damaged")
            }
            guard let merged = vocabulary[ByteKey(Array((left + right).utf8))] else {
                throw ReptileError(location: "merge \(rank + 1)", "\(quoted(left + " " + right)) makes \(quoted(left + right)), which is not in the vocabulary",
                                   fix: "the tokenizer's merges are damaged")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            // The first (highest-priority) rank of a repeated merge wins.
            if mergeTable[key] == nil { mergeTable[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
        }
        merges = mergeTable

        var specials: [(bytes: [UInt8], id: Int)] = []
        var firstBytes = [Bool](repeating: false, count: 256)
        for id in self.specialTokenIDs where !tokens[id].isEmpty {
            let bytes = Array(tokens[id].utf8)
            specials.append((bytes, id))
            firstBytes[Int(bytes[0])] = true
        }
        // Longest first: the leftmost-longest match wins, as in Hugging Face's added-token splitting.
        self.specials = specials.sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        specialFirstBytes = firstBytes
    }

    // MARK: - Encoding

    /// The ids of `text`, with no special tokens added (special tokens written in the text are kept whole).
    public func encode(_ text: String) -> [Int] {
        var text = text
        return text.withUTF8 { utf8 in
            var ids: [Int] = []
            ids.reserveCapacity(utf8.count / 3 + 4)
            encode(utf8, into: &ids)
            return ids
        }
    }

    /// The pre-tokens of `text` (before BPE), as strings: for tests and inspection.
    public func preTokens(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { utf8 in
            var pieces: [String] = []
            forEachPiece(utf8) { range, special in
                if let special { pieces.append(tokens[special]) } else { pieces.append(String(decoding: UnsafeBufferPointer(rebasing: utf8[range]), as: UTF8.self)) }
            }
            return pieces
        }
    }

    private func encode(_ utf8: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) {
        var work = BPEWork()
        forEachPiece(utf8) { range, special in
            if let special { ids.append(special); return }
            let piece = UnsafeBufferPointer(rebasing: utf8[range])
            if piece.count == 1 {
                let id = byteTokens[Int(piece[0])]
                if id >= 0 { ids.append(Int(id)) }
                return
            }
            let key = ByteKey(Array(piece))
            if let cached = cache.lookup(key) {
                for id in cached { ids.append(Int(id)) }
                return
            }
            let result = bytePairs(piece, &work)
            cache.store(key, result)
            for id in result { ids.append(Int(id)) }
        }
    }

    /// Calls `body` with each special token (its id) and each pre-token (its byte range), in order.
    private func forEachPiece(_ utf8: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>, Int?) -> Void) {
        let count = utf8.count
        guard count > 0 else { return }
        // Scalars: byte offset of each (plus the end), and its class.
        var offsets: [Int] = []
        var classes: [UInt8] = []
        offsets.reserveCapacity(count + 1)
        classes.reserveCapacity(count)
        var segmentStart = 0  // scalar index where the current non-special text began
        var position = 0
        let table = CharacterClass.ascii
        while position < count {
            let lead = utf8[position]
            if !specials.isEmpty, specialFirstBytes[Int(lead)], let match = specialMatch(utf8, at: position) {
                offsets.append(position)
                scan(segmentStart, classes.count, offsets, classes, utf8, body)
                body(position..<(position + match.length), match.id)
                position += match.length
                // That end offset was only for the scan: offsets[i] stays scalar i's start.
                offsets.removeLast()
                segmentStart = classes.count
                continue
            }
            offsets.append(position)
            if lead < 0x80 {
                classes.append(table[Int(lead)])
                position += 1
            } else {
                // A Swift string is valid UTF-8: the lead byte gives the length.
                var value: UInt32
                let length: Int
                if lead < 0xE0 { value = UInt32(lead & 0x1F); length = 2 }
                else if lead < 0xF0 { value = UInt32(lead & 0x0F); length = 3 }
                else { value = UInt32(lead & 0x07); length = 4 }
                for k in 1..<min(length, count - position) { value = value << 6 | UInt32(utf8[position + k] & 0x3F) }
                classes.append(CharacterClass.of(value))
                position += length
            }
        }
        offsets.append(count)
        scan(segmentStart, classes.count, offsets, classes, utf8, body)
    }

    /// Pre-tokens of scalars `start..<end` (no special tokens inside). `offsets[end]` is the byte end.
    private func scan(_ start: Int, _ end: Int, _ offsets: [Int], _ classes: [UInt8], _ utf8: UnsafeBufferPointer<UInt8>,
                      _ body: (Range<Int>, Int?) -> Void) {
        guard start < end else { return }
        func emit(_ i: Int, _ j: Int) { body(offsets[i]..<offsets[j], nil) }
        if preTokenizer == .smollm {
            // Every numeric character is a piece of its own; the regex runs on the text between.
            var runStart = start
            for i in start..<end where classes[i] == CharacterClass.number {
                regex(runStart, i, offsets, classes, utf8, emit)
                emit(i, i + 1)
                runStart = i + 1
            }
            regex(runStart, end, offsets, classes, utf8, emit)
        } else {
            regex(start, end, offsets, classes, utf8, emit)
        }
    }

    /// GPT-2's pattern over scalars `start..<end`:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    private func regex(_ start: Int, _ end: Int, _ offsets: [Int], _ classes: [UInt8], _ utf8: UnsafeBufferPointer<UInt8>,
                       _ emit: (Int, Int) -> Void) {
        let space = CharacterClass.whitespace
        @inline(__always) func byte(_ i: Int) -> UInt8 { utf8[offsets[i]] }
        @inline(__always) func run(_ kind: UInt8, from: Int) -> Int {
            var j = from
            while j < end && classes[j] == kind { j += 1 }
            return j
        }
        var i = start
        while i < end {
            let kind = classes[i]
            var j: Int
            if byte(i) == 0x27, i + 1 < end, let length = contraction(i, end, offsets, classes, utf8) {
                j = i + length
            } else if kind != space {
                j = run(kind, from: i + 1)
            } else if byte(i) == 0x20, i + 1 < end, classes[i + 1] != space {
                // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" with the space.
                j = run(classes[i + 1], from: i + 2)
            } else {
                let k = run(space, from: i + 1)
                // "\s+(?!\S)": all of a final run, else all but the last space; "\s+": a lone one.
                j = k == end || k - i == 1 ? k : k - 1
            }
            emit(i, j)
            i = j
        }
    }

    /// The length in scalars of `'s|'t|'re|'ve|'m|'ll|'d` at `i`, if one starts there.
    private func contraction(_ i: Int, _ end: Int, _ offsets: [Int], _ classes: [UInt8], _ utf8: UnsafeBufferPointer<UInt8>) -> Int? {
        // Scalars after the apostrophe that are ASCII are single bytes, so bytes can be read directly.
        let first = offsets[i] + 1
        guard first < utf8.count else { return nil }
        switch utf8[first] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"), UInt8(ascii: "l"):
            // Scalar i+1 is one ASCII byte, so scalar i+2 starts at the next byte.
            guard i + 2 < end else { return nil }
            switch (utf8[first], utf8[first + 1]) {
            case (UInt8(ascii: "r"), UInt8(ascii: "e")), (UInt8(ascii: "v"), UInt8(ascii: "e")), (UInt8(ascii: "l"), UInt8(ascii: "l")): return 3
            default: return nil
            }
        default: return nil
        }
    }

    /// The longest special token starting at byte `position`.
    private func specialMatch(_ utf8: UnsafeBufferPointer<UInt8>, at position: Int) -> (id: Int, length: Int)? {
        let remaining = utf8.count - position
        for special in specials where special.bytes.count <= remaining && special.bytes[0] == utf8[position] {
            var equal = true
            for k in 1..<special.bytes.count where special.bytes[k] != utf8[position + k] { equal = false; break }
            if equal { return (special.id, special.bytes.count) }
        }
        return nil
    }

    // MARK: - BPE

    /// Reused buffers of one `encode` call.
    struct BPEWork {
        var symbols: [Int32] = []
        var ranks: [UInt64] = []
    }

    @inline(__always)
    private func merge(_ left: Int32, _ right: Int32) -> UInt64? {
        merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }

    /// BPE of one pre-token's bytes.
    private func bytePairs(_ piece: UnsafeBufferPointer<UInt8>, _ work: inout BPEWork) -> [Int32] {
        work.symbols.removeAll(keepingCapacity: true)
        for byte in piece {
            let id = byteTokens[Int(byte)]
            if id >= 0 { work.symbols.append(id) }
        }
        if work.symbols.count < 2 { return work.symbols }
        return work.symbols.count <= 64 ? mergeShort(&work) : mergeLong(&work)
    }

    /// Up to 64 symbols: scan the pair ranks for the lowest, merge it, update its neighbours.
    private func mergeShort(_ work: inout BPEWork) -> [Int32] {
        var symbols = work.symbols
        // ranks[p]: (rank << 32 | merged) of pair (p, p+1), or UInt64.max.
        var ranks = work.ranks
        ranks.removeAll(keepingCapacity: true)
        for p in 0..<(symbols.count - 1) { ranks.append(merge(symbols[p], symbols[p + 1]) ?? .max) }
        while true {
            var best = UInt64.max
            var position = -1
            for p in 0..<ranks.count where ranks[p] >> 32 < best >> 32 {
                best = ranks[p]
                position = p
            }
            if position < 0 { break }
            symbols[position] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: position + 1)
            ranks.remove(at: position)
            if position > 0 { ranks[position - 1] = merge(symbols[position - 1], symbols[position]) ?? .max }
            if position < ranks.count { ranks[position] = merge(symbols[position], symbols[position + 1]) ?? .max }
        }
        work.ranks = ranks
        return symbols
    }

    /// Long pre-tokens: a heap of (rank, position) over a linked list, as Hugging Face's `Word::merge_all`.
    private func mergeLong(_ work: inout BPEWork) -> [Int32] {
        var symbols = work.symbols
        let n = symbols.count
        var next = [Int32](0..<Int32(n)).map { $0 + 1 }
        next[n - 1] = -1
        var previous = [Int32](0..<Int32(n)).map { $0 - 1 }
        var alive = [Bool](repeating: true, count: n)
        // Entries: rank (32 bits) << 32 | position; the smallest first.
        var heap = Heap()
        for p in 0..<(n - 1) {
            if let m = merge(symbols[p], symbols[p + 1]) { heap.push((m & 0xFFFF_FFFF_0000_0000) | UInt64(p)) }
        }
        while let top = heap.pop() {
            let rank = top >> 32
            let p = Int(top & 0xFFFF_FFFF)
            guard alive[p], next[p] >= 0 else { continue }
            let q = Int(next[p])
            // The pair may have changed since the entry was pushed.
            guard let m = merge(symbols[p], symbols[q]), m >> 32 == rank else { continue }
            symbols[p] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[q] = false
            next[p] = next[q]
            if next[q] >= 0 { previous[Int(next[q])] = Int32(p) }
            if previous[p] >= 0, let left = merge(symbols[Int(previous[p])], symbols[p]) {
                heap.push((left & 0xFFFF_FFFF_0000_0000) | UInt64(previous[p]))
            }
            if next[p] >= 0, let right = merge(symbols[p], symbols[Int(next[p])]) {
                heap.push((right & 0xFFFF_FFFF_0000_0000) | UInt64(p))
            }
        }
        var result: [Int32] = []
        var p = 0
        while p >= 0 {
            result.append(symbols[p])
            p = Int(next[p])
        }
        return result
    }

    // MARK: - Decoding

    /// Text of `ids`: special tokens as their text; bytes that are not valid UTF-8 become U+FFFD.
    /// Ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where tokenBytes.indices.contains(id) { bytes.append(contentsOf: tokenBytes[id]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes `ids` decode to (a prefix of a generation may end inside a character).
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where tokenBytes.indices.contains(id) { bytes.append(contentsOf: tokenBytes[id]) }
        return bytes
    }
}

/// GPT-2's bijection between bytes and printable characters: printable Latin-1 stands for itself,
/// the other 68 bytes take U+0100 onwards in order ("Ġ" is the space, "Ċ" the newline).
enum ByteMapping {
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var scalars = printable.map { UInt32($0) }
        var extra: UInt32 = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            scalars.append(256 + extra)
            extra += 1
        }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for (byte, scalar) in zip(printable, scalars) { table[byte] = Unicode.Scalar(scalar)! }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var table: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { table[scalar.value] = UInt8(byte) }
        return table
    }()
}

/// The classes GPT-2's pattern distinguishes: `\p{L}`, `\p{N}`, `\s` (Unicode White_Space) and the rest.
enum CharacterClass {
    static let other: UInt8 = 0, letter: UInt8 = 1, number: UInt8 = 2, whitespace: UInt8 = 3

    static let ascii: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    @inline(__always)
    static func of(_ value: UInt32) -> UInt8 {
        value < 128 ? ascii[Int(value)] : classify(value)
    }

    static func classify(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return other }
        let properties = scalar.properties
        if properties.isWhitespace { return whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        default: return other
        }
    }
}

/// Bytes as a dictionary key, hashed in one pass.
struct ByteKey: Hashable, Sendable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
    static func == (a: ByteKey, b: ByteKey) -> Bool { a.bytes == b.bytes }
}

/// Pre-token bytes → their BPE ids, shared by copies of a tokenizer; emptied when it grows large.
final class BPECache: @unchecked Sendable {
    private var entries: [ByteKey: [Int32]] = [:]
    private let lock = NSLock()
    static let capacity = 200_000

    func lookup(_ key: ByteKey) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    func store(_ key: ByteKey, _ value: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = value
    }
}

/// A binary min-heap of UInt64.
struct Heap {
    private var items: [UInt64] = []

    mutating func push(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}

// MARK: - Hugging Face tokenizer.json

extension ByteLevelBPETokenizer {
    /// A Hugging Face `tokenizer.json` whose model is BPE over GPT-2's byte-level alphabet
    /// (pre-tokenizer `ByteLevel`, alone or after `Digits(individual_digits: true)`), with
    /// `tokenizer_config.json` beside it (when present) naming the bos, eos and pad tokens.
    /// Anything else is refused with one line naming the file and what it holds.
    public init(huggingFaceTokenizerJSON url: URL) throws {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReptileError(path: path, "cannot read the tokenizer", fix: "check that the model folder holds tokenizer.json")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ReptileError(path: path, "is not a JSON object", fix: "download the tokenizer again")
        }
        guard let model = root["model"] as? [String: Any] else {
            throw ReptileError(path: path, "has no \"model\" object", fix: "give a Hugging Face tokenizer.json")
        }
        let modelType = model["type"] as? String ?? "(none)"
        guard modelType == "BPE" else {
            throw ReptileError(path: path, "holds a \(modelType) tokenizer, not byte-level BPE",
                               fix: "give the tokenizer.json of a GPT-2-style (byte-level BPE) language model such as SmolLM2")
        }
        func refuse(_ what: String) -> ReptileError {
            ReptileError(path: path, "\(what), which Reptile's byte-level BPE does not reproduce",
                         fix: "give the tokenizer.json of a GPT-2-style (byte-level BPE) language model such as SmolLM2")
        }
        if let fallback = model["byte_fallback"] as? Bool, fallback { throw refuse("uses byte_fallback (a SentencePiece-style BPE)") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key] as? String, !affix.isEmpty { throw refuse("sets \(key) \(quoted(affix))") }
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 { throw refuse("sets BPE dropout") }
        if let normalizer = root["normalizer"] as? [String: Any] {
            throw refuse("has a \(normalizer["type"] as? String ?? "") normalizer")
        }
        let preTokenizer = try Self.preTokenizer(root["pre_tokenizer"], refuse: refuse)

        guard let vocabulary = model["vocab"] as? [String: Any] else {
            throw ReptileError(path: path, "has no BPE vocabulary (model.vocab)", fix: "download the tokenizer again")
        }
        var byID: [Int: String] = [:]
        byID.reserveCapacity(vocabulary.count)
        for (token, value) in vocabulary {
            guard let id = (value as? NSNumber)?.intValue, id >= 0 else {
                throw ReptileError(path: path, location: "token \(quoted(token))", "has id \(value), not a non-negative integer", fix: "download the tokenizer again")
            }
            byID[id] = token
        }
        var specialIDs: [Int] = []
        for case let added as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let id = (added["id"] as? NSNumber)?.intValue, id >= 0, let content = added["content"] as? String else {
                throw ReptileError(path: path, "has an added token without an id and content", fix: "download the tokenizer again")
            }
            // Every added token is matched whole in the text, special or not, as Hugging Face does.
            byID[id] = content
            specialIDs.append(id)
        }
        let size = (byID.keys.max() ?? -1) + 1
        guard size == byID.count else {
            throw ReptileError(path: path, "numbers its \(byID.count) tokens up to \(size - 1), leaving gaps", fix: "download the tokenizer again")
        }
        let tokens = (0..<size).map { byID[$0]! }
        var pairs: [(String, String)] = []
        let merges = model["merges"] as? [Any] ?? []
        pairs.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            if let text = merge as? String {
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty { pairs.append((String(parts[0]), String(parts[1]))); continue }
            } else if let both = merge as? [String], both.count == 2 {
                pairs.append((both[0], both[1]))
                continue
            }
            throw ReptileError(path: path, location: "merge \(rank + 1)", "is not a pair of tokens", fix: "download the tokenizer again")
        }

        // bos/eos/pad: tokenizer_config.json beside the file names them.
        let folder = url.deletingLastPathComponent()
        var named: [String: Int] = [:]
        if let configData = FileManager.default.contents(atPath: folder.appendingPathComponent("tokenizer_config.json").path),
           let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] {
            let index = Dictionary(tokens.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
            for key in ["bos_token", "eos_token", "pad_token"] {
                let content = config[key] as? String ?? (config[key] as? [String: Any])?["content"] as? String
                if let content, let id = index[content] { named[key] = id }
            }
        }
        do {
            try self.init(tokens: tokens, mergePairs: pairs, specialTokenIDs: specialIDs, bosID: named["bos_token"],
                          eosID: named["eos_token"], padID: named["pad_token"], preTokenizer: preTokenizer)
        } catch var error as ReptileError {
            error.path = path
            throw error
        }
    }

    /// `ByteLevel(add_prefix_space: false, use_regex: true)`, alone (GPT-2) or after individual digits (SmolLM2).
    static func preTokenizer(_ value: Any?, refuse: (String) -> ReptileError) throws -> PreTokenizer {
        guard let object = value as? [String: Any], let type = object["type"] as? String else {
            throw refuse("has no pre-tokenizer (GPT-2's byte-level one is needed)")
        }
        func byteLevel(_ object: [String: Any]) throws {
            guard object["type"] as? String == "ByteLevel" else {
                throw refuse("has a \(object["type"] as? String ?? "?") pre-tokenizer")
            }
            if object["add_prefix_space"] as? Bool == true { throw refuse("has a ByteLevel pre-tokenizer with add_prefix_space") }
            if object["use_regex"] as? Bool == false { throw refuse("has a ByteLevel pre-tokenizer without its regex") }
        }
        if type == "Sequence" {
            let steps = object["pretokenizers"] as? [[String: Any]] ?? []
            if steps.count == 1 { try byteLevel(steps[0]); return .gpt2 }
            guard steps.count == 2, steps[0]["type"] as? String == "Digits", steps[0]["individual_digits"] as? Bool == true else {
                throw refuse("has a pre-tokenizer sequence of \(steps.map { $0["type"] as? String ?? "?" }.joined(separator: ", "))")
            }
            try byteLevel(steps[1])
            return .smollm
        }
        try byteLevel(object)
        return .gpt2
    }
}
