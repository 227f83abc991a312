import Foundation
import ReptileCore
import ReptileEngine
import ReptileText

/// A pretrained text encoder from a Hugging Face folder (`config.json`, `model.safetensors`,
/// `vocab.txt`, optionally `tokenizer_config.json`): the BERT encoder and its WordPiece tokenizer.
public struct PretrainedTextEncoder {
    public let folder: String
    public let encoder: TextEncoder
    public let tokenizer: WordPieceTokenizer
    /// vocab.txt as read, and its SHA-256: a classifier checkpoint carries both.
    public let vocabularyText: String
    public let vocabularySHA256: String

    /// The files a folder must hold, in the order they are checked.
    public static let requiredFiles = ["config.json", "model.safetensors", "vocab.txt"]

    /// Loads the folder. Each problem is one error naming the file: a missing file, a damaged
    /// config or safetensors header, tensors missing or of the wrong size (all listed).
    /// `encoderName` prefixes the parameter names (`SentenceClassifier.encoderName` for a classifier).
    public static func load(folder: String, encoderName: String = "") throws -> PretrainedTextEncoder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReptileError(path: folder, "no such folder", fix: "give a Hugging Face model folder (config.json, model.safetensors, vocab.txt)")
        }
        // Every file is looked for before any is read, so a half-downloaded folder fails at once.
        for file in requiredFiles {
            let path = (folder as NSString).appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: path) else {
                throw ReptileError(path: path, "no such file",
                                   fix: "the encoder folder must hold \(requiredFiles.joined(separator: ", ")), as a Hugging Face download does")
            }
        }
        let vocabularyPath = (folder as NSString).appendingPathComponent("vocab.txt")
        let vocabularyText = try WordPieceTokenizer.readVocabulary(at: vocabularyPath)
        let tokenizer = try WordPieceTokenizer(vocabularyText: vocabularyText, settings: try TokenizerSettings.read(folder: folder),
                                               path: vocabularyPath)
        let encoder = try TextEncoder.load(folder: folder, name: encoderName)
        guard tokenizer.vocabularySize <= encoder.config.vocabSize else {
            throw ReptileError(path: vocabularyPath,
                               "has \(tokenizer.vocabularySize) tokens but config.json's vocab_size is \(encoder.config.vocabSize)",
                               fix: "use the vocab.txt that came with the model")
        }
        return PretrainedTextEncoder(folder: folder, encoder: encoder, tokenizer: tokenizer, vocabularyText: vocabularyText,
                                     vocabularySHA256: SHA256.hex(of: vocabularyText))
    }
}
