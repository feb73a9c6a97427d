import Foundation
import NextGPTCore
import NextGPTFormats

/// A diffusion pipeline given on the command line: a diffusers folder or an original single file.
public enum PipelineSource {
    public static func load(_ path: String, pipeline: String, into plan: inout ConversionPlan) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError(path, "no such file or folder")
        }
        if isDir.boolValue {
            try DiffusersComponents.load(folder: path, pipeline: pipeline, into: &plan)
        } else {
            try SingleFilePipeline.load(file: path, pipeline: pipeline, into: &plan)
        }
    }
}

/// Original (LDM/CompVis) single-file checkpoints (`v1-5-pruned-emaonly.safetensors`, `.ckpt`,
/// AudioLDM's `.ckpt`), renamed to diffusers names. A single file carries no config, so one is
/// derived the way diffusers' single-file loader does: structure and widths from the tensors,
/// the rest (attention heads, norms, schedules) from the pipeline's reference configuration.
/// Such configs carry `"_derived_from_single_file": true`.
public enum SingleFilePipeline {
    public static func load(file: String, pipeline: String, into plan: inout ConversionPlan) throws {
        let checkpoint = try CheckpointFile.read(path: file)
        let split = try LDMNames.split(checkpoint)
        let isAudio = split[LDMNames.vocoder] != nil
        for part in [LDMNames.unet, LDMNames.vae, LDMNames.textEncoder, LDMNames.vocoder] {
            guard let tensors = split[part] else { continue }
            var component = Component(name: "\(pipeline).\(part)", checkpoint: tensors, sourceFormat: "ldm-single-file")
            let config: [String: Any]
            switch part {
            case LDMNames.unet: config = try unetConfig(tensors, structure: split.unet!, audio: isAudio, file: file)
            case LDMNames.vae: config = try vaeConfig(tensors, levels: split.vae!.levels, layers: split.vae!.layersPerBlock,
                                                     scaling: try scaleFactor(checkpoint) ?? 0.18215, file: file)
            case LDMNames.textEncoder: config = isAudio ? ["_class_name": "ClapTextModelWithProjection"] : try clipConfig(tensors, file: file)
            default: config = ["_class_name": "SpeechT5HifiGan", "model_in_dim": 64, "sampling_rate": 16000,
                               "upsample_initial_channel": 1024, "upsample_rates": [5, 4, 2, 2, 2],
                               "upsample_kernel_sizes": [16, 16, 8, 4, 4], "resblock_kernel_sizes": [3, 7, 11],
                               "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "normalize_before": false]
            }
            var withFlag = config
            withFlag["_derived_from_single_file"] = true
            component.addConfig(json(withFlag))
            plan.components.append(component)
        }
        let scheduler: [String: Any] = isAudio
            ? ["_class_name": "DDIMScheduler", "beta_start": 0.0015, "beta_end": 0.0195, "beta_schedule": "scaled_linear",
               "num_train_timesteps": 1000, "steps_offset": 1, "set_alpha_to_one": false, "clip_sample": false,
               "prediction_type": "epsilon"]
            : ["_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
               "num_train_timesteps": 1000, "steps_offset": 1, "set_alpha_to_one": false, "skip_prk_steps": true,
               "clip_sample": false, "prediction_type": "epsilon"]
        plan.metadata.append(("\(pipeline).scheduler.config", .string(json(scheduler))))
        if !split.dropped.isEmpty {
            plan.metadata.append(("\(pipeline).source.dropped_tensor_count", .uint32(UInt32(split.dropped.count))))
        }
    }

    static func shape(_ c: Checkpoint, _ name: String, file: String) throws -> [Int] {
        guard let t = c[name] else { throw FormatError(file, tensor: name, "missing from the single file (needed to derive the config)") }
        return t.shape
    }

    static func unetConfig(_ c: Checkpoint, structure: LDMUNetStructure, audio: Bool, file: String) throws -> [String: Any] {
        let widths = try (0..<structure.levels).map { try shape(c, "down_blocks.\($0).resnets.0.conv1.weight", file: file)[0] }
        var config: [String: Any] = [
            "_class_name": "UNet2DConditionModel", "sample_size": audio ? 128 : 64,
            "in_channels": try shape(c, "conv_in.weight", file: file)[1],
            "out_channels": try shape(c, "conv_out.weight", file: file)[0],
            "block_out_channels": widths, "layers_per_block": structure.layersPerBlock,
            "down_block_types": structure.downBlockTypes, "up_block_types": structure.upBlockTypes,
            "attention_head_dim": 8, "norm_num_groups": 32, "norm_eps": 1e-5, "act_fn": "silu",
            "flip_sin_to_cos": true, "freq_shift": 0, "center_input_sample": false, "downsample_padding": 1,
            "mid_block_scale_factor": 1,
        ]
        if let attention = c.tensors.first(where: { $0.name.hasSuffix("attn2.to_k.weight") }) {
            config["cross_attention_dim"] = attention.shape[1]
        }
        if let projIn = c.tensors.first(where: { $0.name.hasSuffix("proj_in.weight") }) {
            config["use_linear_projection"] = projIn.shape.count == 2
        }
        if let classEmbedding = c["class_embedding.weight"] {
            config["class_embed_type"] = "simple_projection"
            config["projection_class_embeddings_input_dim"] = classEmbedding.shape[1]
            config["class_embeddings_concat"] = audio
        }
        return config
    }

    static func vaeConfig(_ c: Checkpoint, levels: Int, layers: Int, scaling: Double, file: String) throws -> [String: Any] {
        let widths = try (0..<levels).map { try shape(c, "encoder.down_blocks.\($0).resnets.0.conv1.weight", file: file)[0] }
        return [
            "_class_name": "AutoencoderKL", "in_channels": try shape(c, "encoder.conv_in.weight", file: file)[1],
            "out_channels": try shape(c, "decoder.conv_out.weight", file: file)[0],
            "latent_channels": try shape(c, "decoder.conv_in.weight", file: file)[1],
            "block_out_channels": widths, "layers_per_block": layers,
            "down_block_types": Array(repeating: "DownEncoderBlock2D", count: levels),
            "up_block_types": Array(repeating: "UpDecoderBlock2D", count: levels),
            "act_fn": "silu", "norm_num_groups": 32, "sample_size": 512, "scaling_factor": scaling,
        ]
    }

    static func clipConfig(_ c: Checkpoint, file: String) throws -> [String: Any] {
        let embedding = try shape(c, "text_model.embeddings.token_embedding.weight", file: file)
        let layers = Set(c.names.compactMap { name -> Int? in
            guard name.hasPrefix("text_model.encoder.layers.") else { return nil }
            return Int(name.split(separator: ".")[3])
        }).count
        return [
            "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": embedding[0],
            "hidden_size": embedding[1], "num_hidden_layers": layers, "num_attention_heads": embedding[1] / 64,
            "intermediate_size": try shape(c, "text_model.encoder.layers.0.mlp.fc1.weight", file: file)[0],
            "max_position_embeddings": try shape(c, "text_model.embeddings.position_embedding.weight", file: file)[0],
            "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1,
        ]
    }

    /// AudioLDM files store their latent scale as the scalar tensor `scale_factor`.
    static func scaleFactor(_ c: Checkpoint) throws -> Double? {
        guard let t = c["scale_factor"], t.elementCount == 1 else { return nil }
        return Double(try t.readFloats()[0])
    }

    static func json(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
