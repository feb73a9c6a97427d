import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// A `UNet2DConditionModel` config.json read the way diffusers' constructor reads it (its defaults
/// for absent keys, per-block settings given as one value or a list). Settings our runtime does
/// not implement are rejected here, by key.
public struct UNet2DConditionConfig: Sendable {
    public enum ClassEmbedding: Sendable, Equatable {
        /// `nn.Embedding(num_class_embeds, time_embed_dim)` (no `class_embed_type`, `num_class_embeds` set).
        case embedding(count: Int)
        /// The labels through the time projection, then their own `TimestepEmbedding`.
        case timestep
        /// The labels are the embedding ([N, time_embed_dim]).
        case identity
        /// `TimestepEmbedding(projection_class_embeddings_input_dim, time_embed_dim)`.
        case projection(inputDim: Int)
        /// `nn.Linear(projection_class_embeddings_input_dim, time_embed_dim)`.
        case simpleProjection(inputDim: Int)
    }

    public var inChannels: Int
    public var outChannels: Int
    public var centerInputSample: Bool
    public var flipSinToCos: Bool
    public var freqShift: Float
    public var downBlockTypes: [String]
    public var upBlockTypes: [String]
    /// "UNetMidBlock2DCrossAttn", "UNetMidBlock2D" or nil (no mid block).
    public var midBlockType: String?
    public var onlyCrossAttention: [Bool]
    public var blockOutChannels: [Int]
    public var layersPerBlock: [Int]
    public var downsamplePadding: Int
    public var midBlockScaleFactor: Float
    public var actFn: DiffusersActivation
    public var normNumGroups: Int
    public var normEps: Float
    public var crossAttentionDim: [Int]
    public var transformerLayersPerBlock: [Int]
    /// Heads per block: diffusers' `num_attention_heads or attention_head_dim` (SD 1.x's
    /// `attention_head_dim: 8` means 8 heads).
    public var attentionHeads: [Int]
    public var useLinearProjection: Bool
    public var classEmbedding: ClassEmbedding?
    public var classEmbeddingsConcat: Bool
    public var resnetTimeScaleShift: ResnetBlock2D.TimeEmbeddingNorm
    public var timeEmbeddingDim: Int
    public var timeEmbeddingAct: DiffusersActivation?
    public var timestepPostAct: DiffusersActivation?
    public var convInKernel: Int
    public var convOutKernel: Int

    public init(_ c: DiffusersConfig) throws {
        func unsupported(_ key: String, _ why: String) -> FormatError { FormatError(c.origin, "'\(key)': \(why)") }
        inChannels = try c.int("in_channels", default: 4)
        outChannels = try c.int("out_channels", default: 4)
        centerInputSample = try c.bool("center_input_sample", default: false)
        flipSinToCos = try c.bool("flip_sin_to_cos", default: true)
        freqShift = Float(try c.double("freq_shift", default: 0))
        downBlockTypes = try c.strings("down_block_types", default: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"])
            .map { $0.hasPrefix("UNetRes") ? String($0.dropFirst(7)) : $0 }
        upBlockTypes = try c.strings("up_block_types", default: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
            .map { $0.hasPrefix("UNetRes") ? String($0.dropFirst(7)) : $0 }
        for (key, types, allowed) in [("down_block_types", downBlockTypes, ["DownBlock2D", "CrossAttnDownBlock2D"]),
                                      ("up_block_types", upBlockTypes, ["UpBlock2D", "CrossAttnUpBlock2D"])] {
            if let bad = types.first(where: { !allowed.contains($0) }) {
                throw unsupported(key, "block type '\(bad)' is not supported (\(allowed.joined(separator: ", ")))")
            }
        }
        // An explicit null means no mid block; an absent key means diffusers' default.
        midBlockType = c.values["mid_block_type"] is NSNull ? nil : try c.string("mid_block_type", default: "UNetMidBlock2DCrossAttn")
        if let mid = midBlockType, !["UNetMidBlock2DCrossAttn", "UNetMidBlock2D"].contains(mid) {
            throw unsupported("mid_block_type", "'\(mid)' is not supported (UNetMidBlock2DCrossAttn, UNetMidBlock2D, null)")
        }
        blockOutChannels = try c.ints("block_out_channels", default: [320, 640, 1280, 1280])
        let blocks = downBlockTypes.count
        guard blocks > 0, upBlockTypes.count == blocks, blockOutChannels.count == blocks else {
            throw FormatError(c.origin, "'down_block_types' (\(blocks)), 'up_block_types' (\(upBlockTypes.count)) and 'block_out_channels' (\(blockOutChannels.count)) must have the same length")
        }
        onlyCrossAttention = try c.perBlockFlag("only_cross_attention", blocks: blocks, default: false)
        layersPerBlock = try c.perBlock("layers_per_block", blocks: blocks, default: 2)
        downsamplePadding = try c.int("downsample_padding", default: 1)
        midBlockScaleFactor = Float(try c.double("mid_block_scale_factor", default: 1))
        actFn = try DiffusersActivation(try c.string("act_fn", default: "silu"), key: "act_fn", config: c)
        if actFn != .silu && actFn != .swish { throw unsupported("act_fn", "the resnets run SiLU; '\(actFn.rawValue)' is not supported") }
        guard let groups = try c.optionalInt("norm_num_groups") ?? (c.values["norm_num_groups"] is NSNull ? nil : 32) else {
            throw unsupported("norm_num_groups", "null (no output norm) is not supported")
        }
        normNumGroups = groups
        normEps = Float(try c.double("norm_eps", default: 1e-5))
        crossAttentionDim = try c.perBlock("cross_attention_dim", blocks: blocks, default: 1280)
        transformerLayersPerBlock = try c.perBlock("transformer_layers_per_block", blocks: blocks, default: 1)
        if c.has("reverse_transformer_layers_per_block") {
            throw unsupported("reverse_transformer_layers_per_block", "asymmetric UNets are not supported")
        }
        if c.has("num_attention_heads") {
            // diffusers' UNet2DConditionModel raises on it too (its heads come from attention_head_dim).
            throw unsupported("num_attention_heads", "diffusers' UNet2DConditionModel does not accept it; give the heads as 'attention_head_dim'")
        }
        attentionHeads = try c.perBlock("attention_head_dim", blocks: blocks, default: 8)
        if try c.bool("dual_cross_attention", default: false) { throw unsupported("dual_cross_attention", "true is not supported") }
        useLinearProjection = try c.bool("use_linear_projection", default: false)
        _ = try c.bool("upcast_attention", default: false)  // f32 attention: upcasting changes nothing

        let timeEmbeddingType = try c.string("time_embedding_type", default: "positional")
        guard timeEmbeddingType == "positional" else { throw unsupported("time_embedding_type", "'\(timeEmbeddingType)' is not supported (positional)") }
        timeEmbeddingDim = try c.optionalInt("time_embedding_dim") ?? blockOutChannels[0] * 4
        timeEmbeddingAct = try c.optionalString("time_embedding_act_fn").map { try DiffusersActivation($0, key: "time_embedding_act_fn", config: c) }
        timestepPostAct = try c.optionalString("timestep_post_act").map { try DiffusersActivation($0, key: "timestep_post_act", config: c) }
        for key in ["time_cond_proj_dim", "addition_embed_type", "encoder_hid_dim", "encoder_hid_dim_type"] where c.has(key) {
            throw unsupported(key, "only null is supported")
        }
        let attentionType = try c.string("attention_type", default: "default")
        guard attentionType == "default" else { throw unsupported("attention_type", "'\(attentionType)' is not supported (default)") }
        let shift = try c.string("resnet_time_scale_shift", default: "default")
        guard let norm = ResnetBlock2D.TimeEmbeddingNorm(rawValue: shift) else {
            throw unsupported("resnet_time_scale_shift", "'\(shift)' is not supported (default, scale_shift)")
        }
        resnetTimeScaleShift = norm
        convInKernel = try c.int("conv_in_kernel", default: 3)
        convOutKernel = try c.int("conv_out_kernel", default: 3)

        let projectionDim = try c.optionalInt("projection_class_embeddings_input_dim")
        func requireProjectionDim(_ type: String) throws -> Int {
            guard let projectionDim else {
                throw unsupported("projection_class_embeddings_input_dim", "class_embed_type '\(type)' requires it")
            }
            return projectionDim
        }
        switch try c.optionalString("class_embed_type") {
        case nil: classEmbedding = try c.optionalInt("num_class_embeds").map { .embedding(count: $0) }
        case "timestep": classEmbedding = .timestep
        case "identity": classEmbedding = .identity
        case "projection": classEmbedding = .projection(inputDim: try requireProjectionDim("projection"))
        case "simple_projection": classEmbedding = .simpleProjection(inputDim: try requireProjectionDim("simple_projection"))
        case let other?: throw unsupported("class_embed_type", "'\(other)' is not supported (null, timestep, identity, projection, simple_projection)")
        }
        classEmbeddingsConcat = try c.bool("class_embeddings_concat", default: false)
    }
}

/// Bad arguments to a UNet forward (shapes that do not fit the model).
public struct UNetInputError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// diffusers `UNet2DConditionModel` (models/unets/unet_2d_condition.py): the SD 1.x/2.x and
/// AudioLDM noise predictor, built entirely from the component's config.json.
public final class UNet2DConditionModel: Sendable {
    public let config: UNet2DConditionConfig
    let convIn: Conv2d
    let timeProj: Timesteps
    let timeEmbedding: TimestepEmbedding
    let classEmbedding: ClassEmbeddingModule?
    let downBlocks: [UNetDownBlock]
    let midBlock: UNetMidBlock?
    let upBlocks: [UNetUpBlock]
    let convNormOut: GroupNorm
    let convOut: Conv2d

    enum ClassEmbeddingModule {
        case embedding(Tensor)
        case timestep(TimestepEmbedding)
        case identity
        case projection(TimestepEmbedding)
        case simpleProjection(LinearLayer)
    }

    /// `component`: the container prefix, e.g. "sd15.unet" or "audioldm.unet".
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        let config = try UNet2DConditionConfig(try DiffusersConfig.load(file, component: component))
        try self.init(try Weights.component(file, component, options: options), config: config)
    }

    public init(_ w: Weights, config c: UNet2DConditionConfig) throws {
        config = c
        let channels = c.blockOutChannels
        let blocks = channels.count
        convIn = try w.conv2d("conv_in", in: c.inChannels, out: channels[0], kernel: c.convInKernel, padding: (c.convInKernel - 1) / 2)
        timeProj = Timesteps(numChannels: channels[0], flipSinToCos: c.flipSinToCos, downscaleFreqShift: c.freqShift)
        let timeDim = c.timeEmbeddingDim
        timeEmbedding = try TimestepEmbedding(w.pp("time_embedding"), in: channels[0], timeEmbedDim: timeDim,
                                              act: c.actFn, postAct: c.timestepPostAct)
        let classW = w.pp("class_embedding")
        switch c.classEmbedding {
        case nil: classEmbedding = nil
        case .embedding(let count): classEmbedding = .embedding(try classW.tensor("weight", shape: [count, timeDim]))
        case .timestep: classEmbedding = .timestep(try TimestepEmbedding(classW, in: channels[0], timeEmbedDim: timeDim, act: c.actFn))
        case .identity: classEmbedding = .identity
        case .projection(let inputDim): classEmbedding = .projection(try TimestepEmbedding(classW, in: inputDim, timeEmbedDim: timeDim))
        case .simpleProjection(let inputDim):
            classEmbedding = .simpleProjection(try w.linear("class_embedding", out: timeDim, in: inputDim, bias: true))
        }

        let settings = UNetBlockSettings(tembChannels: c.classEmbeddingsConcat && c.classEmbedding != nil ? 2 * timeDim : timeDim,
                                         groups: c.normNumGroups, eps: c.normEps, timeEmbeddingNorm: c.resnetTimeScaleShift,
                                         useLinearProjection: c.useLinearProjection)
        func attention(_ type: String, _ i: Int, onlyCross: Bool) -> UNetAttentionSettings? {
            type.hasPrefix("CrossAttn")
                ? UNetAttentionSettings(heads: c.attentionHeads[i], transformerLayers: c.transformerLayersPerBlock[i],
                                        crossAttentionDim: c.crossAttentionDim[i], onlyCrossAttention: onlyCross)
                : nil
        }
        downBlocks = try c.downBlockTypes.enumerated().map { i, type in
            try UNetDownBlock(w.pp("down_blocks").pp(i), layers: c.layersPerBlock[i], in: channels[max(i - 1, 0)],
                              out: channels[i], addDownsample: i < blocks - 1, downsamplePadding: c.downsamplePadding,
                              block: settings, attention: attention(type, i, onlyCross: c.onlyCrossAttention[i]))
        }
        switch c.midBlockType {
        case "UNetMidBlock2DCrossAttn"?:
            let last = blocks - 1
            midBlock = try UNetMidBlock(w.pp("mid_block"), channels: channels[last], outputScaleFactor: c.midBlockScaleFactor,
                                        block: settings, attention: attention("CrossAttn", last, onlyCross: false))
        case "UNetMidBlock2D"?:
            midBlock = try UNetMidBlock(w.pp("mid_block"), channels: channels[blocks - 1], outputScaleFactor: c.midBlockScaleFactor,
                                        block: settings, attention: nil)
        default: midBlock = nil
        }
        upBlocks = try c.upBlockTypes.enumerated().map { i, type in
            let level = blocks - 1 - i  // the up path walks the levels in reverse
            return try UNetUpBlock(w.pp("up_blocks").pp(i), layers: c.layersPerBlock[level] + 1,
                                   in: channels[max(level - 1, 0)], out: channels[level], prevOutput: channels[min(level + 1, blocks - 1)],
                                   addUpsample: i < blocks - 1, block: settings,
                                   attention: attention(type, level, onlyCross: c.onlyCrossAttention[level]))
        }
        convNormOut = try w.groupNorm("conv_norm_out", groups: c.normNumGroups, channels: channels[0], eps: c.normEps)
        convOut = try w.conv2d("conv_out", in: channels[0], out: c.outChannels, kernel: c.convOutKernel,
                               padding: (c.convOutKernel - 1) / 2)
        try w.finish()
    }

    /// The UNet's noise prediction, as diffusers' `unet(sample, timestep, encoder_hidden_states=…,
    /// class_labels=…).sample`.
    /// - sample: [N, in_channels, H, W]
    /// - timestep: one per sample, or one for all (fractional values allowed; taken as f32 as diffusers does)
    /// - encoderHiddenStates: [N, S, cross_attention_dim], or nil (the transformers then attend to themselves)
    /// - classLabels: for `class_embed_type` timestep [N] (or [N, 1]); identity [N, time_embed_dim];
    ///   (simple_)projection [N, projection_class_embeddings_input_dim]; an embedding table: ids [N].
    ///   One row is broadcast to the batch.
    public func callAsFunction(sample input: Tensor, timestep: [Double], encoderHiddenStates: Tensor?,
                               classLabels: Tensor? = nil, context: ExecutionContext) throws -> Tensor {
        try context.withActivationArena("unet") {
            try forward(sample: input, timestep: timestep, encoderHiddenStates: encoderHiddenStates, classLabels: classLabels,
                        context: context)
        }
    }

    func forward(sample input: Tensor, timestep: [Double], encoderHiddenStates: Tensor?,
                 classLabels: Tensor?, context: ExecutionContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == config.inChannels, input.shape[0] > 0 else {
            throw UNetInputError("sample \(input.shape) is not [N, \(config.inChannels), H, W]")
        }
        let n = input.shape[0]
        if let encoder = encoderHiddenStates {
            guard encoder.rank == 3, encoder.shape[0] == n else {
                throw UNetInputError("encoder_hidden_states \(encoder.shape) is not [\(n), S, C] for a batch of \(n)")
            }
            let widths = Set(zip(config.downBlockTypes, config.crossAttentionDim).filter { $0.0.hasPrefix("CrossAttn") }.map(\.1))
            if let width = widths.first(where: { $0 != encoder.shape[2] }) {
                throw UNetInputError("encoder_hidden_states width \(encoder.shape[2]) differs from cross_attention_dim \(width)")
            }
        }
        guard timestep.count == 1 || timestep.count == n else {
            throw UNetInputError("\(timestep.count) timesteps for a batch of \(n) (give one, or one per sample)")
        }
        let timesteps = (timestep.count == 1 ? [Double](repeating: timestep[0], count: n) : timestep).map(Float.init)

        var sample = input
        if config.centerInputSample {
            let minusOne = Tensor(shape: sample.shape, values: [Float](repeating: -1, count: sample.count))
            sample = Elementwise.add(Elementwise.scale(sample, by: 2), minusOne)
        }

        var emb = timeEmbedding(timeProj(timesteps), context)
        if let classEmb = try classEmbedding(classLabels, batch: n, context) {
            emb = config.classEmbeddingsConcat ? Shape.cat([emb, classEmb], dim: 1) : Elementwise.add(emb, classEmb)
        }
        if let act = config.timeEmbeddingAct { emb = act(emb, context) }

        // Latent sizes that the up path cannot reach by doubling: each upsampler is told the size of the skip it meets.
        let overallUpFactor = 1 << (upBlocks.count - 1)
        let forwardUpsampleSize = sample.shape[2...].contains { $0 % overallUpFactor != 0 }

        sample = convIn(sample, context)
        var skips = [sample]
        for block in downBlocks {
            let (hidden, outputs) = block(sample, temb: emb, encoderHiddenStates: encoderHiddenStates, context)
            sample = hidden
            skips += outputs
        }
        if let midBlock { sample = midBlock(sample, temb: emb, encoderHiddenStates: encoderHiddenStates, context) }
        for (i, block) in upBlocks.enumerated() {
            let own = Array(skips.suffix(block.layers))
            skips.removeLast(block.layers)
            let upsampleSize = i < upBlocks.count - 1 && forwardUpsampleSize ? Array(skips[skips.count - 1].shape[2...]) : nil
            sample = block(sample, skips: own, temb: emb, encoderHiddenStates: encoderHiddenStates, upsampleSize: upsampleSize,
                           context)
        }
        return convOut(Activations.silu(convNormOut(sample, context), context: context), context)
    }

    /// The class embedding [N, time_embed_dim] of `labels`, or nil when the model has none.
    func classEmbedding(_ labels: Tensor?, batch n: Int, _ context: ExecutionContext) throws -> Tensor? {
        guard let module = classEmbedding else { return nil }
        guard let labels else { throw UNetInputError("this UNet has a class embedding: class_labels are required") }
        let rows = labels.rank == 0 ? 1 : labels.shape[0]
        guard rows == 1 || rows == n else { throw UNetInputError("class_labels \(labels.shape): \(rows) rows for a batch of \(n)") }
        func broadcast(_ t: Tensor) -> Tensor { rows == n ? t : Shape.cat([Tensor](repeating: t, count: n), dim: 0) }
        func matrix(width: Int) throws -> Tensor {
            guard labels.count == rows * width else { throw UNetInputError("class_labels \(labels.shape) is not [N, \(width)]") }
            return broadcast(labels.reshaped([rows, width]))
        }
        func scalars() throws -> [Float] {
            guard labels.count == rows else { throw UNetInputError("class_labels \(labels.shape) must hold one value per sample") }
            let values = labels.values
            return rows == n ? values : [Float](repeating: values[0], count: n)
        }
        switch module {
        case .embedding(let table):
            let ids = try scalars()
            guard ids.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && Int($0) < table.shape[0] }) else {
                throw UNetInputError("class_labels \(ids) are not ids below \(table.shape[0])")
            }
            return Embeddings.embedding(ids.map { Int($0) }, weight: table)
        case .timestep(let embedding): return embedding(timeProj(try scalars()), context)
        case .identity: return try matrix(width: config.timeEmbeddingDim)
        case .projection(let embedding): return embedding(try matrix(width: embedding.inFeatures), context)
        case .simpleProjection(let linear): return linear(try matrix(width: linear.inFeatures), context)
        }
    }
}
