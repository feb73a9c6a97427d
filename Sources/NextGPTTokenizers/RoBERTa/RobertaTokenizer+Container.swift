import NextGPTFormats

extension RobertaTokenizer {
    /// The tokenizer a converted container holds under `prefix` (e.g. `audioldm.tokenizer`), as
    /// the converter stores a RoBERTa `tokenizer/` folder (vocab, merges, the config JSON texts).
    /// Special tokens: special_tokens_map.json over tokenizer_config.json over RoBERTa's defaults.
    public init(metadata: [String: GGUFValue], prefix: String) throws {
        let stored = try BPETokenizerMetadata(metadata, prefix: prefix, kind: "a RoBERTa tokenizer")
        let mask = try stored.special("mask_token", default: "<mask>")
        try self.init(tokens: stored.tokens, merges: stored.merges,
                      bosToken: try stored.special("bos_token", default: "<s>"),
                      eosToken: try stored.special("eos_token", default: "</s>"),
                      unkToken: try stored.special("unk_token", default: "<unk>"),
                      padToken: try stored.special("pad_token", default: "<pad>"),
                      maskToken: stored.tokens.contains(mask) || (try stored.addedTokens())[mask] != nil ? mask : nil,
                      modelMaxLength: try stored.modelMaxLength(default: 512), addedTokens: try stored.addedTokens())
    }
}
