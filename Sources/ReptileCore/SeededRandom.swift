/// The only source of randomness in Reptile: explicit, seeded, and the same on every machine.
///
/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64. Streams for independent purposes
/// (one per class, one per shard) come from `derived(_:)`, so adding a draw in one place does not
/// shift the numbers everywhere else.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var mixer = SplitMix64(state: seed)
        state = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
    }

    /// The generator's four state words, to save with a checkpoint and resume the stream exactly.
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    /// Resumes a stream from `stateWords`; nil unless there are four words, not all zero
    /// (the one state xoshiro256** never leaves).
    public init?(stateWords words: [UInt64]) {
        guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
        state = (words[0], words[1], words[2], words[3])
    }

    /// An independent stream for a named purpose, e.g. `derived("split/test/class 3")`.
    public func derived(_ purpose: String) -> SeededRandom {
        var mixer = SplitMix64(state: state.0 ^ Self.fnv1a(purpose))
        return SeededRandom(seed: mixer.next() ^ state.2)
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// Uniform in 0..<bound without modulo bias (Lemire's method), identical on every platform,
    /// unlike the standard library's `Int.random(in:using:)` whose algorithm may change.
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "nextIndex(below:) needs a positive bound, got \(bound)")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Fisher–Yates, with this generator's own index draws (reproducible across Swift versions).
    public mutating func shuffle<T>(_ elements: inout [T]) {
        guard elements.count > 1 else { return }
        for index in stride(from: elements.count - 1, to: 0, by: -1) {
            let other = nextIndex(below: index + 1)
            if other != index { elements.swapAt(index, other) }
        }
    }

    private func rotateLeft(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }

    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

private struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
