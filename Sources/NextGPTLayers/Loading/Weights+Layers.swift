import NextGPTKernels

extension Weights {
    /// The context repacks run on, when the options ask for them.
    var repackContext: ExecutionContext? { options.repackQuantized ? options.context : nil }

    /// `nn.Linear(in, out, bias)` at `<path>.<name>`, with the LoRA updates the load options give
    /// that layer and the repack they ask for.
    public func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool) throws -> LinearLayer {
        let module = pp(name)
        let weight = try module.weight("weight", shape: [out, inFeatures])
        let bias = bias ? try module.tensor("bias", shape: [out]) : nil
        return try LinearLayer(weight: weight, bias: bias, lora: ledger.lora.take(module.prefix),
                               repack: repackContext, file: file)
    }

    /// A linear layer over a weight another module already read (a tied `lm_head`).
    public func tiedLinear(_ name: String, weight: Weight) throws -> LinearLayer {
        try LinearLayer(weight: weight, bias: nil, lora: ledger.lora.take(pp(name).prefix), repack: repackContext, file: file)
    }

    /// `nn.Conv2d(in, out, kernel, stride, padding, bias)` at `<path>.<name>`.
    public func conv2d(_ name: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                       bias: Bool = true) throws -> Conv2d {
        try Conv2d(pp(name), in: inChannels, out: outChannels, kernel: kernel, stride: stride, padding: padding, hasBias: bias)
    }

    /// `nn.Conv3d(in, out, kernel, padding=padding, bias)` at `<path>.<name>` (stride 1).
    public func conv3d(_ name: String, in inChannels: Int, out outChannels: Int, kernel: [Int], padding: [Int],
                       bias: Bool = true) throws -> Conv3d {
        try Conv3d(pp(name), in: inChannels, out: outChannels, kernel: kernel, padding: padding, hasBias: bias)
    }

    /// `nn.LayerNorm(dim, eps)` at `<path>.<name>`.
    public func layerNorm(_ name: String, dim: Int, eps: Float, bias: Bool = true) throws -> LayerNorm {
        try LayerNorm(pp(name), dim: dim, eps: eps, hasBias: bias)
    }

    /// `nn.GroupNorm(groups, channels, eps)` at `<path>.<name>`.
    public func groupNorm(_ name: String, groups: Int, channels: Int, eps: Float) throws -> GroupNorm {
        try GroupNorm(pp(name), groups: groups, channels: channels, eps: eps)
    }
}

extension Weights {
    /// A linear layer over weights not named `<module>.weight` / `<module>.bias`, such as
    /// `nn.MultiheadAttention`'s packed `in_proj_weight` [3E, E] and `in_proj_bias` [3E].
    public func packedLinear(weight name: String, bias biasName: String?, out: Int, in inFeatures: Int) throws -> LinearLayer {
        let weight = try self.weight(name, shape: [out, inFeatures])
        let bias = try biasName.map { try tensor($0, shape: [out]) }
        return try LinearLayer(weight: weight, bias: bias, lora: [], repack: repackContext, file: file)
    }
}
