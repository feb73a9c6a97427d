import NextGPTCore

/// The structure of an LDM `AutoencoderKL` (keys below `first_stage_model.`), read from its keys, and
/// the diffusers `AutoencoderKL` name of each key — the renaming of
/// `diffusers.loaders.single_file_utils.convert_ldm_vae_checkpoint`.
///
/// | LDM                                     | diffusers                                         |
/// |-----------------------------------------|---------------------------------------------------|
/// | `encoder.down.i.block.j`                | `encoder.down_blocks.i.resnets.j`                 |
/// | `encoder.down.i.downsample.conv`        | `encoder.down_blocks.i.downsamplers.0.conv`       |
/// | `{en,de}coder.mid.block_1` / `block_2`  | `{en,de}coder.mid_block.resnets.0` / `resnets.1`  |
/// | `{en,de}coder.mid.attn_1.norm`          | `….mid_block.attentions.0.group_norm`             |
/// | `….mid.attn_1.q` / `k` / `v` / `proj_out` | `….attentions.0.to_q` / `to_k` / `to_v` / `to_out.0` (1×1 conv → linear) |
/// | `decoder.up.i.block.j`                  | `decoder.up_blocks.(levels−1−i).resnets.j`        |
/// | `decoder.up.i.upsample.conv`            | `decoder.up_blocks.(levels−1−i).upsamplers.0.conv` |
/// | `{en,de}coder.norm_out`                 | `{en,de}coder.conv_norm_out`                      |
/// | `nin_shortcut` (in a resnet)            | `conv_shortcut`                                   |
/// | `{en,de}coder.conv_in`, `conv_out`, `quant_conv`, `post_quant_conv` | unchanged             |
///
/// LDM numbers the decoder's levels from the finest (`up.0` is full resolution), diffusers from the
/// coarsest. Older diffusers folders call the attention weights `query`/`key`/`value`/`proj_attn`;
/// diffusers' converter writes the current names, and so does this.
public struct LDMVAEStructure: Sendable, Equatable {
    /// Resolution levels (`len(block_out_channels)`).
    public var levels: Int
    /// ResBlocks per encoder level (decoder levels have one more).
    public var layersPerBlock: Int

    public init(levels: Int, layersPerBlock: Int) {
        self.levels = levels
        self.layersPerBlock = layersPerBlock
    }

    /// Reads the structure from the VAE's keys (without the `first_stage_model.` prefix).
    public init(inferringFrom names: [String]) throws {
        var encoderLevels = Set<Int>(), decoderLevels = Set<Int>()
        var encoderResnets = Set<Int>(), decoderResnets = Set<Int>()
        for name in names {
            let key = LDMKey(name)
            guard key.count >= 5, let i = key.index(2), key[3] == "block", let j = key.index(4) else { continue }
            if key[0] == "encoder" && key[1] == "down" {
                encoderLevels.insert(i)
                if i == 0 { encoderResnets.insert(j) }
            } else if key[0] == "decoder" && key[1] == "up" {
                decoderLevels.insert(i)
                if i == 0 { decoderResnets.insert(j) }
            }
        }
        func count(_ indices: Set<Int>, _ what: String) throws -> Int {
            guard let last = indices.max() else { return 0 }
            guard indices.count == last + 1 else {
                throw LDMNameProblem("\(what) \(indices.sorted().map(String.init).joined(separator: ", ")) are not numbered 0…\(last)")
            }
            return last + 1
        }
        let encoder = try count(encoderLevels, "encoder.down levels")
        let decoder = try count(decoderLevels, "decoder.up levels")
        guard encoder == decoder || encoder == 0 || decoder == 0 else {
            throw LDMNameProblem("the encoder has \(encoder) levels (encoder.down.*) but the decoder \(decoder) (decoder.up.*)")
        }
        let encoderLayers = try count(encoderResnets, "encoder.down.0 resnets")
        let decoderLayers = try count(decoderResnets, "decoder.up.0 resnets")
        guard encoder == 0 || decoder == 0 || decoderLayers == encoderLayers + 1 else {
            throw LDMNameProblem("encoder levels have \(encoderLayers) resnets, decoder levels \(decoderLayers); diffusers needs one more in the decoder")
        }
        self.init(levels: max(encoder, decoder), layersPerBlock: encoder > 0 ? encoderLayers : max(decoderLayers - 1, 0))
    }

    /// The diffusers name of one VAE key (without the `first_stage_model.` prefix).
    public func diffusersName(for name: String) throws -> String {
        let key = LDMKey(name)
        func unknown(_ expected: String) -> LDMNameProblem {
            LDMNameProblem("unknown VAE key '\(name)'; expected \(expected)")
        }
        if LDMKey.isParameter(name, of: ["encoder.conv_in", "encoder.conv_out", "decoder.conv_in", "decoder.conv_out",
                                         "quant_conv", "post_quant_conv"]) {
            return name
        }
        guard key.count >= 3, key[0] == "encoder" || key[0] == "decoder" else {
            throw unknown("encoder.*, decoder.*, quant_conv or post_quant_conv")
        }
        let coder = key[0]
        switch key[1] {
        case "norm_out":
            guard key.count == 3, LDMKey.isLeaf(key[2]) else { throw unknown("\(coder).norm_out.weight|bias") }
            return "\(coder).conv_norm_out.\(key[2])"

        case "down" where coder == "encoder", "up" where coder == "decoder":
            guard let i = key.index(2), i < levels, key.count > 4 else { throw unknown("\(coder).\(key[1]).i.… with i < \(levels)") }
            // diffusers counts decoder levels from the coarsest
            let block = coder == "encoder" ? "encoder.down_blocks.\(i)" : "decoder.up_blocks.\(levels - 1 - i)"
            switch key[3] {
            case "block":
                guard let j = key.index(4) else { throw unknown("\(coder).\(key[1]).\(i).block.j.…") }
                return "\(block).resnets.\(j).\(try resnet(key.tail(from: 5), in: name))"
            case "downsample" where coder == "encoder", "upsample" where coder == "decoder":
                guard key.count == 6, key[4] == "conv", LDMKey.isLeaf(key[5]) else {
                    throw unknown("\(coder).\(key[1]).\(i).\(key[3]).conv.weight|bias")
                }
                return "\(block).\(key[3] == "downsample" ? "downsamplers" : "upsamplers").0.conv.\(key[5])"
            case "attn":
                throw LDMNameProblem("VAE attention inside the \(coder) levels ('\(name)', attn_resolutions non-empty) has no diffusers AutoencoderKL equivalent")
            default:
                throw unknown("\(coder).\(key[1]).\(i).block.j.… or .\(coder == "encoder" ? "downsample" : "upsample").conv")
            }

        case "mid":
            switch key[2] {
            case "block_1": return "\(coder).mid_block.resnets.0.\(try resnet(key.tail(from: 3), in: name))"
            case "block_2": return "\(coder).mid_block.resnets.1.\(try resnet(key.tail(from: 3), in: name))"
            case "attn_1":
                // AttnBlock: GroupNorm + 1×1 convs q, k, v, proj_out
                let layer = ["norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"][
                    String(key.count > 3 ? key[3] : "")]
                guard let layer, key.count == 5, LDMKey.isLeaf(key[4]) else {
                    throw unknown("\(coder).mid.attn_1.norm|q|k|v|proj_out.weight|bias")
                }
                return "\(coder).mid_block.attentions.0.\(layer).\(key[4])"
            default:
                throw unknown("\(coder).mid.block_1, .attn_1 or .block_2")
            }

        default:
            throw unknown("\(coder).conv_in, .\(coder == "encoder" ? "down" : "up").i, .mid, .norm_out or .conv_out")
        }
    }

    /// ResnetBlock: norm1, conv1, norm2, conv2 and, when the width changes, nin_shortcut.
    func resnet(_ tail: String, in name: String) throws -> String {
        if LDMKey.isParameter(tail, of: ["norm1", "conv1", "norm2", "conv2"]) { return tail }
        if let leaf = tail.dropping(prefix: "nin_shortcut."), LDMKey.isLeaf(leaf) { return "conv_shortcut.\(leaf)" }
        throw LDMNameProblem("unknown VAE resnet key '\(name)'; a ResnetBlock has norm1, conv1, norm2, conv2, nin_shortcut")
    }

    /// The mid-block attention's q/k/v/proj_out are 1×1 convolutions in LDM (`[C, C, 1, 1]`) and
    /// linear layers in diffusers (`[C, C]`): the same bytes under a shorter shape.
    static func linearAttentionWeight(_ tensor: SourceTensor) -> SourceTensor {
        guard tensor.name.contains(".mid_block.attentions.0.to_"), tensor.name.hasSuffix(".weight"),
              tensor.shape.count > 2, tensor.shape[2...].allSatisfy({ $0 == 1 }) else { return tensor }
        // Dropping size-1 axes keeps a strided view valid with the strides of the remaining axes.
        var out = SourceTensor(name: tensor.originalName, dtype: tensor.dtype, shape: Array(tensor.shape[..<2]),
                               file: tensor.file, byteOffset: tensor.byteOffset,
                               strides: tensor.strides.map { Array($0[..<2]) }, bigEndian: tensor.bigEndian)
        out.name = tensor.name
        return out
    }
}
