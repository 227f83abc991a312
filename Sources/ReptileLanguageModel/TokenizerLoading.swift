import Foundation
import ReptileCore
import ReptileFormats
import ReptileText

/// Where a pretrained language model comes from: a folder holding one `.gguf` file (llama.cpp's
/// format), or a Hugging Face folder (config.json, model.safetensors, tokenizer.json).
public enum PretrainedLanguageModelSource: Sendable, Equatable {
    case gguf(URL)
    case huggingFace(URL)

    /// The files a Hugging Face folder must hold.
    public static let huggingFaceFiles = ["config.json", "model.safetensors", "tokenizer.json"]

    /// Resolves `folder` (a `.gguf` file itself is accepted too).
    public init(folder: URL) throws {
        let path = folder.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReptileError(path: path, "no such model folder", fix: "give a folder holding one .gguf file, or a Hugging Face model folder")
        }
        if !isDirectory.boolValue {
            guard folder.pathExtension.lowercased() == "gguf" else {
                throw ReptileError(path: path, "is a file, not a model folder",
                                   fix: "give a folder holding one .gguf file, or a Hugging Face folder with \(Self.huggingFaceFiles.joined(separator: ", "))")
            }
            self = .gguf(folder)
            return
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        let ggufs = names.filter { $0.lowercased().hasSuffix(".gguf") && !$0.hasPrefix(".") }
        if ggufs.count == 1 {
            self = .gguf(folder.appendingPathComponent(ggufs[0]))
            return
        }
        if ggufs.count > 1 {
            throw ReptileError(path: path, "holds \(ggufs.count) .gguf files (\(ggufs.joined(separator: ", ")))",
                               fix: "keep one .gguf file in the folder, or give a folder per model")
        }
        let missing = Self.huggingFaceFiles.filter { !names.contains($0) }
        guard missing.isEmpty else {
            throw ReptileError(path: path, "holds neither a .gguf file nor a Hugging Face model (it lacks \(missing.joined(separator: ", ")))",
                               fix: "give a folder holding one .gguf file, or one with \(Self.huggingFaceFiles.joined(separator: ", "))")
        }
        self = .huggingFace(folder)
    }

    /// The .gguf file or the Hugging Face folder.
    public var url: URL {
        switch self {
        case .gguf(let url), .huggingFace(let url): url
        }
    }
}

/// The byte-level BPE tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*`, model `gpt2`).
public func loadByteLevelBPETokenizer(from gguf: GGUFFile) throws -> ByteLevelBPETokenizer {
    let path = gguf.url.path
    let metadata = gguf.metadata
    guard let model = metadata["tokenizer.ggml.model"]?.stringValue else {
        throw ReptileError(path: path, "holds no tokenizer (no tokenizer.ggml.model)", fix: "give a GGUF file converted with its tokenizer")
    }
    guard model == "gpt2" else {
        throw ReptileError(path: path, "has a \(quoted(model)) tokenizer, not byte-level BPE (gpt2)",
                           fix: "give a model with a GPT-2-style byte-level BPE tokenizer, such as SmolLM2")
    }
    let pre = metadata["tokenizer.ggml.pre"]?.stringValue ?? "gpt2"
    guard let preTokenizer = ByteLevelBPETokenizer.PreTokenizer(rawValue: pre) else {
        throw ReptileError(path: path, "has pre-tokenizer \(quoted(pre)); Reptile reproduces smollm and gpt2",
                           fix: "give a model whose tokenizer.ggml.pre is smollm or gpt2, such as SmolLM2")
    }
    guard let tokens = metadata["tokenizer.ggml.tokens"]?.stringArray else {
        throw ReptileError(path: path, "has no token list (tokenizer.ggml.tokens)", fix: "the file is damaged")
    }
    guard let merges = metadata["tokenizer.ggml.merges"]?.stringArray else {
        throw ReptileError(path: path, "has no merges (tokenizer.ggml.merges)", fix: "the file is damaged")
    }
    var specialIDs: [Int] = []
    if let types = metadata["tokenizer.ggml.token_type"] {
        guard let types = types.intArray, types.count == tokens.count else {
            throw ReptileError(path: path, "tokenizer.ggml.token_type does not give one integer per token", fix: "the file is damaged")
        }
        // llama.cpp's CONTROL (3) and USER_DEFINED (4) tokens are matched whole, like Hugging Face's added tokens.
        specialIDs = types.indices.filter { types[$0] == 3 || types[$0] == 4 }
    }
    func id(_ key: String) -> Int? { metadata["tokenizer.ggml.\(key)"]?.intValue }
    do {
        return try ByteLevelBPETokenizer(tokens: tokens, merges: merges, specialTokenIDs: specialIDs, bosID: id("bos_token_id"),
                                         eosID: id("eos_token_id"), padID: id("padding_token_id"), preTokenizer: preTokenizer)
    } catch var error as ReptileError {
        error.path = path
        throw error
    }
}

/// The tokenizer of a model folder: from the GGUF file's metadata, or the Hugging Face tokenizer.json.
public func loadTokenizer(_ source: PretrainedLanguageModelSource) throws -> ByteLevelBPETokenizer {
    switch source {
    case .gguf(let url):
        return try loadByteLevelBPETokenizer(from: GGUFFile(contentsOf: url))
    case .huggingFace(let folder):
        return try ByteLevelBPETokenizer(huggingFaceTokenizerJSON: folder.appendingPathComponent("tokenizer.json"))
    }
}
