import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// NExT-GPT's `llama_proj = nn.Linear(1024, 4096)` (`anyToImageVideoAudio.py`): an ImageBind
/// embedding as one LLM input position. It lives in the `nextgpt` component beside the output
/// projectors and the tokens, which other modules read, so this load checks only its own tensors.
public final class NExTGPTInputProjection: Sendable {
    public let llamaProj: LinearLayer

    public init(_ file: ModelFile, component: String = "nextgpt", options: LoadOptions = LoadOptions()) throws {
        let w = try Weights.component(file, component, options: options)
        llamaProj = try w.linear("llama_proj", out: -1, in: -1, bias: true)
    }

    public struct InputError: Error, CustomStringConvertible {
        public let description: String
    }

    public var inFeatures: Int { llamaProj.inFeatures }
    public var outFeatures: Int { llamaProj.outFeatures }

    /// embedding [N, in] → [N, 1, out] (`llama_proj(feature).unsqueeze(1)`).
    public func callAsFunction(_ embedding: Tensor, context: ExecutionContext) throws -> Tensor {
        guard embedding.rank == 2, embedding.shape[1] == inFeatures else {
            throw InputError(description: "llama_proj input has shape \(embedding.shape); expected [N, \(inFeatures)]")
        }
        return llamaProj(embedding, context).reshaped([embedding.shape[0], 1, outFeatures])
    }
}
