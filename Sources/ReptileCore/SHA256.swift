import Foundation

/// SHA-256 (FIPS 180-4), streaming. Used for shard checksums, source fingerprints and config hashes.
public struct SHA256: Sendable {
    private var hashState: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var pending: [UInt8] = []
    private var totalLength: UInt64 = 0

    public init() {}

    public mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        totalLength &+= UInt64(bytes.count)
        // Contiguous input (Data, arrays: every large caller) is compressed in place, 64 bytes at a
        // time, without first copying it into `pending`.
        let handled: Bool? = bytes.withContiguousStorageIfAvailable { buffer in
            var offset = 0
            if !pending.isEmpty {
                let fill = min(64 - pending.count, buffer.count)
                pending.append(contentsOf: buffer[0..<fill])
                offset = fill
                guard pending.count == 64 else { return true }
                pending.withUnsafeBufferPointer { compress($0) }
                pending.removeAll(keepingCapacity: true)
            }
            while buffer.count - offset >= 64 {
                compress(UnsafeBufferPointer(rebasing: buffer[offset..<(offset + 64)]))
                offset += 64
            }
            pending.append(contentsOf: buffer[offset...])
            return true
        }
        if handled != nil { return }
        pending.append(contentsOf: bytes)
        let blockCount = pending.count / 64
        guard blockCount > 0 else { return }
        pending.withUnsafeBufferPointer { buffer in
            for block in 0..<blockCount {
                compress(UnsafeBufferPointer(rebasing: buffer[(block * 64)..<(block * 64 + 64)]))
            }
        }
        pending.removeFirst(blockCount * 64)
    }

    public mutating func update(_ text: String) {
        update(Array(text.utf8))
    }

    public consuming func finalize() -> [UInt8] {
        let bitLength = totalLength &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        tail.withUnsafeBufferPointer { buffer in
            for block in 0..<(tail.count / 64) {
                compress(UnsafeBufferPointer(rebasing: buffer[(block * 64)..<(block * 64 + 64)]))
            }
        }
        return hashState.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * $0)) } }
    }

    public consuming func finalizeHex() -> String {
        finalize().map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }

    public static func hex<Bytes: Collection>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    public static func hex(of text: String) -> String {
        hex(of: Array(text.utf8))
    }

    /// Hashes a file in 1 MiB pieces, so memory stays bounded whatever its size.
    public static func hex(ofFileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReptileError(path: path, "cannot open the file to hash it", fix: "check that it exists and is readable")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let piece = try handle.read(upToCount: 1 << 20) ?? Data()
            if piece.isEmpty { break }
            hasher.update(piece)
        }
        return hasher.finalizeHex()
    }

    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// One 64-byte block. Pointers and a stack-allocated schedule rather than arrays: hashing a
    /// 16 MB checkpoint took ~10 s in a debug build with a fresh array per block, which every test
    /// that hashes a file paid.
    private mutating func compress(_ block: UnsafeBufferPointer<UInt8>) {
        let bytes = block.baseAddress!
        let newState: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            let w = schedule.baseAddress!
            for index in 0..<16 {
                w[index] = UInt32(bytes[index * 4]) << 24 | UInt32(bytes[index * 4 + 1]) << 16
                    | UInt32(bytes[index * 4 + 2]) << 8 | UInt32(bytes[index * 4 + 3])
            }
            for index in 16..<64 {
                let x = w[index - 15], y = w[index - 2]
                let s0 = (x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ (x >> 3)
                let s1 = (y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ (y >> 10)
                w[index] = w[index - 16] &+ s0 &+ w[index - 7] &+ s1
            }
            return Self.roundConstants.withUnsafeBufferPointer { constants in
                let k = constants.baseAddress!
                var a = hashState[0], b = hashState[1], c = hashState[2], d = hashState[3]
                var e = hashState[4], f = hashState[5], g = hashState[6], h = hashState[7]
                for index in 0..<64 {
                    let s1 = (e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)
                    let choice = (e & f) ^ (~e & g)
                    let temp1 = h &+ s1 &+ choice &+ k[index] &+ w[index]
                    let s0 = (a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let temp2 = s0 &+ majority
                    h = g; g = f; f = e; e = d &+ temp1
                    d = c; c = b; b = a; a = temp1 &+ temp2
                }
                return (a, b, c, d, e, f, g, h)
            }
        }
        hashState[0] &+= newState.0; hashState[1] &+= newState.1; hashState[2] &+= newState.2; hashState[3] &+= newState.3
        hashState[4] &+= newState.4; hashState[5] &+= newState.5; hashState[6] &+= newState.6; hashState[7] &+= newState.7
    }
}
