import Foundation
import ReptileText

/// Texts as the text metrics see them: lower-cased words and punctuation marks as tokens of their
/// own (`WordTokenizer`, the native text classifier's tokenisation: "Don't stop!" → don't, stop, !),
/// each token replaced by a small integer so that n-grams are cheap to hash.
public final class MetricTokenizer {
    private var identifiers: [String: Int32] = [:]

    public init() {}

    public func tokens(_ text: String) -> [Int32] {
        WordTokenizer.words(text).map { word in
            if let known = identifiers[word] { return known }
            let identifier = Int32(identifiers.count)
            identifiers[word] = identifier
            return identifier
        }
    }
}

/// An n-gram of up to four token identifiers (unused places are −1).
public struct NGram: Hashable, Sendable {
    var first: Int32, second: Int32, third: Int32, fourth: Int32

    init(_ tokens: ArraySlice<Int32>) {
        precondition((1...4).contains(tokens.count), "n-grams of 1 to 4 tokens")
        let start = tokens.startIndex, count = tokens.count
        first = tokens[start]
        second = count > 1 ? tokens[start + 1] : -1
        third = count > 2 ? tokens[start + 2] : -1
        fourth = count > 3 ? tokens[start + 3] : -1
    }

    /// Every n-gram of `tokens` with its count.
    static func counts(_ tokens: [Int32], order: Int) -> [NGram: Int] {
        guard tokens.count >= order else { return [:] }
        var counts: [NGram: Int] = [:]
        for start in 0...(tokens.count - order) { counts[NGram(tokens[start..<(start + order)]), default: 0] += 1 }
        return counts
    }
}

/// Sentence BLEU exactly as nltk 3.x computes it for Texygen and the SeqGAN/LeakGAN papers:
/// `sentence_bleu(references, hypothesis, weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)`.
/// Modified n-gram precision clips each hypothesis n-gram count by its largest count in any single
/// reference (precomputed once for all references, so a hypothesis costs time in its own length);
/// a precision with no match becomes 0.1 / (number of hypothesis n-grams, at least 1); no unigram
/// match gives 0; the brevity penalty uses the reference length closest to the hypothesis length
/// (ties to the shorter).
public struct BLEUReferences {
    public static let maximumOrder = 4
    public static let epsilon = 0.1

    /// For an n-gram: its largest count in one reference, how many references have that count,
    /// and the largest count among the others (so a reference can be left out: Self-BLEU).
    struct TopCounts {
        var maximum = 0
        var holders = 0
        var secondMaximum = 0

        mutating func add(_ count: Int) {
            if count > maximum {
                secondMaximum = maximum
                maximum = count
                holders = 1
            } else if count == maximum {
                holders += 1
            } else if count > secondMaximum {
                secondMaximum = count
            }
        }

        func maximum(excluding ownCount: Int) -> Int {
            ownCount == maximum && holders == 1 ? secondMaximum : maximum
        }
    }

    private var topCounts: [[NGram: TopCounts]] = Array(repeating: [:], count: maximumOrder)
    /// Reference length → number of references of that length; and the lengths in order.
    private var lengthCounts: [Int: Int] = [:]
    private let sortedLengths: [Int]
    public let referenceCount: Int

    public init(_ references: [[Int32]]) {
        referenceCount = references.count
        for reference in references {
            lengthCounts[reference.count, default: 0] += 1
            for order in 1...Self.maximumOrder {
                for (ngram, count) in NGram.counts(reference, order: order) { topCounts[order - 1][ngram, default: TopCounts()].add(count) }
            }
        }
        sortedLengths = lengthCounts.keys.sorted()
    }

    /// BLEU-1 … BLEU-`maximumOrder` of one hypothesis (index n−1 holds BLEU-n). With
    /// `excludingItself`, the hypothesis is one of the references and is left out of them
    /// (Self-BLEU: the other texts are the references). Nil when no reference remains.
    public func scores(_ hypothesis: [Int32], excludingItself: Bool = false) -> [Double]? {
        guard referenceCount - (excludingItself ? 1 : 0) > 0 else { return nil }
        var numerators: [Int] = [], denominators: [Int] = []
        for order in 1...Self.maximumOrder {
            let counts = NGram.counts(hypothesis, order: order)
            var matched = 0, total = 0
            for (ngram, count) in counts {
                total += count
                guard let top = topCounts[order - 1][ngram] else { continue }
                matched += min(count, excludingItself ? top.maximum(excluding: count) : top.maximum)
            }
            numerators.append(matched)
            denominators.append(max(1, total))
        }
        guard numerators[0] > 0 else { return Array(repeating: 0, count: Self.maximumOrder) }
        let hypothesisLength = hypothesis.count
        let referenceLength = closestReferenceLength(to: hypothesisLength, excluding: excludingItself ? hypothesisLength : nil)
        let brevityPenalty = hypothesisLength > referenceLength ? 1 : exp(1 - Double(referenceLength) / Double(hypothesisLength))
        let logPrecisions = zip(numerators, denominators).map { numerator, denominator in
            log(numerator == 0 ? Self.epsilon / Double(denominator) : Double(numerator) / Double(denominator))
        }
        return (1...Self.maximumOrder).map { order in
            let weight = 1 / Double(order)
            return brevityPenalty * exp(logPrecisions[0..<order].reduce(0) { $0 + weight * $1 })
        }
    }

    /// The reference length closest to `length`, ties to the shorter; `excluding` leaves out one
    /// reference of that length.
    func closestReferenceLength(to length: Int, excluding excludedLength: Int?) -> Int {
        func available(_ candidate: Int) -> Bool {
            lengthCounts[candidate, default: 0] - (candidate == excludedLength ? 1 : 0) > 0
        }
        // The first length ≥ `length`, then walk outward to the nearest available on each side.
        var low = 0, high = sortedLengths.count
        while low < high {
            let middle = (low + high) / 2
            if sortedLengths[middle] < length { low = middle + 1 } else { high = middle }
        }
        var above = low
        while above < sortedLengths.count && !available(sortedLengths[above]) { above += 1 }
        var below = low - 1
        while below >= 0 && !available(sortedLengths[below]) { below -= 1 }
        switch (below >= 0 ? sortedLengths[below] : nil, above < sortedLengths.count ? sortedLengths[above] : nil) {
        case let (shorter?, longer?): return longer - length < length - shorter ? longer : shorter
        case let (shorter?, nil): return shorter
        case let (nil, longer?): return longer
        case (nil, nil): preconditionFailure("no reference lengths")
        }
    }
}

/// Mean BLEU-2/3/4 of `hypotheses` against all of `references` (Texygen's BLEU).
public func meanBLEU(hypotheses: [[Int32]], references: [[Int32]]) -> [Int: Double]? {
    guard !hypotheses.isEmpty, !references.isEmpty else { return nil }
    let table = BLEUReferences(references)
    return averaged(hypotheses.map { table.scores($0)! })
}

/// Mean Self-BLEU-2/3/4: each text against all the other texts as references (Texygen's
/// `SelfBleu`, whose parallel version leaves the hypothesis itself out). Nil below two texts.
public func meanSelfBLEU(_ texts: [[Int32]]) -> [Int: Double]? {
    guard texts.count >= 2 else { return nil }
    let table = BLEUReferences(texts)
    return averaged(texts.map { table.scores($0, excludingItself: true)! })
}

private func averaged(_ scores: [[Double]]) -> [Int: Double] {
    var means: [Int: Double] = [:]
    for order in 2...BLEUReferences.maximumOrder {
        means[order] = scores.reduce(0) { $0 + $1[order - 1] } / Double(scores.count)
    }
    return means
}

/// distinct-n (Li et al. 2016): distinct n-grams over all n-grams of the texts; nil without any.
public func distinctNGramShare(_ texts: [[Int32]], order: Int) -> Double? {
    var distinct = Set<NGram>(), total = 0
    for text in texts where text.count >= order {
        for start in 0...(text.count - order) {
            distinct.insert(NGram(text[start..<(start + order)]))
            total += 1
        }
    }
    return total == 0 ? nil : Double(distinct.count) / Double(total)
}

/// The distinct n-grams of some texts.
public func ngramSet(_ texts: [[Int32]], order: Int) -> Set<NGram> {
    var set = Set<NGram>()
    for text in texts where text.count >= order {
        for start in 0...(text.count - order) { set.insert(NGram(text[start..<(start + order)])) }
    }
    return set
}

/// Share of the distinct n-grams of `texts` that never occur in `seen`; nil when the texts have none.
public func novelNGramShare(_ texts: [[Int32]], seen: Set<NGram>, order: Int) -> Double? {
    let generated = ngramSet(texts, order: order)
    guard !generated.isEmpty else { return nil }
    return Double(generated.filter { !seen.contains($0) }.count) / Double(generated.count)
}
