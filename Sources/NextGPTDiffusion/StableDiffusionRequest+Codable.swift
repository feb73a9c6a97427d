import Foundation

/// A request as JSON, under the names of diffusers' `StableDiffusionPipeline.__call__` arguments
/// (`num_inference_steps`, `guidance_scale`, …) plus `seed`, `scheduler` and `vae_tiling`; a
/// missing key keeps the default of `StableDiffusionRequest(prompt:)`. Tensors (`latents`, the
/// init image) are not coded: they travel beside the request. Verify decodes a probe's arguments
/// with this, and the server will decode its bodies with it.
extension StableDiffusionRequest: JSONRequest {
    enum CodingKeys: String, CodingKey {
        case prompt
        case negativePrompt = "negative_prompt"
        case steps = "num_inference_steps"
        case guidanceScale = "guidance_scale"
        case scheduler, height, width, seed, eta
        case clipSkip = "clip_skip"
        case strength
        case vaeTiling = "vae_tiling"
    }

    /// Every coded field, as one construction for the callers that have them all (the CLI).
    public init(prompt: String, negativePrompt: String, steps: Int, guidanceScale: Double, scheduler: String?,
                height: Int?, width: Int?, seed: UInt64, eta: Double, clipSkip: Int, strength: Double, vaeTiling: Bool) {
        self.init(prompt: prompt)
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.scheduler = scheduler
        self.height = height
        self.width = width
        self.seed = seed
        self.eta = eta
        self.clipSkip = clipSkip
        self.strength = strength
        self.vaeTiling = vaeTiling
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = StableDiffusionRequest(prompt: try c.decode(String.self, forKey: .prompt))
        self.init(
            prompt: defaults.prompt,
            negativePrompt: try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? defaults.negativePrompt,
            steps: try c.decodeIfPresent(Int.self, forKey: .steps) ?? defaults.steps,
            guidanceScale: try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? defaults.guidanceScale,
            scheduler: try c.decodeIfPresent(String.self, forKey: .scheduler) ?? defaults.scheduler,
            height: try c.decodeIfPresent(Int.self, forKey: .height) ?? defaults.height,
            width: try c.decodeIfPresent(Int.self, forKey: .width) ?? defaults.width,
            seed: try c.decodeSeed(forKey: .seed) ?? defaults.seed,
            eta: try c.decodeIfPresent(Double.self, forKey: .eta) ?? defaults.eta,
            clipSkip: try c.decodeIfPresent(Int.self, forKey: .clipSkip) ?? defaults.clipSkip,
            strength: try c.decodeIfPresent(Double.self, forKey: .strength) ?? defaults.strength,
            vaeTiling: try c.decodeIfPresent(Bool.self, forKey: .vaeTiling) ?? defaults.vaeTiling)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(negativePrompt, forKey: .negativePrompt)
        try c.encode(steps, forKey: .steps)
        try c.encode(guidanceScale, forKey: .guidanceScale)
        try c.encodeIfPresent(scheduler, forKey: .scheduler)
        try c.encodeIfPresent(height, forKey: .height)
        try c.encodeIfPresent(width, forKey: .width)
        try c.encode(seed, forKey: .seed)
        try c.encode(eta, forKey: .eta)
        try c.encode(clipSkip, forKey: .clipSkip)
        try c.encode(strength, forKey: .strength)
        try c.encode(vaeTiling, forKey: .vaeTiling)
    }
}

/// A pipeline request that travels as JSON under diffusers' argument names (verify probes, the server).
public protocol JSONRequest: Codable {}

extension JSONRequest {
    /// Decodes a JSON object; the error names the argument at fault.
    public init(json: Data) throws {
        do {
            self = try JSONDecoder().decode(Self.self, from: json)
        } catch let error as DecodingError {
            throw RequestArgumentError(error)
        }
    }
}

/// A request argument that is missing or of the wrong type, named as the JSON names it.
public struct RequestArgumentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The argument at fault, as the JSON names it (nil when the whole body is wrong).
    public let argument: String?

    public init(_ description: String, argument: String? = nil) {
        self.description = description
        self.argument = argument
    }

    init(_ error: DecodingError) {
        func name(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            argument = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            argument = context.codingPath.isEmpty ? nil : name(context)
        @unknown default:
            argument = nil
        }
        switch error {
        case .keyNotFound(let key, _):
            description = "argument '\(key.stringValue)' is required"
        case .typeMismatch(let type, let context):
            description = "argument '\(name(context))' must be \(Self.kind(type))"
        case .valueNotFound(let type, let context):
            description = "argument '\(name(context))' must be \(Self.kind(type)), got null"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            description = "argument '\(name(context))': \(context.debugDescription)"
        case .dataCorrupted(let context):
            description = "request is not a JSON object: \(context.debugDescription)"
        @unknown default:
            description = "\(error)"
        }
    }

    /// How the error names a JSON type ("an integer", "a string").
    public static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is UInt64.Type: return "a non-negative integer"
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        default: return "a \(type)"
        }
    }
}

extension KeyedDecodingContainer {
    /// A seed: a non-negative integer. Foundation on Linux reports a negative number read as
    /// UInt64 as invalid JSON, without the key, so it is read signed first.
    func decodeSeed(forKey key: Key) throws -> UInt64? {
        if let signed = try? decodeIfPresent(Int64.self, forKey: key) {
            guard signed >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "must be non-negative, got \(signed)")
            }
            return UInt64(signed)
        }
        return try decodeIfPresent(UInt64.self, forKey: key)
    }
}
