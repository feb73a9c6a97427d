import Foundation
import NextGPTConvert
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTokenizers

/// The negative conditioning of NExT-GPT's three decoders: its projectors replace the prompt, and
/// the negative is always the empty prompt, so each decoder's text encoder only ever computes one
/// constant (NEXTGPT.md §1.6 (e)): `E_sd("")` [1, 77, 768], `E_zs("")` [1, 77, 1024] and
/// `normalize(E_clap(""))` [1, 512]. `convert` computes them once and stores them as
/// `<pipeline>.negative_prompt_embeds` (float32 metadata, shape in `….shape`), so a container may
/// leave the text encoders out and still run NExT-GPT exactly.
public enum DecoderNegatives {
    public static func key(_ pipeline: String) -> String { "\(pipeline).negative_prompt_embeds" }

    /// The constant of `pipeline` (`sd15`, `zeroscope`: a CLIP text encoder; `audioldm`: CLAP)
    /// from its text encoder and tokenizer in `file`.
    public static func compute(_ file: ModelFile, pipeline: String, context: ExecutionContext) throws -> Tensor {
        let component = "\(pipeline).text_encoder"
        if pipeline == "audioldm" {
            let tokenizer = try RobertaTokenizer(metadata: file.metadata, prefix: "\(pipeline).tokenizer")
            let encoder = try ClapTextModelWithProjection(file, component: component, options: LoadOptions(context: context))
            // diffusers tokenizes the negative to `max_length = prompt_embeds.shape[1]`: the projection width.
            let encoding = tokenizer("", maxLength: encoder.config.projectionDim)
            let embeds = try encoder([encoding.ids], attentionMask: [encoding.attentionMask], context: context).textEmbeds
            return ClapTextModelWithProjection.normalized(embeds)
        }
        let tokenizer = try CLIPTokenizer(metadata: file.metadata, prefix: "\(pipeline).tokenizer")
        let encoder = try CLIPTextModel(file, component: component, options: LoadOptions(context: context))
        return try encoder([tokenizer("")], context: context).lastHiddenState
    }

    /// Metadata entries that store `negatives` (by pipeline).
    public static func metadata(_ negatives: [String: Tensor]) -> [(String, GGUFValue)] {
        negatives.sorted { $0.key < $1.key }.flatMap { pipeline, tensor in
            [(key(pipeline), GGUFValue.float32s(tensor.values)), (key(pipeline) + ".shape", GGUFValue.int32s(tensor.shape.map(Int32.init)))]
        }
    }

    /// The stored constant of `pipeline`, nil when the container has none.
    public static func stored(_ file: ModelFile, pipeline: String) throws -> Tensor? {
        guard let value = file.metadata[key(pipeline)] else { return nil }
        guard case .array(.float32, let items) = value, let shape = file.metadata[key(pipeline) + ".shape"]?.intArray,
              shape.reduce(1, *) == items.count else {
            throw FormatError(file.container.file.path, "\(key(pipeline)) is not a float32 array matching its .shape")
        }
        return Tensor(shape: shape, values: items.map { if case .float32(let f) = $0 { return f } else { return 0 } })
    }
}

extension DecoderNegatives {
    /// Computes the constant of every pipeline of `plan` that has a text encoder (converting just
    /// those encoders and tokenizers to a temporary f32 container beside `output`), stores them in
    /// the plan's metadata, and drops the text encoders when asked. Returns the pipelines done.
    @discardableResult
    public static func attach(to plan: inout ConversionPlan, output: String, dropTextEncoders: Bool,
                              context: ExecutionContext) throws -> [String] {
        let pipelines = ["sd15", "zeroscope", "audioldm"].filter { p in plan.components.contains { $0.name == "\(p).text_encoder" } }
        guard !pipelines.isEmpty else { return [] }
        var encoders = ConversionPlan()
        encoders.components = plan.components.filter { c in pipelines.contains { c.name == "\($0).text_encoder" } }
        encoders.metadata = plan.metadata.filter { key, _ in pipelines.contains { key.hasPrefix("\($0).tokenizer.") } }
        let url = URL(fileURLWithPath: output)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).encoders-\(getpid()).gguf").path
        defer { unlink(temporary) }
        var options = ConversionOptions(policy: QuantizationPolicy(type: .f32))
        options.hashSources = false
        _ = try Converter.convert(encoders, options: options, to: temporary)
        let file = try ModelFile(path: temporary)
        var negatives: [String: Tensor] = [:]
        for pipeline in pipelines { negatives[pipeline] = try compute(file, pipeline: pipeline, context: context) }
        plan.metadata += metadata(negatives)
        if dropTextEncoders { plan.components.removeAll { c in pipelines.contains { c.name == "\($0).text_encoder" } } }
        return pipelines
    }
}
