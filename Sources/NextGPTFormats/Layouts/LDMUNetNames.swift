import NextGPTCore
import NextGPTKernels

/// The structure of an LDM `openaimodel.UNetModel` (keys below `model.diffusion_model.`), read from
/// its keys, and the diffusers `UNet2DConditionModel` name of each key — the renaming of
/// `diffusers.loaders.single_file_utils.convert_ldm_unet_checkpoint`.
///
/// LDM numbers its blocks in one flat list per direction; diffusers groups them by resolution level:
///
/// | LDM                                   | diffusers                                         |
/// |---------------------------------------|---------------------------------------------------|
/// | `time_embed.0` / `time_embed.2`       | `time_embedding.linear_1` / `linear_2`            |
/// | `label_emb.weight`, `label_emb.0.0/2` | `class_embedding.weight`, `class_embedding.linear_1/2` |
/// | `film_emb` (AudioLDM)                 | `class_embedding`                                 |
/// | `input_blocks.0.0`                    | `conv_in`                                         |
/// | `input_blocks.N.0` (ResBlock)         | `down_blocks.L.resnets.j`                         |
/// | `input_blocks.N.1` (SpatialTransformer) | `down_blocks.L.attentions.j`                    |
/// | `input_blocks.N.0.op` (Downsample)    | `down_blocks.L.downsamplers.0.conv`               |
/// | `middle_block.0` / `.1` / `.2`        | `mid_block.resnets.0` / `attentions.0` / `resnets.1` |
/// | `output_blocks.N.0` (ResBlock)        | `up_blocks.B.resnets.j`                           |
/// | `output_blocks.N.1` (SpatialTransformer) | `up_blocks.B.attentions.j`                     |
/// | `output_blocks.N.1.conv` or `.2.conv` (Upsample) | `up_blocks.B.upsamplers.0.conv`        |
/// | `out.0` / `out.2`                     | `conv_norm_out` / `conv_out`                      |
///
/// Going down, `N = 1 + L·(layersPerBlock + 1) + j`: each level has `layersPerBlock` resnets
/// (`j < layersPerBlock`) and, but for the last level, a downsampler (`j == layersPerBlock`).
/// Going up, `N = B·(layersPerBlock + 1) + j`: each level has `layersPerBlock + 1` resnets and, but
/// for the last, an upsampler in its last block. Inside a ResBlock `in_layers.0` → `norm1`,
/// `in_layers.2` → `conv1`, `emb_layers.1` → `time_emb_proj`, `out_layers.0` → `norm2`,
/// `out_layers.3` → `conv2`, `skip_connection` → `conv_shortcut`; a SpatialTransformer's names
/// (`norm`, `proj_in`, `transformer_blocks.k.attn1.to_q`, `ff.net.0.proj`, …, `proj_out`) are the same
/// in both.
public struct LDMUNetStructure: Sendable, Equatable {
    /// Resolution levels: diffusers' number of down blocks (and of up blocks).
    public var levels: Int
    /// ResBlocks per down level (up levels have one more).
    public var layersPerBlock: Int
    /// Per down block, finest first: whether it has attentions (`CrossAttnDownBlock2D`).
    public var downAttention: [Bool]
    /// Per up block, coarsest first: whether it has attentions (`CrossAttnUpBlock2D`).
    public var upAttention: [Bool]

    public init(levels: Int, layersPerBlock: Int, downAttention: [Bool], upAttention: [Bool]) {
        self.levels = levels
        self.layersPerBlock = layersPerBlock
        self.downAttention = downAttention
        self.upAttention = upAttention
    }

    /// diffusers block types, as in a `UNet2DConditionModel` config.
    public var downBlockTypes: [String] { downAttention.map { $0 ? "CrossAttnDownBlock2D" : "DownBlock2D" } }
    public var upBlockTypes: [String] { upAttention.map { $0 ? "CrossAttnUpBlock2D" : "UpBlock2D" } }

    /// Reads the structure from the UNet's keys (without the `model.diffusion_model.` prefix).
    public init(inferringFrom names: [String]) throws {
        /// What the keys of one LDM block show; `key` / `attentionKey` name the block in problems.
        struct Block {
            var key: String
            var downsampler = false
            var attentionKey: String?
        }
        var inputBlocks: [Int: Block] = [:], outputBlocks: [Int: Block] = [:]
        for name in names {
            let key = LDMKey(name)
            guard key.count >= 4, key[0] == "input_blocks" || key[0] == "output_blocks",
                  let n = key.index(1), let m = key.index(2) else { continue }
            let input = key[0] == "input_blocks"
            if input && n == 0 { continue }  // conv_in
            var block = (input ? inputBlocks[n] : outputBlocks[n]) ?? Block(key: name)
            if input && m == 0 && key[3] == "op" { block.downsampler = true }
            if m == 1 && key[3] != "conv" && block.attentionKey == nil { block.attentionKey = name }
            if input { inputBlocks[n] = block } else { outputBlocks[n] = block }
        }

        /// A diffusers block has attention on all of its resnets or on none.
        func attention(of blocks: [Block], _ what: String) throws -> Bool {
            let with = blocks.filter { $0.attentionKey != nil }
            if with.isEmpty { return false }
            if with.count == blocks.count { return true }
            let odd = 2 * with.count <= blocks.count ? with[0].attentionKey : blocks.first { $0.attentionKey == nil }!.key
            throw LDMNameProblem("\(what) has attention on some resnets only; diffusers blocks have it on all or none", key: odd)
        }

        // Walk down: resnets (with or without attention) until a downsampler closes the level.
        guard let lastInput = inputBlocks.keys.max() else {
            throw LDMNameProblem("no input_blocks.1… (the UNet's down path) in the file")
        }
        var downLevels: [[Block]] = [[]]
        for n in 1...lastInput {
            guard let block = inputBlocks[n] else {
                throw LDMNameProblem("input_blocks.\(n) is missing, though input_blocks.\(lastInput) is present")
            }
            if block.downsampler {
                downLevels.append([])
            } else {
                downLevels[downLevels.count - 1].append(block)
            }
        }
        let layersPerBlock = downLevels[0].count
        var downAttention: [Bool] = []
        for (level, blocks) in downLevels.enumerated() {
            guard blocks.count == layersPerBlock, layersPerBlock > 0 else {
                throw LDMNameProblem("down level \(level) has \(blocks.count) resnets but level 0 has \(layersPerBlock); diffusers needs the same layers_per_block at every level",
                                     key: blocks.first?.key)
            }
            downAttention.append(try attention(of: blocks, "down level \(level)"))
        }

        // Up: levels × (layersPerBlock + 1) blocks, coarsest level first.
        let levels = downLevels.count, perUpLevel = layersPerBlock + 1
        let outputCount = (outputBlocks.keys.max() ?? -1) + 1
        guard outputCount == levels * perUpLevel, outputBlocks.count == outputCount else {
            throw LDMNameProblem("output_blocks.0…\(outputCount - 1) (\(outputBlocks.count) present) do not fit \(levels) levels × \(perUpLevel) blocks, as the input_blocks give")
        }
        let upAttention = try (0..<levels).map { level in
            try attention(of: (0..<perUpLevel).map { outputBlocks[level * perUpLevel + $0]! }, "up level \(level)")
        }
        self.init(levels: levels, layersPerBlock: layersPerBlock, downAttention: downAttention, upAttention: upAttention)
    }

    /// The diffusers name of one UNet key (without the `model.diffusion_model.` prefix).
    public func diffusersName(for name: String) throws -> String {
        let key = LDMKey(name)
        func unknown(_ expected: String) -> LDMNameProblem {
            LDMNameProblem("unknown UNet key '\(name)'; expected \(expected)")
        }
        let perLevel = layersPerBlock + 1

        switch key[0] {
        case "time_embed":
            // time_embed = Sequential(Linear, SiLU, Linear)
            let layer = ["0": "linear_1", "2": "linear_2"][String(key.count > 1 ? key[1] : "")]
            guard let layer, key.count == 3, LDMKey.isLeaf(key[2]) else { throw unknown("time_embed.0|2.weight|bias") }
            return "time_embedding.\(layer).\(key[2])"

        case "label_emb":
            // nn.Embedding of class labels, or Sequential(Sequential(Linear, SiLU, Linear)) of a projected vector
            if key.count == 2 && key[1] == "weight" { return "class_embedding.weight" }
            let layer = ["0": "linear_1", "2": "linear_2"][String(key.count > 2 ? key[2] : "")]
            guard key.count == 4, key[1] == "0", let layer, LDMKey.isLeaf(key[3]) else {
                throw unknown("label_emb.weight or label_emb.0.0|2.weight|bias")
            }
            return "class_embedding.\(layer).\(key[3])"

        case "film_emb":
            // AudioLDM's FiLM projection of the CLAP embedding (class_embed_type "simple_projection")
            guard key.count == 2, LDMKey.isLeaf(key[1]) else { throw unknown("film_emb.weight|bias") }
            return "class_embedding.\(key[1])"

        case "out":
            // out = Sequential(GroupNorm, SiLU, Conv2d)
            let layer = ["0": "conv_norm_out", "2": "conv_out"][String(key.count > 1 ? key[1] : "")]
            guard let layer, key.count == 3, LDMKey.isLeaf(key[2]) else { throw unknown("out.0|2.weight|bias") }
            return "\(layer).\(key[2])"

        case "input_blocks":
            guard let n = key.index(1), let m = key.index(2) else { throw unknown("input_blocks.N.M.…") }
            if n == 0 {
                guard m == 0, key.count == 4, LDMKey.isLeaf(key[3]) else { throw unknown("input_blocks.0.0.weight|bias") }
                return "conv_in.\(key[3])"
            }
            let level = (n - 1) / perLevel, j = (n - 1) % perLevel
            guard level < levels else { throw unknown("input_blocks up to \(levels * perLevel - 1)") }
            let block = "down_blocks.\(level)"
            if j == layersPerBlock {
                guard level < levels - 1, m == 0, key.count == 5, key[3] == "op", LDMKey.isLeaf(key[4]) else {
                    throw unknown("a downsampler input_blocks.\(n).0.op.weight|bias")
                }
                return "\(block).downsamplers.0.conv.\(key[4])"
            }
            switch m {
            case 0: return "\(block).resnets.\(j).\(try resnet(key.tail(from: 3), in: name))"
            case 1 where downAttention[level]:
                return "\(block).attentions.\(j).\(try attention(key.tail(from: 3), in: name))"
            default: throw unknown("input_blocks.\(n).0 (resnet) or .1 (attention)")
            }

        case "middle_block":
            guard let m = key.index(1), key.count > 2 else { throw unknown("middle_block.0|1|2.…") }
            switch m {
            case 0: return "mid_block.resnets.0.\(try resnet(key.tail(from: 2), in: name))"
            case 1: return "mid_block.attentions.0.\(try attention(key.tail(from: 2), in: name))"
            case 2: return "mid_block.resnets.1.\(try resnet(key.tail(from: 2), in: name))"
            default: throw unknown("middle_block.0 (resnet), .1 (attention) or .2 (resnet)")
            }

        case "output_blocks":
            guard let n = key.index(1), let m = key.index(2), key.count > 3 else { throw unknown("output_blocks.N.M.…") }
            let upBlock = n / perLevel, j = n % perLevel
            guard upBlock < levels else { throw unknown("output_blocks up to \(levels * perLevel - 1)") }
            let block = "up_blocks.\(upBlock)"
            if key[3] == "conv" && (m == 1 || m == 2) {
                // Upsample: after the resnet (.1) or after resnet + attention (.2) of a level's last block
                guard j == layersPerBlock, upBlock < levels - 1, key.count == 5, LDMKey.isLeaf(key[4]) else {
                    throw unknown("an upsampler only in the last block of a level: output_blocks.\(upBlock * perLevel + layersPerBlock).1|2.conv")
                }
                return "\(block).upsamplers.0.conv.\(key[4])"
            }
            switch m {
            case 0: return "\(block).resnets.\(j).\(try resnet(key.tail(from: 3), in: name))"
            case 1 where upAttention[upBlock]:
                return "\(block).attentions.\(j).\(try attention(key.tail(from: 3), in: name))"
            default: throw unknown("output_blocks.\(n).0 (resnet), .1 (attention) or .1|2.conv (upsampler)")
            }

        default:
            throw unknown("time_embed, label_emb, film_emb, input_blocks, middle_block, output_blocks or out")
        }
    }

    /// ResBlock: in_layers = (GroupNorm, SiLU, Conv2d), emb_layers = (SiLU, Linear),
    /// out_layers = (GroupNorm, SiLU, Dropout, Conv2d), skip_connection = 1×1 Conv2d.
    static let resnetNames = [
        ("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"),
        ("out_layers.0", "norm2"), ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut"),
    ]

    func resnet(_ tail: String, in name: String) throws -> String {
        for (ldm, diffusers) in Self.resnetNames {
            if let leaf = tail.dropping(prefix: ldm + "."), LDMKey.isLeaf(leaf) { return "\(diffusers).\(leaf)" }
        }
        throw LDMNameProblem("unknown UNet resnet key '\(name)'; a ResBlock has in_layers.0|2, emb_layers.1, out_layers.0|3, skip_connection")
    }

    /// SpatialTransformer: the same names in LDM and diffusers (Transformer2DModel).
    func attention(_ tail: String, in name: String) throws -> String {
        let key = LDMKey(tail)
        let known: Bool
        if key.count == 2 {
            known = ["norm", "proj_in", "proj_out"].contains(key[0]) && LDMKey.isLeaf(key[1])
        } else if key.count >= 4, key[0] == "transformer_blocks", key.index(1) != nil {
            let inner = key.tail(from: 2)
            known = LDMKey.isParameter(inner, of: [
                "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
                "norm1", "norm2", "norm3", "ff.net.0.proj", "ff.net.2",
            ])
        } else {
            known = false
        }
        guard known else {
            throw LDMNameProblem("unknown UNet attention key '\(name)'; a SpatialTransformer has norm, proj_in, transformer_blocks.k.{attn1,attn2}.{to_q,to_k,to_v,to_out.0}, .norm1|2|3, .ff.net.0.proj, .ff.net.2, proj_out")
        }
        return tail
    }
}
