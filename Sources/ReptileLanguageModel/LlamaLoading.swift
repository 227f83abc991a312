import Foundation
import ReptileCore
import ReptileEngine
import ReptileFormats
import ReptileText

extension LlamaModel {
    /// A model from a Hugging Face folder: `config.json` (model_type llama) and `model.safetensors`.
    /// Every missing tensor or wrong shape is refused before anything is returned.
    public static func load(huggingFaceFolder folder: URL) throws -> LlamaModel {
        let configuration = try LlamaConfiguration(huggingFaceConfig: folder.appendingPathComponent("config.json"))
        let weightsPath = folder.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ReptileError(path: weightsPath, "no such file", fix: "the model folder must hold model.safetensors, as a Hugging Face download does")
        }
        let file = try SafeTensorsFile(path: weightsPath)
        return try LlamaModel(configuration: configuration) { name, shape in
            guard let entry = file.entries[name] else {
                throw ReptileError(path: weightsPath, "lacks the tensor \(name)", fix: "use the model.safetensors that came with this config.json")
            }
            guard entry.shape == shape else {
                throw ReptileError(path: weightsPath, "holds \(name) of shape \(entry.shape), config.json implies \(shape)",
                                   fix: "use the model.safetensors that came with this config.json")
            }
            return Variable(Tensor(shape: shape, values: try file.floats(name)), name: name)
        }
    }

    /// A model from a GGUF file of architecture llama, every tensor dequantised to float32 once.
    /// llama.cpp stores the query and key rows of each head interleaved for its rotary layout;
    /// they are put back in Hugging Face's order, so one rotary layout serves both sources.
    public static func load(gguf: GGUFFile) throws -> LlamaModel {
        let configuration = try LlamaConfiguration(gguf: gguf)
        let path = gguf.url.path
        return try LlamaModel(configuration: configuration) { name, shape in
            let fileName = ggufTensorName(forHuggingFaceName: name)
            guard let info = gguf.tensor(named: fileName) else {
                throw ReptileError(path: path, "lacks the tensor \(fileName)", fix: "use a complete GGUF file of a Llama model")
            }
            guard info.shape == shape else {
                throw ReptileError(path: path, "holds \(fileName) of shape \(info.shape), its metadata implies \(shape)",
                                   fix: "use the GGUF file as its publisher made it")
            }
            var tensor = Tensor(zeros: shape)
            try tensor.withUnsafeMutableBufferPointer { try gguf.dequantize(fileName, into: $0) }
            if name.hasSuffix("q_proj.weight") {
                tensor = unpermuteRotaryRows(tensor, heads: configuration.queryHeads)
            } else if name.hasSuffix("k_proj.weight") {
                tensor = unpermuteRotaryRows(tensor, heads: configuration.keyValueHeads)
            }
            return Variable(tensor, name: name)
        }
    }
}

/// llama.cpp's name of a Hugging Face Llama tensor.
func ggufTensorName(forHuggingFaceName name: String) -> String {
    let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                 "lm_head.weight": "output.weight"]
    if let mapped = fixed[name] { return mapped }
    let parts = name.split(separator: ".")  // model.layers.N.<module>[.<sub>].weight
    guard parts.count >= 5, parts[1] == "layers" else { return name }
    let module = parts[3...].dropLast().joined(separator: ".")
    let blockNames = ["input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                      "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                      "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                      "mlp.down_proj": "ffn_down"]
    return "blk.\(parts[2]).\(blockNames[module] ?? module).weight"
}

/// Undoes llama.cpp's permutation of a query or key weight [heads·d, in]: within each head, GGUF
/// row 2i + j holds Hugging Face row j·d/2 + i.
func unpermuteRotaryRows(_ weight: Tensor, heads: Int) -> Tensor {
    let rows = weight.shape[0], columns = weight.shape[1], headSize = rows / heads, half = headSize / 2
    var result = Tensor(zeros: weight.shape)
    weight.withUnsafeBufferPointer { source in
        result.withUnsafeMutableBufferPointer { destination in
            for head in 0..<heads {
                for index in 0..<half {
                    for pair in 0..<2 {
                        let from = (head * headSize + index * 2 + pair) * columns
                        let to = (head * headSize + pair * half + index) * columns
                        for column in 0..<columns { destination[to + column] = source[from + column] }
                    }
                }
            }
        }
    }
    return result
}

/// A pretrained model with its tokenizer, as a model folder provides them.
public struct PretrainedLanguageModel {
    public let source: PretrainedLanguageModelSource
    public let model: LlamaModel
    public let tokenizer: ByteLevelBPETokenizer

    /// Loads `folder` (one .gguf file, or a Hugging Face folder); the GGUF file is mapped once for both.
    public init(folder: URL) throws {
        source = try PretrainedLanguageModelSource(folder: folder)
        switch source {
        case .gguf(let url):
            let file = try GGUFFile(contentsOf: url)
            _ = try LlamaConfiguration(gguf: file)  // the architecture first: it says most about a wrong file
            tokenizer = try loadByteLevelBPETokenizer(from: file)
            model = try LlamaModel.load(gguf: file)
        case .huggingFace(let folder):
            tokenizer = try ByteLevelBPETokenizer(huggingFaceTokenizerJSON: folder.appendingPathComponent("tokenizer.json"))
            model = try LlamaModel.load(huggingFaceFolder: folder)
        }
        guard tokenizer.vocabularySize <= model.configuration.vocabularySize else {
            throw ReptileError(path: source.url.path, "has a tokenizer of \(tokenizer.vocabularySize) tokens for a model of \(model.configuration.vocabularySize)",
                               fix: "use the tokenizer that came with the model")
        }
    }

    /// The tokens that end a continuation: the tokenizer's end-of-sequence and `<|endoftext|>`.
    public var stopTokens: Set<Int> {
        var stops = Set<Int>()
        if let eos = tokenizer.eosID { stops.insert(eos) }
        for id in 0..<min(tokenizer.vocabularySize, 16) where tokenizer.token(id) == "<|endoftext|>" { stops.insert(id) }
        return stops
    }
}
