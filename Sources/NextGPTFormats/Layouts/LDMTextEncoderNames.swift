import NextGPTCore
import NextGPTKernels

/// diffusers `text_encoder` names of an original checkpoint's text encoder. A nil result means the
/// key is dropped on purpose (a buffer transformers recomputes).
///
/// Stable Diffusion 1.x keeps transformers' `CLIPTextModel` under `cond_stage_model.transformer.`
/// — with `text_model.` in files written by transformers ≥ 4.x, without it in older ones — so the
/// diffusers name is the rest of the key, under `text_model.` either way
/// (`diffusers.loaders.single_file_utils.convert_ldm_clip_checkpoint`).
///
/// AudioLDM keeps the whole CLAP model under `cond_stage_model.model.`: the text tower
/// `text_branch.*` (transformers' `RobertaModel`) → `text_model.*`, the projection
/// `text_projection.0` / `.2` (`Sequential(Linear, ReLU, Linear)`) → `text_projection.linear1` /
/// `linear2` (`ClapTextModelWithProjection`); `text_transform.*` and the audio tower are unused
/// (`convert_open_clap_checkpoint` in diffusers' `scripts/convert_original_audioldm_to_diffusers.py`).
public enum LDMTextEncoderNames {
    /// One key below `cond_stage_model.transformer.`.
    public static func clip(_ name: String) throws -> String? {
        let tail = name.dropping(prefix: "text_model.") ?? name
        if tail == "embeddings.position_ids" { return nil }
        let key = LDMKey(tail)
        let known: Bool
        if key.count >= 4, key[0] == "encoder", key[1] == "layers", key.index(2) != nil {
            known = LDMKey.isParameter(key.tail(from: 3), of: [
                "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                "layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2",
            ])
        } else {
            known = tail == "embeddings.token_embedding.weight" || tail == "embeddings.position_embedding.weight"
                || LDMKey.isParameter(tail, of: ["final_layer_norm"])
        }
        guard known else {
            throw LDMNameProblem("unknown CLIP text-encoder key '\(name)'; expected [text_model.]embeddings.*, encoder.layers.N.{self_attn,layer_norm1,layer_norm2,mlp}.*, final_layer_norm.*")
        }
        return "text_model." + tail
    }

    /// One key below `cond_stage_model.model.` that ``isCLAPTextTower(_:)`` accepts.
    public static func clap(_ name: String) throws -> String? {
        if let tail = name.dropping(prefix: "text_branch.") {
            if tail == "embeddings.position_ids" || tail == "embeddings.token_type_ids" { return nil }
            guard isRoberta(tail) else {
                throw LDMNameProblem("unknown CLAP text-tower key '\(name)'; expected RobertaModel names (embeddings.*, encoder.layer.N.*, pooler.dense.*)")
            }
            return "text_model." + tail
        }
        let key = LDMKey(name)
        let layer = ["0": "linear1", "2": "linear2"][String(key.count > 1 ? key[1] : "")]
        guard key.count == 3, key[0] == "text_projection", let layer, LDMKey.isLeaf(key[2]) else {
            throw LDMNameProblem("unknown CLAP key '\(name)'; expected text_branch.* or text_projection.0|2.weight|bias")
        }
        return "text_projection.\(layer).\(key[2])"
    }

    /// CLAP keys that become the text encoder.
    static func isCLAPTextTower(_ name: String) -> Bool {
        name.hasPrefix("text_branch.") || name.hasPrefix("text_projection.")
    }

    /// CLAP keys text-to-audio generation does not use: the audio tower, the text/audio transforms
    /// of contrastive training and the logit scales.
    static func isCLAPUnused(_ name: String) -> Bool {
        ["audio_branch.", "audio_projection.", "audio_transform.", "text_transform."].contains { name.hasPrefix($0) }
            || name == "logit_scale_a" || name == "logit_scale_t"
    }

    /// Keys of an OpenCLIP text model (`FrozenOpenCLIPEmbedder`, Stable Diffusion 2.x).
    static func isOpenCLIP(_ name: String) -> Bool {
        ["transformer.resblocks.", "token_embedding.", "ln_final."].contains { name.hasPrefix($0) }
            || ["positional_embedding", "text_projection", "logit_scale"].contains(name)
    }

    static func isRoberta(_ tail: String) -> Bool {
        let key = LDMKey(tail)
        if key.count >= 4, key[0] == "encoder", key[1] == "layer", key.index(2) != nil {
            return LDMKey.isParameter(key.tail(from: 3), of: [
                "attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "attention.output.LayerNorm",
                "intermediate.dense", "output.dense", "output.LayerNorm",
            ])
        }
        return ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                "embeddings.token_type_embeddings.weight"].contains(tail)
            || LDMKey.isParameter(tail, of: ["embeddings.LayerNorm", "pooler.dense"])
    }
}

/// diffusers `vocoder` (transformers `SpeechT5HifiGan`) names of AudioLDM's HiFi-GAN, kept under
/// `first_stage_model.vocoder.` with its weight norm already removed: `ups.i` → `upsampler.i`,
/// `conv_pre`, `resblocks.k.convs1|convs2.j`, `conv_post` unchanged
/// (`convert_hifigan_checkpoint` in diffusers' `scripts/convert_original_audioldm_to_diffusers.py`).
/// `SpeechT5HifiGan` also has `mean` / `scale` buffers (input normalisation, unused with
/// `normalize_before false`) that the file lacks; diffusers writes zeros and ones.
public enum LDMVocoderNames {
    public static func diffusersName(for name: String) throws -> String? {
        let key = LDMKey(name)
        if key.count >= 2, key.parts.last == "weight_g" || key.parts.last == "weight_v" {
            throw LDMNameProblem("weight-normalised vocoder tensor '\(name)' (weight_g/weight_v); AudioLDM checkpoints store the vocoder with weight norm removed, as SpeechT5HifiGan expects")
        }
        if LDMKey.isParameter(name, of: ["conv_pre", "conv_post"]) { return name }
        if key.count == 3, key[0] == "ups", key.index(1) != nil, LDMKey.isLeaf(key[2]) {
            return "upsampler.\(key[1]).\(key[2])"
        }
        if key.count == 5, key[0] == "resblocks", key.index(1) != nil, key[2] == "convs1" || key[2] == "convs2",
           key.index(3) != nil, LDMKey.isLeaf(key[4]) {
            return name
        }
        throw LDMNameProblem("unknown vocoder key '\(name)'; expected conv_pre, ups.i, resblocks.k.convs1|convs2.j, conv_post")
    }

    /// `mean` = 0 and `scale` = 1, one per mel bin (the input channels of `conv_pre`).
    static func constants(_ vocoder: Checkpoint) throws -> [LDMConstant] {
        guard let convPre = vocoder["conv_pre.weight"], convPre.shape.count == 3 else {
            let file = vocoder.tensors.first.map(\.file.path) ?? vocoder.files.first ?? "checkpoint"
            throw FormatError(file, tensor: "first_stage_model.vocoder.conv_pre.weight",
                              "missing or not [channels, mel bins, kernel]; needed for the vocoder's mel-bin count")
        }
        let bins = convPre.shape[1]
        return [LDMConstant(name: "mean", shape: [bins], value: 0), LDMConstant(name: "scale", shape: [bins], value: 1)]
    }
}
