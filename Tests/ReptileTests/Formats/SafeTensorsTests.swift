import Foundation
import Testing
import ReptileCore
@testable import ReptileFormats

/// Reading Hugging Face weights: the real all-MiniLM-L6-v2 file, and F16/BF16/F32 files written by numpy.
@Suite struct SafeTensorsTests {
    static let miniLM = Support.shared.appendingPathComponent("models/all-MiniLM-L6-v2/model.safetensors").path

    @Test func readsTheRealMiniLMWeightsAsNumpyDoes() throws {
        let file = try SafeTensorsFile(path: Self.miniLM)
        #expect(file.entries.count == 104)
        #expect(file.metadata["format"] == "pt")
        let embeddings = try file.entry("embeddings.word_embeddings.weight")
        #expect(embeddings.shape == [30522, 384] && embeddings.dataType == .float32)
        let layerNorm = try file.floats("encoder.layer.0.attention.output.LayerNorm.weight")
        #expect(layerNorm.count == 384)
        // numpy reads the same bytes independently.
        let script = #"""
        import json, struct, sys, numpy as np
        f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
        e = h["encoder.layer.0.attention.output.LayerNorm.weight"]; f.seek(8 + n + e["data_offsets"][0])
        v = np.frombuffer(f.read(e["data_offsets"][1] - e["data_offsets"][0]), dtype="<f4")
        print(json.dumps([float(x) for x in v[:8]] + [float(v.astype(np.float64).sum())]))
        """#
        let result = try Support.python(script, arguments: [Self.miniLM])
        let expected = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [Double] ?? []
        try #require(expected.count == 9, "\(result.standardError)")
        #expect(Array(layerNorm.prefix(8)) == expected.prefix(8).map { Float($0) })
        #expect(abs(layerNorm.reduce(0.0) { $0 + Double($1) } - expected[8]) < 1e-6)
    }

    @Test func widensHalfAndBrainFloatExactly() throws {
        let folder = try Support.makeTemporaryFolder("safetensors")
        defer { Support.remove(folder) }
        let path = folder.appendingPathComponent("mixed.safetensors").path
        let script = #"""
        import json, struct, sys, numpy as np
        values = np.array([0.0, -1.5, 3.140625, 65504.0, 1e-4, -2.0**-14, 1/3], dtype=np.float32)
        f16 = values.astype("<f2").tobytes()
        bf16 = (values.view("<u4") >> 16).astype("<u2").tobytes()
        f32 = values.astype("<f4").tobytes()
        header = {"half": {"dtype": "F16", "shape": [7], "data_offsets": [0, 14]},
                  "brain": {"dtype": "BF16", "shape": [7, 1], "data_offsets": [14, 28]},
                  "single": {"dtype": "F32", "shape": [7], "data_offsets": [28, 56]},
                  "__metadata__": {"format": "np"}}
        text = json.dumps(header).encode()
        with open(sys.argv[1], "wb") as out:
            out.write(struct.pack("<Q", len(text))); out.write(text); out.write(f16 + bf16 + f32)
        widened = [float(x) for x in values.astype("<f2").astype(np.float32)]
        brain = [float(x) for x in ((values.view("<u4") >> 16) << 16).view("<f4")]
        print(json.dumps({"half": widened, "brain": brain, "single": [float(x) for x in values]}))
        """#
        let result = try Support.python(script, arguments: [path])
        let expected = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: [Double]] ?? [:]
        try #require(expected.count == 3, "\(result.standardError)")
        let file = try SafeTensorsFile(path: path)
        for name in ["half", "brain", "single"] {
            #expect(try file.floats(name).map(Double.init) == expected[name], "\(name)")
        }
        #expect(try file.entry("brain").shape == [7, 1])
    }

    @Test func damagedFilesAreRefusedWithTheirPath() throws {
        let folder = try Support.makeTemporaryFolder("safetensors-bad")
        defer { Support.remove(folder) }
        func write(_ name: String, header: String, data: Int, claimedLength: Int? = nil) throws -> String {
            let text = Array(header.utf8)
            var bytes = withUnsafeBytes(of: UInt64(claimedLength ?? text.count).littleEndian, Array.init)
            bytes += text + [UInt8](repeating: 0, count: data)
            let path = folder.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let cases: [(String, String)] = [
            (try write("huge.safetensors", header: "{}", data: 0, claimedLength: 1 << 40), "claims"),
            (try write("json.safetensors", header: "not json", data: 0), "JSON"),
            (try write("short.safetensors", header: #"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, data: 8), "does not fit"),
            (try write("shape.safetensors", header: #"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}"#, data: 16), "does not fit"),
            (try write("dtype.safetensors", header: #"{"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}"#, data: 4), "not supported"),
        ]
        for (path, words) in cases {
            do {
                _ = try SafeTensorsFile(path: path)
                Issue.record("\(path) was accepted")
            } catch let error as ReptileError {
                #expect(error.description.contains(path) && error.description.contains(words), "\(error)")
            }
        }
    }
}
