import Foundation

/// A request as JSON, under the names of diffusers' `AudioLDMPipeline.__call__` arguments
/// (`num_inference_steps`, `guidance_scale`, `audio_length_in_s`, …) plus `seed` and `scheduler`;
/// a missing key keeps the default of `AudioLDMRequest(prompt:)` (and a missing prompt is "", for
/// requests that bring `prompt_embeds`). Tensors travel beside the request.
extension AudioLDMRequest: JSONRequest {
    enum CodingKeys: String, CodingKey {
        case prompt
        case negativePrompt = "negative_prompt"
        case steps = "num_inference_steps"
        case guidanceScale = "guidance_scale"
        case audioLengthInS = "audio_length_in_s"
        case scheduler, seed, eta
    }

    /// Every coded field, as one construction for the callers that have them all (the CLI).
    public init(prompt: String, negativePrompt: String, steps: Int, guidanceScale: Double, audioLengthInS: Double?,
                scheduler: String?, seed: UInt64, eta: Double) {
        self.init(prompt: prompt)
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.audioLengthInS = audioLengthInS
        self.scheduler = scheduler
        self.seed = seed
        self.eta = eta
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AudioLDMRequest(prompt: try c.decodeIfPresent(String.self, forKey: .prompt) ?? "")
        self.init(
            prompt: defaults.prompt,
            negativePrompt: try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? defaults.negativePrompt,
            steps: try c.decodeIfPresent(Int.self, forKey: .steps) ?? defaults.steps,
            guidanceScale: try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? defaults.guidanceScale,
            audioLengthInS: try c.decodeIfPresent(Double.self, forKey: .audioLengthInS) ?? defaults.audioLengthInS,
            scheduler: try c.decodeIfPresent(String.self, forKey: .scheduler) ?? defaults.scheduler,
            seed: try c.decodeSeed(forKey: .seed) ?? defaults.seed,
            eta: try c.decodeIfPresent(Double.self, forKey: .eta) ?? defaults.eta)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(negativePrompt, forKey: .negativePrompt)
        try c.encode(steps, forKey: .steps)
        try c.encode(guidanceScale, forKey: .guidanceScale)
        try c.encodeIfPresent(audioLengthInS, forKey: .audioLengthInS)
        try c.encodeIfPresent(scheduler, forKey: .scheduler)
        try c.encode(seed, forKey: .seed)
        try c.encode(eta, forKey: .eta)
    }
}
