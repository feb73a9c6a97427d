import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// Which decoder an output projector feeds, and its module in the `nextgpt` component
/// (`anyToImageVideoAudio.py`: one `TextFcLayer` per list, `text_emb_to_*_layers = [-1]`).
public enum SignalModality: String, Sendable, CaseIterable {
    case image, video, audio

    public var projectorModule: String {
        switch self {
        case .image: return "gen_text_hidden_fcs.0"
        case .video: return "gen_text_hidden_fcs_video.0"
        case .audio: return "gen_text_hidden_fcs_audio.0"
        }
    }
}

/// NExT-GPT's `TextFcLayer` in `transformer` mode (`model/layers.py`): the LLM's hidden states of
/// a run of signal tokens plus their input embeddings → `fc` → an `nn.Transformer` (pre-norm,
/// ReLU, no masks) encoding them and decoding the learned `query_embs` → `model`: the decoder's
/// conditioning, [B, num_output_tokens, out_dim]. Sizes come from the stored tensors; the head
/// count is upstream's constant (4), not stored anywhere.
public final class TextFcLayer: Sendable {
    public static let upstreamHeads = 4

    public let fc: LinearLayer
    public let tfm: Transformer
    public let model: LinearLayer
    /// [num_output_tokens, hidden].
    public let queryEmbs: Tensor

    public init(_ w: Weights, heads: Int = TextFcLayer.upstreamHeads) throws {
        fc = try w.linear("fc", out: -1, in: -1, bias: true)
        let hidden = fc.outFeatures
        tfm = try Transformer(w.pp("tfm"), dim: hidden, heads: heads, normFirst: true)
        model = try w.linear("model", out: -1, in: hidden, bias: true)
        let queries = try w.tensor("query_embs", shape: [1, -1, hidden])
        queryEmbs = queries.reshaped([queries.shape[1], hidden])
    }

    /// The `nextgpt` component's projector for `modality`. The component also holds the tokens,
    /// `llama_proj` and the LoRA, which other modules read, so this load checks only its own tensors.
    public convenience init(_ file: ModelFile, modality: SignalModality, component: String = "nextgpt",
                            options: LoadOptions = LoadOptions()) throws {
        try self.init(try Weights.component(file, component, options: options).pp(modality.projectorModule))
    }

    public var inFeatures: Int { fc.inFeatures }
    public var outFeatures: Int { model.outFeatures }
    public var outputTokens: Int { queryEmbs.shape[0] }

    public struct InputError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `hidden` and `inputEmbs` [B, N, in] → [B, num_output_tokens, out_dim].
    public func callAsFunction(_ hidden: Tensor, inputEmbs: Tensor, context: ExecutionContext) throws -> Tensor {
        guard hidden.rank == 3, hidden.shape == inputEmbs.shape, hidden.shape[2] == inFeatures, hidden.shape[1] > 0 else {
            throw InputError(description: "output projection: hidden \(hidden.shape) and input_embs \(inputEmbs.shape) must both be [B, N, \(inFeatures)]")
        }
        let (batch, tokens) = (hidden.shape[0], hidden.shape[1])
        let x = fc(Elementwise.add(hidden, inputEmbs).reshaped([batch * tokens, inFeatures]), context)
        let queries = Shape.cat([Tensor](repeating: queryEmbs, count: batch), dim: 0)
        let y = tfm(src: x, srcLength: tokens, tgt: queries, tgtLength: outputTokens, context)
        return model(y, context).reshaped([batch, outputTokens, outFeatures])
    }
}
