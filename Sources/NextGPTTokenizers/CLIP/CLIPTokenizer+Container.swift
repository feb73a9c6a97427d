import Foundation
import NextGPTFormats

extension CLIPTokenizer {
    /// The tokenizer a converted container holds under `prefix` (e.g. `sd15.tokenizer`): `.vocab`
    /// (tokens by id), `.merges`, and the JSON texts `.tokenizer_config`, `.special_tokens_map`,
    /// `.added_tokens` as the converter stores a CLIP `tokenizer/` folder. Special tokens are read
    /// as `from_pretrained` reads them: special_tokens_map.json over tokenizer_config.json over
    /// CLIP's defaults (`<|startoftext|>`, `<|endoftext|>` for eos, unk and pad).
    public init(metadata: [String: GGUFValue], prefix: String) throws {
        let stored = try BPETokenizerMetadata(metadata, prefix: prefix, kind: "a CLIP tokenizer")
        // transformers writes a huge integer when the length is unknown; CLIP's context is 77.
        let maxLength = try stored.modelMaxLength(default: 77)
        try self.init(tokens: stored.tokens, merges: stored.merges,
                      bosToken: try stored.special("bos_token", default: "<|startoftext|>"),
                      eosToken: try stored.special("eos_token", default: "<|endoftext|>"),
                      unkToken: try stored.special("unk_token", default: "<|endoftext|>"),
                      padToken: try stored.special("pad_token", default: "<|endoftext|>"),
                      modelMaxLength: maxLength, addedTokens: try stored.addedTokens())
    }

    /// The tokenizer prefix of a text-encoder component: `sd15.text_encoder` → `sd15.tokenizer`,
    /// `zeroscope.text_encoder_2` → `zeroscope.tokenizer_2`.
    public static func tokenizerPrefix(forTextEncoder component: String) -> String {
        guard let range = component.range(of: "text_encoder", options: .backwards) else { return "\(component).tokenizer" }
        return component.replacingCharacters(in: range, with: "tokenizer")
    }
}
