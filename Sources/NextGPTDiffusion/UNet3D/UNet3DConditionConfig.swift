import Foundation
import NextGPTCore
import NextGPTFormats

/// A `UNet3DConditionModel` config.json read the way diffusers' constructor reads it (its
/// defaults for absent keys: ModelScope's / ZeroScope's four levels). Settings our runtime does
/// not implement, and those diffusers itself refuses, are rejected here, by key.
public struct UNet3DConditionConfig: Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var downBlockTypes: [String]
    public var upBlockTypes: [String]
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var downsamplePadding: Int
    public var midBlockScaleFactor: Float
    public var actFn: DiffusersActivation
    public var normNumGroups: Int
    public var normEps: Float
    public var crossAttentionDim: Int
    /// The config's `attention_head_dim`. diffusers' UNet3D passes it to its blocks as
    /// `num_attention_heads`, and the blocks build `Transformer2DModel(out_channels // n, n)`: so it
    /// is the head *width* of every spatial and temporal transformer (ZeroScope's 64 gives 5, 10,
    /// 20, 20 heads), and `transformer_in` has 8 heads of it.
    public var attentionHeadDim: Int
    /// `transformer_in`'s head count (fixed in diffusers).
    public static let transformerInHeads = 8

    /// `time_embed_dim` = 4 × `block_out_channels[0]`.
    public var timeEmbeddingDim: Int { 4 * blockOutChannels[0] }

    public init(_ c: DiffusersConfig) throws {
        func unsupported(_ key: String, _ why: String) -> FormatError { FormatError(c.origin, "'\(key)': \(why)") }
        inChannels = try c.int("in_channels", default: 4)
        outChannels = try c.int("out_channels", default: 4)
        downBlockTypes = try c.strings("down_block_types", default: ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"])
        upBlockTypes = try c.strings("up_block_types", default: ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"])
        for (key, types, allowed) in [("down_block_types", downBlockTypes, ["CrossAttnDownBlock3D", "DownBlock3D"]),
                                      ("up_block_types", upBlockTypes, ["UpBlock3D", "CrossAttnUpBlock3D"])] {
            if let bad = types.first(where: { !allowed.contains($0) }) {
                throw unsupported(key, "block type '\(bad)' is not supported (\(allowed.joined(separator: ", ")))")
            }
        }
        blockOutChannels = try c.ints("block_out_channels", default: [320, 640, 1280, 1280])
        let blocks = downBlockTypes.count
        guard blocks > 0, upBlockTypes.count == blocks, blockOutChannels.count == blocks else {
            throw FormatError(c.origin, "'down_block_types' (\(blocks)), 'up_block_types' (\(upBlockTypes.count)) and 'block_out_channels' (\(blockOutChannels.count)) must have the same length")
        }
        guard blockOutChannels.allSatisfy({ $0 > 0 }) else { throw unsupported("block_out_channels", "widths must be positive") }
        layersPerBlock = try c.int("layers_per_block", default: 2)
        guard layersPerBlock > 0 else { throw unsupported("layers_per_block", "must be at least 1") }
        downsamplePadding = try c.int("downsample_padding", default: 1)
        midBlockScaleFactor = Float(try c.double("mid_block_scale_factor", default: 1))
        actFn = try DiffusersActivation(try c.string("act_fn", default: "silu"), key: "act_fn", config: c)
        if actFn != .silu && actFn != .swish { throw unsupported("act_fn", "the resnets run SiLU; '\(actFn.rawValue)' is not supported") }
        guard let groups = try c.optionalInt("norm_num_groups") ?? (c.values["norm_num_groups"] is NSNull ? nil : 32) else {
            throw unsupported("norm_num_groups", "null (no output norm) is not supported")
        }
        normNumGroups = groups
        normEps = Float(try c.double("norm_eps", default: 1e-5))
        crossAttentionDim = try c.int("cross_attention_dim", default: 1024)
        if c.has("num_attention_heads") {
            // diffusers' UNet3DConditionModel raises NotImplementedError on it (the naming issue #2011).
            throw unsupported("num_attention_heads", "diffusers' UNet3DConditionModel does not accept it; give the head width as 'attention_head_dim'")
        }
        // A list would reach `transformer_in` as a tuple, which diffusers cannot build either.
        attentionHeadDim = try c.int("attention_head_dim", default: 64)
        guard attentionHeadDim > 0 else { throw unsupported("attention_head_dim", "must be positive") }
        if c.has("time_cond_proj_dim") { throw unsupported("time_cond_proj_dim", "timestep conditioning is not supported") }
    }
}
