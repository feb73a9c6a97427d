import Foundation
import NextGPTFormats
import NextGPTLayers
import NextGPTLlama
import NextGPTTokenizers

/// What the container can serve, read once from its component list: each model id an endpoint
/// accepts, and what a chat may take and give.
package struct ContainerCatalog: Sendable {
    /// Model ids, as `/v1/models` lists them and requests name them.
    package enum Model: String, Sendable, CaseIterable {
        /// NExT-GPT any-to-any chat (LLM + its projections; ImageBind for media in, decoders for media out).
        case nextgpt
        /// Plain Vicuna chat, for a container with a LLaMA but no NExT-GPT projections.
        case vicuna
        case sd15, audioldm, zeroscope

        package var endpoint: String {
            switch self {
            case .nextgpt, .vicuna: return "chat"
            case .sd15: return "images"
            case .audioldm: return "audio"
            case .zeroscope: return "videos"
            }
        }
    }

    package let components: [String]
    package let models: [Model]
    /// The LLM's tokenizer and context length, for the prompt-length check before a chat computes.
    package let tokenizer: SentencePieceTokenizer?
    package let contextLength: Int?

    package init(file: ModelFile) throws {
        let components = file.container.components
        if components.contains("vicuna") {
            self.init(components: components, tokenizer: try SentencePieceTokenizer(metadata: file.metadata, component: "vicuna"),
                      contextLength: try LlamaConfig.load(file, component: "vicuna").maxPositionEmbeddings)
        } else {
            self.init(components: components, tokenizer: nil, contextLength: nil)
        }
    }

    /// What a container of these components serves; the request checks need nothing else (the
    /// fuzz target builds one without a container).
    package init(components: [String], tokenizer: SentencePieceTokenizer?, contextLength: Int?) {
        self.components = components
        let has = { (name: String) in components.contains(name) }
        var models: [Model] = []
        if has("vicuna") { models.append(has("nextgpt") ? .nextgpt : .vicuna) }
        if has("sd15.unet") { models.append(.sd15) }
        if has("audioldm.unet") { models.append(.audioldm) }
        if has("zeroscope.unet") { models.append(.zeroscope) }
        self.models = models
        (self.tokenizer, self.contextLength) = (tokenizer, contextLength)
    }

    package var hasImageBind: Bool { components.contains("imagebind") }

    /// What a chat with `model` can give back beside text.
    package var outputs: [String] {
        guard models.contains(.nextgpt) else { return [] }
        return [(Model.sd15, "image"), (.audioldm, "audio"), (.zeroscope, "video")].filter { models.contains($0.0) }.map(\.1)
    }

    /// The model an endpoint runs: the one named (which must be this endpoint's and present) or its only one.
    package func model(_ requested: String?, endpoint: String) throws -> Model {
        let candidates = models.filter { $0.endpoint == endpoint }
        if let requested {
            if let model = candidates.first(where: { $0.rawValue == requested }) { return model }
            let known = models.map(\.rawValue).joined(separator: ", ")
            throw APIError(status: .notFound, message: "model '\(requested)' is not served here (this container serves: \(known.isEmpty ? "nothing" : known))",
                           param: "model", code: "model_not_found")
        }
        guard let model = candidates.first else {
            throw APIError.absent("this container has no component for /v1/\(endpoint == "chat" ? "chat/completions" : endpoint + "/generations") (it holds: \(components.joined(separator: ", ")))")
        }
        return model
    }
}
