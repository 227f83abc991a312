import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// The GGUF reader: a small file written by the `gguf` Python package (every metadata value type,
/// every tensor type Reptile dequantises) against that package's own dequantisation, the real
/// SmolLM2 file, and damaged files. Fixtures: scripts/reference/gguf_golden.py → Tests/Golden/.
@Suite struct GGUFTests {
    static let golden = Support.packageRoot.appendingPathComponent("Tests/Golden")
    static let fixture = golden.appendingPathComponent("gguf-types.gguf")
    static let smolLM = Support.shared.appendingPathComponent("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")

    struct Expected: Decodable {
        struct Tensor: Decodable { var type: String; var shape: [Int]; var bits: [UInt32] }
        var tensor_order: [String]
        var tensors: [String: Tensor]
        var data_offset: Int
        var version: Int
    }

    @Test func dequantisesEveryTypeBitForBitAsTheGGUFPackageDoes() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.golden.appendingPathComponent("gguf-types.json")))
        let file = try GGUFFile(contentsOf: Self.fixture)
        #expect(file.version == expected.version)
        #expect(file.dataOffset == expected.data_offset)
        #expect(file.alignment == 32)
        #expect(file.tensors.map(\.name) == expected.tensor_order)
        var seenTypes = Set<String>()
        for info in file.tensors {
            let want = try #require(expected.tensors[info.name])
            #expect(info.typeName == want.type, "\(info.name)")
            #expect(info.shape == want.shape, "\(info.name)")
            #expect(info.elementCount == want.bits.count, "\(info.name)")
            let values = try file.float32(info.name)
            let mismatches = zip(values, want.bits).filter { $0.0.bitPattern != $0.1 }.count
            #expect(values.count == want.bits.count && mismatches == 0, "\(info.name): \(mismatches) values differ")
            seenTypes.insert(info.typeName)
        }
        #expect(seenTypes == ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"])
        // dequantize(into:) checks the destination's size.
        var small = [Float](repeating: 0, count: 3)
        #expect(throws: ReptileError.self) {
            try small.withUnsafeMutableBufferPointer { try file.dequantize("f32", into: $0) }
        }
        #expect(throws: ReptileError.self) { try file.float32("no.such.tensor") }
        #expect(file.tensor(named: "no.such.tensor") == nil)
    }

    @Test func readsEveryMetadataValueType() throws {
        let file = try GGUFFile(contentsOf: Self.fixture)
        let m = file.metadata
        #expect(m["general.architecture"]?.stringValue == "reptiletest")
        #expect(m["test.uint8"] == .uint8(200))
        #expect(m["test.int8"] == .int8(-100))
        #expect(m["test.uint16"] == .uint16(60000))
        #expect(m["test.int16"] == .int16(-30000))
        #expect(m["test.uint32"] == .uint32(4_000_000_000))
        #expect(m["test.int32"] == .int32(-2_000_000_000))
        #expect(m["test.uint64"] == .uint64(1 << 63 + 5))
        #expect(m["test.uint64"]?.intValue == nil, "does not fit an Int")
        #expect(m["test.int64"] == .int64(-(1 << 62)))
        #expect(m["test.float32"] == .float32(0.1))
        #expect(m["test.float64"] == .float64(0.1))
        #expect(m["test.float32"]?.doubleValue == Double(Float(0.1)))
        #expect(m["test.int16"]?.doubleValue == -30000)
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"]?.stringValue == "héllo ✓ 🙂")
        #expect(m["test.strings"]?.stringArray == ["a", "", "Ġthe", "<|im_end|>", "数据"])
        #expect(m["test.ints"]?.intArray == [1, -2, 3])
        #expect(m["test.ints"]?.stringArray == nil)
        #expect(m["test.nested"] == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        #expect(m["test.uint8"]?.intValue == 200 && m["test.string"]?.intValue == nil)
    }

    struct SmolLMFacts: Decodable {
        struct Tensor: Decodable {
            var type: String; var shape: [Int]; var first: [Float]; var last: [Float]; var sum: Double
            /// blk.0.attn_q/attn_k: row sums after transformers undoes llama.cpp's query/key row
            /// permutation (for the Llama loader's check).
            var hf_row_sums: [Double]?
        }
        var tensor_count: Int
        var tensors: [String: Tensor]
        var first_tensors: [String]
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: smolLM.path), "needs ../shared/models/SmolLM2-135M-Instruct"))
    func readsTheRealSmolLM2FileAsTheGGUFPackageDoes() throws {
        let facts = try JSONDecoder().decode(SmolLMFacts.self, from: Data(contentsOf: Self.golden.appendingPathComponent("smollm2-gguf.json")))
        let opening = Date()
        let file = try GGUFFile(contentsOf: Self.smolLM)
        print("GGUF: opened \(Self.smolLM.lastPathComponent) (header, metadata, \(file.tensors.count) tensor infos) in \(String(format: "%.3f", Date().timeIntervalSince(opening))) s")
        #expect(file.version == 3)
        #expect(file.metadata["general.architecture"]?.stringValue == "llama")
        #expect(file.metadata["llama.block_count"]?.intValue == 30)
        #expect(file.metadata["llama.embedding_length"]?.intValue == 576)
        #expect(file.metadata["llama.rope.freq_base"]?.doubleValue == 100_000)
        #expect(file.metadata["tokenizer.ggml.model"]?.stringValue == "gpt2")
        #expect(file.metadata["tokenizer.ggml.tokens"]?.stringArray?.count == 49152)
        #expect(file.metadata["tokenizer.ggml.merges"]?.stringArray?.count == 48900)
        #expect(file.metadata["tokenizer.ggml.token_type"]?.intArray?.count == 49152)
        #expect(file.tensors.count == facts.tensor_count)
        #expect(Array(file.tensors.prefix(3).map(\.name)) == facts.first_tensors)
        for (name, want) in facts.tensors {
            let info = try #require(file.tensor(named: name))
            #expect(info.typeName == want.type && info.shape == want.shape, "\(name)")
            let values = try file.float32(name)
            #expect(Array(values.prefix(16)) == want.first, "\(name)")
            #expect(Array(values.suffix(16)) == want.last, "\(name)")
            #expect(abs(values.reduce(0.0) { $0 + Double($1) } - want.sum) < 1e-6 * max(1, abs(want.sum)), "\(name)")
        }
        // Every tensor dequantises (the model's ~135M weights), into one reused buffer.
        let largest = file.tensors.map(\.elementCount).max() ?? 0
        var buffer = [Float](repeating: 0, count: largest)
        let start = Date()
        var total = 0
        for info in file.tensors {
            try buffer.withUnsafeMutableBufferPointer { all in
                try file.dequantize(info.name, into: UnsafeMutableBufferPointer(rebasing: all[0..<info.elementCount]))
            }
            total += info.elementCount
        }
        print("GGUF: dequantised \(total) values of \(file.tensors.count) tensors in \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        #expect(total > 130_000_000)
    }

    // MARK: - Damaged files

    /// A minimal GGUF v3 writer for damaged files: one string key, tensors given as raw fields.
    struct Writer {
        var bytes: [UInt8] = []
        mutating func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
        mutating func u64(_ v: UInt64) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
        mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }

        struct Tensor { var name = "w"; var ne: [UInt64] = [32]; var type: UInt32 = 0; var offset: UInt64 = 0 }

        static func file(version: UInt32 = 3, tensors: [Tensor] = [Tensor()], tensorCount: UInt64? = nil,
                         keyLength: UInt64? = nil, dataBytes: Int = 128, strings: [(String, String)] = []) -> [UInt8] {
            var w = Writer()
            w.bytes += Array("GGUF".utf8)
            w.u32(version)
            w.u64(tensorCount ?? UInt64(tensors.count))
            w.u64(1 + UInt64(strings.count))
            if let keyLength { w.u64(keyLength); w.bytes += Array("general.architecture".utf8) } else { w.string("general.architecture") }
            w.u32(8)
            w.string("llama")
            for (key, value) in strings {
                w.string(key)
                w.u32(8)
                w.string(value)
            }
            for t in tensors {
                w.string(t.name)
                w.u32(UInt32(t.ne.count))
                for n in t.ne { w.u64(n) }
                w.u32(t.type)
                w.u64(t.offset)
            }
            while w.bytes.count % 32 != 0 { w.bytes.append(0) }
            w.bytes += [UInt8](repeating: 0, count: dataBytes)
            return w.bytes
        }
    }

    @Test func damagedFilesAreRefusedWithOneLineNamingTheFile() throws {
        let folder = try Support.makeTemporaryFolder("gguf-bad")
        defer { Support.remove(folder) }
        func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
            let url = folder.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url
        }
        // The well-formed file opens (so each case below fails for its own reason).
        let good = try GGUFFile(contentsOf: write("good.gguf", Writer.file()))
        #expect(good.tensors.first?.shape == [32] && good.metadata["general.architecture"]?.stringValue == "llama")
        let real = try Data(contentsOf: Self.fixture)
        let cases: [(URL, [String])] = [
            (try write("empty.gguf", []), ["too short"]),
            (try write("magic.gguf", Array("GGML".utf8) + [UInt8](repeating: 0, count: 60)), ["not a GGUF file"]),
            (try write("version.gguf", Writer.file(version: 7)), ["version 7"]),
            (try write("cut-header.gguf", Array(real.prefix(700))), ["cut short"]),
            (try write("cut-data.gguf", Array(real.dropLast(40))), ["past the end"]),
            (try write("extent.gguf", Writer.file(tensors: [Writer.Tensor(ne: [64, 8])])), ["\"w\"", "past the end"]),
            (try write("offset.gguf", Writer.file(tensors: [Writer.Tensor(offset: 1 << 40)])), ["\"w\"", "past the end"]),
            (try write("type.gguf", Writer.file(tensors: [Writer.Tensor(type: 99)])), ["\"w\"", "unknown ggml type id 99"]),
            (try write("block.gguf", Writer.file(tensors: [Writer.Tensor(ne: [48], type: 2)])), ["\"w\"", "block of 32"]),
            (try write("string.gguf", Writer.file(keyLength: 1 << 62)), ["4611686018427387904-byte string"]),
            (try write("count.gguf", Writer.file(tensorCount: 1 << 50)), ["tensor count is 1125899906842624"]),
            (try write("dims.gguf", Writer.file(tensors: [Writer.Tensor(ne: [1 << 62, 1 << 62])])), ["\"w\"", "dimension of 4611686018427387904"]),
            (try write("product.gguf", Writer.file(tensors: [Writer.Tensor(ne: [1 << 10, 1 << 10])])), ["\"w\"", "shape [1024, 1024]"]),
            (try write("twice.gguf", Writer.file(tensors: [Writer.Tensor(), Writer.Tensor()])), ["\"w\" twice"]),
        ]
        for (url, words) in cases {
            do {
                _ = try GGUFFile(contentsOf: url)
                Issue.record("\(url.lastPathComponent) was accepted")
            } catch let error as ReptileError {
                let line = error.description
                #expect(line.hasPrefix(url.path) && !line.contains("\n"), "\(line)")
                for word in words { #expect(line.contains(word), "\(url.lastPathComponent): \(line)") }
            }
        }
        // A known type Reptile does not dequantise opens, and is refused when read, naming the tensor and type.
        let k = try GGUFFile(contentsOf: write("q4k.gguf", Writer.file(tensors: [Writer.Tensor(name: "blk.0.ffn_up.weight", ne: [256], type: 12)], dataBytes: 144)))
        #expect(k.tensors.first?.typeName == "Q4_K")
        do {
            _ = try k.float32("blk.0.ffn_up.weight")
            Issue.record("Q4_K was dequantised")
        } catch let error as ReptileError {
            #expect(error.description.contains("blk.0.ffn_up.weight") && error.description.contains("Q4_K"), "\(error)")
        }
    }
}
