import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTTokenizers

/// The text side every diffusers pipeline here shares: `encode_prompt` with the pipeline's CLIP
/// tokenizer and text encoder, or the embeddings a caller gives instead (`prompt_embeds=`,
/// `negative_prompt_embeds=`: NExT-GPT's path), joined for classifier-free guidance.
struct PromptConditioning {
    let path: String
    let pipeline: String
    let tokenizer: CLIPTokenizer
    let textEncoder: CLIPTextModel?
    /// The UNet's cross-attention width: what given embeddings must end in.
    let width: Int

    /// `cat([negative_prompt_embeds, prompt_embeds])` when `guided`, else `prompt_embeds` alone;
    /// given embeddings win over the texts.
    func embeddings(prompt: String, negativePrompt: String, promptEmbeds: Tensor?, negativePromptEmbeds: Tensor?,
                    clipSkip: Int, guided: Bool, context: ExecutionContext) throws -> Tensor {
        let positive = try promptEmbeds.map { try check($0, "prompt_embeds") }
            ?? encode(prompt, clipSkip: clipSkip, context: context)
        guard guided else { return positive }
        let negative = try negativePromptEmbeds.map { try check($0, "negative_prompt_embeds") }
            ?? encode(negativePrompt, clipSkip: 0, context: context)
        guard negative.shape == positive.shape else {
            throw FormatError(path, "negative_prompt_embeds \(negative.shape) and prompt_embeds \(positive.shape) differ")
        }
        return Shape.cat([negative, positive], dim: 0)
    }

    /// Given embeddings must be [1, tokens, cross_attention_dim].
    func check(_ embeds: Tensor, _ name: String) throws -> Tensor {
        guard embeds.rank == 3, embeds.shape[0] == 1, embeds.shape[1] > 0, embeds.shape[2] == width else {
            throw FormatError(path, "\(name) has shape \(embeds.shape); expected [1, tokens, \(width)]")
        }
        return embeds
    }

    /// `text_encoder(tokenizer(text, padding="max_length", truncation=True).input_ids)`, or the
    /// clip-skip hidden state through the final layer norm: [1, 77, D].
    func encode(_ text: String, clipSkip: Int, context: ExecutionContext) throws -> Tensor {
        guard let textEncoder else {
            throw FormatError(path, "has no \(pipeline).text_encoder (converted with --drop-text-encoders): give prompt_embeds and negative_prompt_embeds")
        }
        return try textEncoder([tokenizer(text)], clipSkip: clipSkip, context: context).lastHiddenState
    }
}
