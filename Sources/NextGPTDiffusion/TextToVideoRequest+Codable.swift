import Foundation

/// A video request as JSON, under the names of diffusers' `TextToVideoSDPipeline.__call__`
/// arguments (`num_inference_steps`, `num_frames`, `guidance_scale`, …) plus `seed`, `scheduler`,
/// `decode_chunk_size`, `vae_tiling` and `split_guidance_batch`; a missing key keeps the default of
/// `TextToVideoRequest(prompt:)`. Tensors (`latents`, `prompt_embeds`) travel beside the request.
extension TextToVideoRequest: JSONRequest {
    enum CodingKeys: String, CodingKey {
        case prompt
        case negativePrompt = "negative_prompt"
        case steps = "num_inference_steps"
        case guidanceScale = "guidance_scale"
        case numFrames = "num_frames"
        case scheduler, height, width, seed, eta
        case clipSkip = "clip_skip"
        case decodeChunkSize = "decode_chunk_size"
        case vaeTiling = "vae_tiling"
        case splitGuidanceBatch = "split_guidance_batch"
    }

    /// Every coded field, as one construction for the callers that have them all (the CLI).
    public init(prompt: String, negativePrompt: String, steps: Int, guidanceScale: Double, numFrames: Int, scheduler: String?,
                height: Int?, width: Int?, seed: UInt64, eta: Double, clipSkip: Int = 0, decodeChunkSize: Int = 1, vaeTiling: Bool = false) {
        self.init(prompt: prompt)
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.numFrames = numFrames
        self.scheduler = scheduler
        self.height = height
        self.width = width
        self.seed = seed
        self.eta = eta
        self.clipSkip = clipSkip
        self.decodeChunkSize = decodeChunkSize
        self.vaeTiling = vaeTiling
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TextToVideoRequest(prompt: try c.decode(String.self, forKey: .prompt))
        self.init(
            prompt: defaults.prompt,
            negativePrompt: try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? defaults.negativePrompt,
            steps: try c.decodeIfPresent(Int.self, forKey: .steps) ?? defaults.steps,
            guidanceScale: try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? defaults.guidanceScale,
            numFrames: try c.decodeIfPresent(Int.self, forKey: .numFrames) ?? defaults.numFrames,
            scheduler: try c.decodeIfPresent(String.self, forKey: .scheduler) ?? defaults.scheduler,
            height: try c.decodeIfPresent(Int.self, forKey: .height) ?? defaults.height,
            width: try c.decodeIfPresent(Int.self, forKey: .width) ?? defaults.width,
            seed: try Self.decodeSeed(c) ?? defaults.seed,
            eta: try c.decodeIfPresent(Double.self, forKey: .eta) ?? defaults.eta,
            clipSkip: try c.decodeIfPresent(Int.self, forKey: .clipSkip) ?? defaults.clipSkip,
            decodeChunkSize: try c.decodeIfPresent(Int.self, forKey: .decodeChunkSize) ?? defaults.decodeChunkSize,
            vaeTiling: try c.decodeIfPresent(Bool.self, forKey: .vaeTiling) ?? defaults.vaeTiling)
        splitGuidanceBatch = try c.decodeIfPresent(Bool.self, forKey: .splitGuidanceBatch)
    }

    /// Foundation on Linux reports a negative number read as UInt64 as invalid JSON, without the key.
    static func decodeSeed(_ c: KeyedDecodingContainer<CodingKeys>) throws -> UInt64? {
        if let signed = try? c.decodeIfPresent(Int64.self, forKey: .seed) {
            guard signed >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .seed, in: c, debugDescription: "must be non-negative, got \(signed)")
            }
            return UInt64(signed)
        }
        return try c.decodeIfPresent(UInt64.self, forKey: .seed)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(negativePrompt, forKey: .negativePrompt)
        try c.encode(steps, forKey: .steps)
        try c.encode(guidanceScale, forKey: .guidanceScale)
        try c.encode(numFrames, forKey: .numFrames)
        try c.encodeIfPresent(scheduler, forKey: .scheduler)
        try c.encodeIfPresent(height, forKey: .height)
        try c.encodeIfPresent(width, forKey: .width)
        try c.encode(seed, forKey: .seed)
        try c.encode(eta, forKey: .eta)
        try c.encode(clipSkip, forKey: .clipSkip)
        try c.encode(decodeChunkSize, forKey: .decodeChunkSize)
        try c.encode(vaeTiling, forKey: .vaeTiling)
        try c.encodeIfPresent(splitGuidanceBatch, forKey: .splitGuidanceBatch)
    }
}
