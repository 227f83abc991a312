import Foundation
import Testing
@testable import ReptileCore
@testable import ReptileIngest

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex(of: "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Fed in uneven pieces, the result must not change.
        var hasher = SHA256()
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var offset = 0
        var piece = 1
        while offset < million.count {
            let end = min(million.count, offset + piece)
            hasher.update(million[offset..<end])
            offset = end
            piece = piece * 3 + 1
        }
        #expect(hasher.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sharedFilesMatchTheirSourceNotes() throws {
        #expect(try SHA256.hex(ofFileAt: Support.sharedDataset("mnist/t10k-labels-idx1-ubyte.gz"))
            == "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c")
        #expect(try SHA256.hex(ofFileAt: Support.sharedDataset("trec/TREC_10.label"))
            == "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e")
    }
}

@Suite struct SeededRandomTests {
    @Test func sameSeedSameStreamAndDerivedStreamsDiffer() {
        var first = SeededRandom(seed: 42), second = SeededRandom(seed: 42)
        let a = (0..<100).map { _ in first.next() }
        let b = (0..<100).map { _ in second.next() }
        #expect(a == b)
        var other = SeededRandom(seed: 43)
        #expect((0..<100).map { _ in other.next() } != a)
        var derivedA = SeededRandom(seed: 42).derived("class 0")
        var derivedB = SeededRandom(seed: 42).derived("class 1")
        #expect(derivedA.next() != derivedB.next())
    }

    @Test func boundedDrawsAreUniformAndInRange() {
        var random = SeededRandom(seed: 7)
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 {
            let value = random.nextIndex(below: 10)
            counts[value] += 1
        }
        // Each bucket expects 10,000; 5 standard deviations is about ±475.
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
        var shuffled = Array(0..<1000)
        random.shuffle(&shuffled)
        #expect(shuffled.sorted() == Array(0..<1000))
        #expect(shuffled != Array(0..<1000))
    }

    @Test func errorsPrintOneLine() {
        let error = ReptileError(path: "a.csv", location: "line 3", "bad\nvalue \(quoted("x\ny"))", fix: "fix it")
        #expect(error.description == "a.csv: line 3: bad value \"x\\ny\"; fix it")
    }
}

@Suite struct SplittingTests {
    @Test func allocationIsStratifiedAndSumsToTheRoundedTotal() {
        #expect(allocate(fraction: 0.2, of: [9, 138, 94, 65, 81, 113], limits: [8, 137, 93, 64, 80, 112]).reduce(0, +) == 100)
        #expect(allocate(fraction: 0.5, of: [1, 1, 1], limits: [0, 0, 0]) == [0, 0, 0])
        #expect(allocate(fraction: 0, of: [10, 10], limits: [9, 9]) == [0, 0])
        let counts = allocate(fraction: 0.3, of: [7, 3, 10], limits: [6, 2, 9])
        #expect(counts.reduce(0, +) == 6)
        #expect(zip(counts, [7.0, 3, 10]).allSatisfy { abs(Double($0) - $1 * 0.3) < 1 })
    }

    @Test func classNamesSortNumericallyWhenAllAreIntegers() {
        #expect(orderedClassNames(["10", "2", "1", "2"]) == ["1", "2", "10"])
        #expect(orderedClassNames(["spam", "ham", "Zebra"]) == ["Zebra", "ham", "spam"])
    }
}
