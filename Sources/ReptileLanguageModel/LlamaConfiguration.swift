import Foundation
import ReptileCore
import ReptileFormats

/// The sizes of a Llama-family decoder, read from a GGUF file's `llama.*` metadata or a Hugging Face
/// `config.json` (`model_type` llama).
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var queryHeads: Int
    public var keyValueHeads: Int
    public var headSize: Int
    public var rmsEpsilon: Float
    public var ropeBase: Float
    public var contextLength: Int
    /// Whether the output head reuses the token embedding (no separate `lm_head.weight`).
    public var tiedEmbeddings: Bool

    public init(vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, queryHeads: Int,
                keyValueHeads: Int, headSize: Int? = nil, rmsEpsilon: Float = 1e-5, ropeBase: Float = 10000,
                contextLength: Int = 2048, tiedEmbeddings: Bool = true) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.queryHeads = queryHeads
        self.keyValueHeads = keyValueHeads
        self.headSize = headSize ?? hiddenSize / max(queryHeads, 1)
        self.rmsEpsilon = rmsEpsilon
        self.ropeBase = ropeBase
        self.contextLength = contextLength
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Refuses sizes the blocks cannot run (naming `source` and the field).
    func validated(source: String) throws -> LlamaConfiguration {
        let sizes: [(String, Int)] = [("vocabulary size", vocabularySize), ("hidden size", hiddenSize),
                                      ("feed-forward size", intermediateSize), ("block count", layerCount),
                                      ("attention heads", queryHeads), ("key/value heads", keyValueHeads),
                                      ("head size", headSize), ("context length", contextLength)]
        for (field, value) in sizes where value < 1 || value > 1 << 24 {
            throw ReptileError(path: source, "\(field) \(value) is not a usable model size", fix: "use the file as its publisher made it")
        }
        guard queryHeads % keyValueHeads == 0, headSize % 2 == 0 else {
            throw ReptileError(path: source, "\(queryHeads) attention heads cannot share \(keyValueHeads) key/value heads of size \(headSize)",
                               fix: "use a Llama-family model with a whole number of query heads per key/value head")
        }
        guard rmsEpsilon.isFinite, rmsEpsilon > 0, ropeBase.isFinite, ropeBase > 1 else {
            throw ReptileError(path: source, "RMSNorm epsilon \(rmsEpsilon) or rotary base \(ropeBase) is not usable",
                               fix: "use the file as its publisher made it")
        }
        return self
    }

    /// From a GGUF file of architecture `llama`.
    public init(gguf: GGUFFile) throws {
        let path = gguf.url.path
        let architecture = gguf.metadata["general.architecture"]?.stringValue ?? "(none)"
        guard architecture == "llama" else {
            throw ReptileError(path: path, "is a GGUF of architecture \(architecture), not llama",
                               fix: "give a Llama-family model such as SmolLM2")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = gguf.metadata["llama." + key]?.intValue else {
                throw ReptileError(path: path, "lacks the metadata llama.\(key)", fix: "use a complete GGUF file of a Llama model")
            }
            return value
        }
        let hidden = try integer("embedding_length"), heads = try integer("attention.head_count")
        guard let embedding = gguf.tensor(named: "token_embd.weight"), embedding.shape.count == 2 else {
            throw ReptileError(path: path, "has no token_embd.weight", fix: "use a complete GGUF file of a Llama model")
        }
        let headSize = gguf.metadata["llama.rope.dimension_count"]?.intValue ?? hidden / max(heads, 1)
        self.init(vocabularySize: embedding.shape[0], hiddenSize: hidden,
                  intermediateSize: try integer("feed_forward_length"), layerCount: try integer("block_count"),
                  queryHeads: heads, keyValueHeads: gguf.metadata["llama.attention.head_count_kv"]?.intValue ?? heads,
                  headSize: headSize,
                  rmsEpsilon: Float(gguf.metadata["llama.attention.layer_norm_rms_epsilon"]?.doubleValue ?? 1e-5),
                  ropeBase: Float(gguf.metadata["llama.rope.freq_base"]?.doubleValue ?? 10000),
                  contextLength: gguf.metadata["llama.context_length"]?.intValue ?? 2048,
                  tiedEmbeddings: gguf.tensor(named: "output.weight") == nil)
        self = try validated(source: path)
    }

    /// From a Hugging Face `config.json` (model_type llama).
    public init(huggingFaceConfig url: URL) throws {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ReptileError(path: path, "is not a readable JSON object", fix: "the model folder needs the config.json of a Hugging Face download")
        }
        let modelType = object["model_type"] as? String ?? "(none)"
        guard modelType == "llama" else {
            throw ReptileError(path: path, "describes a \(modelType) model, not llama", fix: "give a Llama-family model such as SmolLM2")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = (object[key] as? NSNumber)?.intValue else {
                throw ReptileError(path: path, "lacks \(key)", fix: "use the config.json of a Hugging Face Llama model")
            }
            return value
        }
        let rope = object["rope_parameters"] as? [String: Any]
        let ropeBase = (object["rope_theta"] as? NSNumber ?? rope?["rope_theta"] as? NSNumber)?.floatValue ?? 10000
        let heads = try integer("num_attention_heads")
        self.init(vocabularySize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
                  intermediateSize: try integer("intermediate_size"), layerCount: try integer("num_hidden_layers"),
                  queryHeads: heads, keyValueHeads: (object["num_key_value_heads"] as? NSNumber)?.intValue ?? heads,
                  headSize: (object["head_dim"] as? NSNumber)?.intValue,
                  rmsEpsilon: (object["rms_norm_eps"] as? NSNumber)?.floatValue ?? 1e-5, ropeBase: ropeBase,
                  contextLength: (object["max_position_embeddings"] as? NSNumber)?.intValue ?? 2048,
                  tiedEmbeddings: (object["tie_word_embeddings"] as? Bool) ?? false)
        self = try validated(source: path)
    }
}
