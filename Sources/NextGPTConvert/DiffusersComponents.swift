import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTTokenizers

/// A diffusers pipeline folder (`model_index.json` + component subfolders) as components
/// `<pipeline>.<subfolder>` (e.g. `sd15.unet`), with the scheduler config, model index and
/// BPE tokenizer stored as pipeline metadata (`sd15.scheduler.config`, `sd15.tokenizer.*`).
public enum DiffusersComponents {
    /// Subfolders a NExT-GPT runtime never uses: the safety checker and its image processor.
    public static let skippedSubfolders: Set<String> = ["safety_checker", "feature_extractor", "image_encoder"]
    static let nonModelClasses: Set<String> = ["scheduler", "tokenizer", "tokenizer_2"]

    public static func load(folder: String, pipeline: String, into plan: inout ConversionPlan) throws {
        let indexPath = "\(folder)/model_index.json"
        guard JSONFile.exists(indexPath) else {
            throw FormatError(folder, "no model_index.json: not a diffusers pipeline folder")
        }
        let index = try JSONFile.object(indexPath)
        plan.metadata.append(("\(pipeline).model_index", .string(try JSONFile.text(indexPath))))
        plan.metadataFiles[pipeline, default: []].append(indexPath)

        for subfolder in index.keys.sorted() where !subfolder.hasPrefix("_") {
            guard let entry = index[subfolder] as? [Any], entry.count == 2, entry[0] is String else { continue }
            if skippedSubfolders.contains(subfolder) { continue }
            let path = "\(folder)/\(subfolder)"
            if subfolder == "scheduler" {
                let config = "\(path)/scheduler_config.json"
                plan.metadata.append(("\(pipeline).scheduler.config", .string(try JSONFile.text(config))))
                plan.metadataFiles[pipeline, default: []].append(config)
                continue
            }
            if nonModelClasses.contains(subfolder) {
                try addTokenizer(folder: path, key: "\(pipeline).\(subfolder)", into: &plan, pipeline: pipeline)
                continue
            }
            plan.components.append(try component(folder: path, name: "\(pipeline).\(subfolder)"))
        }
    }

    /// One model subfolder: `config.json` + weights (single, sharded or `fp16` variant).
    public static func component(folder: String, name: String) throws -> Component {
        let configPath = "\(folder)/config.json"
        let configText = try JSONFile.text(configPath)
        var checkpoint = try HFWeights.read(folder: folder)
        checkpoint.tensors.removeAll { isDroppedBuffer($0.name) }
        for i in checkpoint.tensors.indices {
            checkpoint.tensors[i].name = modernAttentionName(checkpoint.tensors[i].name)
        }
        var component = Component(name: name, checkpoint: checkpoint, sourceFormat: "diffusers")
        component.sourceFiles.insert(configPath, at: 0)
        component.addConfig(configText)
        return component
    }

    /// Buffers that transformers ≤ 4.30 saved with text encoders and that are recomputed at run time.
    static func isDroppedBuffer(_ name: String) -> Bool {
        name.hasSuffix("embeddings.position_ids") || name.hasSuffix("embeddings.token_type_ids")
    }

    /// diffusers renamed the VAE's attention parameters (`query/key/value/proj_attn` →
    /// `to_q/to_k/to_v/to_out.0`) and converts old files on load; we store the new names.
    public static func modernAttentionName(_ name: String) -> String {
        let renames = [(".query.", ".to_q."), (".key.", ".to_k."), (".value.", ".to_v."), (".proj_attn.", ".to_out.0.")]
        guard name.contains(".attentions.") else { return name }
        for (old, new) in renames where name.contains(old) {
            return name.replacingOccurrences(of: old, with: new)
        }
        return name
    }

    /// A byte-level BPE tokenizer folder (CLIP, RoBERTa): vocabulary by id, merges, configs.
    static func addTokenizer(folder: String, key: String, into plan: inout ConversionPlan, pipeline: String) throws {
        guard JSONFile.exists("\(folder)/vocab.json") else { return }
        let vocabulary = try BPEVocabulary(folder: folder)
        plan.metadata.append(("\(key).vocab", .strings(vocabulary.tokens)))
        plan.metadata.append(("\(key).merges", .strings(vocabulary.merges)))
        for (file, text) in vocabulary.configFiles.sorted(by: { $0.key < $1.key }) {
            plan.metadata.append(("\(key).\(file.replacingOccurrences(of: ".json", with: ""))", .string(text)))
        }
        plan.metadataFiles[pipeline, default: []] += vocabulary.files
    }
}

/// `imagebind_huge.pth`, tensors under their upstream names, with the constructor settings the
/// runtime needs (from a `config.json` beside the file, else ImageBind-huge's when the shapes are huge's).
public enum ImageBindComponent {
    public static let name = "imagebind"

    /// `imagebind_model.imagebind_huge()` settings (NEXTGPT.md §3.1).
    public static let hugeConfig = """
    {"vision_embed_dim": 1280, "vision_num_blocks": 32, "vision_num_heads": 16, \
    "text_embed_dim": 1024, "text_num_blocks": 24, "text_num_heads": 16, "out_embed_dim": 1024, \
    "audio_embed_dim": 768, "audio_num_blocks": 12, "audio_num_heads": 12, "audio_kernel_size": 16, \
    "audio_stride": 10, "audio_num_mel_bins": 128, "audio_target_len": 204, "video_frames": 2, \
    "kernel_size": [2, 14, 14], "depth_embed_dim": 384, "depth_num_blocks": 12, "depth_num_heads": 8, \
    "thermal_embed_dim": 768, "thermal_num_blocks": 12, "thermal_num_heads": 12, \
    "imu_embed_dim": 512, "imu_num_blocks": 6, "imu_num_heads": 8}
    """

    /// Where the merges file is looked for when none is named: beside the checkpoint, or in the
    /// `bpe/` folder the imagebind package and NExT-GPT's code tree keep it in.
    public static let mergesFileCandidates = ["bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt",
                                              "bpe/bpe_simple_vocab_16e6.txt.gz", "bpe/bpe_simple_vocab_16e6.txt"]

    /// `mergesFile`: ImageBind's BPE merges (`bpe_simple_vocab_16e6.txt[.gz]`), stored as
    /// `imagebind.tokenizer.merges` so texts need no side file at run time; when nil, the
    /// candidates beside the checkpoint are tried and a container without merges is still made.
    public static func load(path: String, mergesFile: String? = nil) throws -> Component {
        let checkpoint = try CheckpointFile.read(path: path)
        var component = Component(name: name, checkpoint: checkpoint, sourceFormat: "imagebind-pth")
        let folder = (path as NSString).deletingLastPathComponent
        let merges = mergesFile ?? mergesFileCandidates.map { "\(folder)/\($0)" }.first { FileManager.default.fileExists(atPath: $0) }
        if let merges {
            do {
                component.metadata.append((component.key("tokenizer.merges"), .strings(try ImageBindTokenizer.merges(file: merges))))
            } catch let error as TokenizerError {
                throw FormatError(merges, error.message)
            }
            component.sourceFiles.append(merges)
        }
        let configPath = "\(folder)/config.json"
        if JSONFile.exists(configPath) {
            component.addConfig(try JSONFile.text(configPath))
            component.sourceFiles.append(configPath)
        } else if checkpoint["modality_preprocessors.vision.cls_token"]?.shape == [1, 1, 1280] {
            component.addConfig(hugeConfig)
        } else {
            throw FormatError(path, "not ImageBind-huge's dimensions and no config.json beside it to give the head counts")
        }
        guard checkpoint["modality_trunks.vision.blocks.0.attn.in_proj_weight"] != nil else {
            throw FormatError(path, tensor: "modality_trunks.vision.blocks.0.attn.in_proj_weight", "missing: not an ImageBind checkpoint")
        }
        return component
    }
}
