import Foundation
import NextGPTCore

/// NExT-GPT's released delta (`pytorch_model.pt` of 7b_tiva_v0, optionally in its folder with the
/// tokenizer): the LoRA of the language model, the resized `embed_tokens` / `lm_head` that replace
/// Vicuna's, the input projection `llama_proj` and the three output projectors.
public struct NextGPTDelta: Sendable {
    public static let embedKeys = ["llama_model.base_model.model.model.embed_tokens.weight", "llama_model.model.embed_tokens.weight"]
    public static let lmHeadKeys = ["llama_model.base_model.model.lm_head.weight", "llama_model.lm_head.weight"]
    public static let loraPrefix = "llama_model.base_model.model."
    /// Top-level modules of NextGPTModel that the delta holds; their keys are kept as written.
    public static let moduleNames = ["llama_proj", "gen_text_hidden_fcs", "gen_text_hidden_fcs_video", "gen_text_hidden_fcs_audio"]
    /// NExT-GPT's stage-3 LoRA (config/stage_3.yaml) has lora_alpha = r = 32, so its scale alpha/r is 1.
    /// The file records neither; a delta trained otherwise needs its alpha given explicitly.
    public static let defaultLoraScale: Float = 1

    public var embedTokens: SourceTensor?
    public var lmHead: SourceTensor?
    public var lora: [LoraPair]
    /// `llama_proj.*` and `gen_text_hidden_fcs*.*`, named as in the file.
    public var modules: [SourceTensor]
    /// The 38 added tokens (`<Img>`, `</Img>`, `[IMG0]`…) in id order, with their ids.
    public var addedTokens: [(token: String, id: Int)]
    public var configText: String?
    public var tokenizerModelPath: String?
    public var files: [String]

    /// `path` is `pytorch_model.pt` or the folder holding it. `loraAlpha` is the training
    /// `lora_alpha`; nil means alpha = r (NExT-GPT's setting).
    public init(path: String, loraAlpha: Float? = nil) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FormatError(path, "no such file or folder") }
        let folder = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        let weights = isDir.boolValue ? "\(folder)/pytorch_model.pt" : path
        let checkpoint = try readCheckpointFile(weights)
        files = checkpoint.files

        var loraTensors: [SourceTensor] = []
        modules = []
        for tensor in checkpoint.tensors {
            let name = tensor.name
            if NextGPTDelta.embedKeys.contains(name) {
                embedTokens = tensor
            } else if NextGPTDelta.lmHeadKeys.contains(name) {
                lmHead = tensor
            } else if LoraAdapter.splitLoraKey(name) != nil {
                loraTensors.append(tensor)
            } else if let module = name.split(separator: ".").first, NextGPTDelta.moduleNames.contains(String(module)) {
                modules.append(tensor)
            } else {
                throw FormatError(weights, tensor: name, "is not part of NExT-GPT's delta (expected llama_model LoRA/embeddings, llama_proj or gen_text_hidden_fcs*)")
            }
        }
        lora = try LoraAdapter.pairs(from: loraTensors, prefix: NextGPTDelta.loraPrefix, file: weights) { _, rank in
            loraAlpha.map { $0 / Float(rank) } ?? NextGPTDelta.defaultLoraScale
        }
        if let embedTokens, let lmHead, embedTokens.shape != lmHead.shape {
            throw FormatError(weights, tensor: lmHead.name, "shape \(lmHead.shape) differs from embed_tokens \(embedTokens.shape)")
        }

        addedTokens = []
        let addedPath = "\(folder)/added_tokens.json"
        if JSONFile.exists(addedPath) {
            let object = try JSONFile.object(addedPath)
            addedTokens = try object.map { token, value in
                guard let id = (value as? NSNumber)?.intValue else { throw FormatError(addedPath, "id of '\(token)' is not an integer") }
                return (token, id)
            }.sorted { $0.id < $1.id }
            files.append(addedPath)
        }
        let configPath = "\(folder)/config.json"
        if JSONFile.exists(configPath) {
            configText = try JSONFile.text(configPath)
            files.append(configPath)
        }
        let spm = "\(folder)/tokenizer.model"
        if JSONFile.exists(spm) {
            tokenizerModelPath = spm
            files.append(spm)
        }
    }
}
