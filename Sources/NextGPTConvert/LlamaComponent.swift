import Foundation
import NextGPTCore
import NextGPTFormats

/// A Hugging Face LLaMA-family folder (Vicuna) as the `vicuna` component, optionally with NExT-GPT's
/// delta: its 32038-row `embed_tokens` / `lm_head` replace Vicuna's, its LoRA is merged here or kept
/// for load time, its projectors become the `nextgpt` component.
public enum LlamaComponent {
    public static let name = "vicuna"

    /// Tensors a `LlamaForCausalLM` checkpoint must hold, with shapes, derived from config.json.
    /// Vocabulary rows are not checked against `vocab_size` (Vicuna v0 says 32001, the delta 32038):
    /// the runtime takes the vocabulary from the embedding rows.
    static func expectedShapes(config: [String: Any], vocabRows: Int, path: String) throws -> [String: [Int]] {
        func int(_ key: String) throws -> Int {
            guard let v = (config[key] as? NSNumber)?.intValue else { throw FormatError(path, "config has no integer '\(key)'") }
            return v
        }
        let hidden = try int("hidden_size"), layers = try int("num_hidden_layers")
        let heads = try int("num_attention_heads"), intermediate = try int("intermediate_size")
        let kvHeads = (config["num_key_value_heads"] as? NSNumber)?.intValue ?? heads
        let headDim = (config["head_dim"] as? NSNumber)?.intValue ?? hidden / heads
        let tied = (config["tie_word_embeddings"] as? Bool) ?? false
        let attentionBias = (config["attention_bias"] as? Bool) ?? false
        let mlpBias = (config["mlp_bias"] as? Bool) ?? false
        var shapes: [String: [Int]] = ["model.embed_tokens.weight": [vocabRows, hidden], "model.norm.weight": [hidden]]
        if !tied { shapes["lm_head.weight"] = [vocabRows, hidden] }
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            shapes[p + "input_layernorm.weight"] = [hidden]
            shapes[p + "post_attention_layernorm.weight"] = [hidden]
            let projections: [(String, Int, Int)] = [
                ("self_attn.q_proj", heads * headDim, hidden), ("self_attn.k_proj", kvHeads * headDim, hidden),
                ("self_attn.v_proj", kvHeads * headDim, hidden), ("self_attn.o_proj", hidden, heads * headDim),
            ]
            for (module, out, inp) in projections {
                shapes[p + module + ".weight"] = [out, inp]
                if attentionBias { shapes[p + module + ".bias"] = [out] }
            }
            for (module, out, inp) in [("mlp.gate_proj", intermediate, hidden), ("mlp.up_proj", intermediate, hidden), ("mlp.down_proj", hidden, intermediate)] {
                shapes[p + module + ".weight"] = [out, inp]
                if mlpBias { shapes[p + module + ".bias"] = [out] }
            }
        }
        return shapes
    }

    /// Buffers older checkpoints carry that are recomputed at run time.
    static func isDroppedBuffer(_ name: String) -> Bool { name.hasSuffix("rotary_emb.inv_freq") }

    public static func load(folder: String, delta: NextGPTDelta?, mergeDeltaLora: Bool) throws -> [Component] {
        let configPath = "\(folder)/config.json"
        let configText = try JSONFile.text(configPath)
        let config = try JSONFile.object(configPath)
        var checkpoint = try HFWeights.read(folder: folder, stems: ["model", "pytorch_model"])
        checkpoint.tensors.removeAll { isDroppedBuffer($0.name) }
        var component = Component(name: name, checkpoint: checkpoint, sourceFormat: "hf-llama")
        component.sourceFiles.insert(configPath, at: 0)

        if let delta {
            for (key, replacement) in [("model.embed_tokens.weight", delta.embedTokens), ("lm_head.weight", delta.lmHead)] {
                guard let replacement else { continue }
                if let i = component.tensors.firstIndex(where: { $0.name == key }) {
                    component.tensors[i] = ComponentTensor(name: key, source: replacement)
                } else {
                    component.tensors.append(ComponentTensor(name: key, source: replacement))
                }
            }
            component.sourceFiles += delta.files.filter { $0.hasSuffix(".pt") || $0.hasSuffix(".bin") || $0.hasSuffix(".safetensors") }
        }

        guard let embed = component.tensors.first(where: { $0.name == "model.embed_tokens.weight" }) else {
            throw FormatError(folder, tensor: "model.embed_tokens.weight", "missing")
        }
        let expected = try expectedShapes(config: config, vocabRows: embed.source.shape.first ?? 0, path: configPath)
        var seen = Set<String>()
        for tensor in component.tensors {
            guard let shape = expected[tensor.name] else {
                throw FormatError(tensor.source.file.path, tensor: tensor.source.originalName, "unexpected in a LLaMA checkpoint with this config.json")
            }
            guard shape == tensor.source.shape else {
                throw FormatError(tensor.source.file.path, tensor: tensor.source.originalName, "has shape \(tensor.source.shape), config.json implies \(shape)")
            }
            seen.insert(tensor.name)
        }
        if let missing = expected.keys.sorted().first(where: { !seen.contains($0) }) {
            throw FormatError(folder, tensor: missing, "missing (config.json implies it)")
        }
        // Keep the checkpoint's natural order: embeddings, layers in order, norm, head.
        component.tensors.sort { llamaOrder($0.name) < llamaOrder($1.name) }
        component.addConfig(configText)
        if let generation = try? JSONFile.text("\(folder)/generation_config.json") {
            component.addConfig(generation, key: "generation_config")
        }
        let tokenizerFolder = delta?.tokenizerModelPath.map { ($0 as NSString).deletingLastPathComponent } ?? folder
        try addSentencePiece(to: &component, folder: tokenizerFolder)

        var components = [component]
        if let delta {
            var nextgpt = try NextGPTComponent.make(delta: delta, includeEmbeddings: false, keepLora: !mergeDeltaLora)
            if mergeDeltaLora {
                var plan = ConversionPlan()
                plan.components = [components[0]]
                try plan.attach(LoraAdapter(pairs: delta.lora, files: delta.files, source: delta.files[0]))
                components[0] = plan.components[0]
            }
            nextgpt.metadata.append(("nextgpt.lora.merged", .bool(mergeDeltaLora)))
            components.append(nextgpt)
        }
        return components
    }

    static func llamaOrder(_ name: String) -> (Int, Int, String) {
        if name.hasPrefix("model.embed_tokens") { return (0, 0, name) }
        if name.hasPrefix("model.layers.") {
            let index = Int(name.split(separator: ".")[2]) ?? 0
            return (1, index, name)
        }
        if name.hasPrefix("model.norm") { return (2, 0, name) }
        return (3, 0, name)
    }

    /// The SentencePiece model (raw bytes, for an exact tokenizer) and its parsed pieces.
    static func addSentencePiece(to component: inout Component, folder: String) throws {
        let path = "\(folder)/tokenizer.model"
        guard JSONFile.exists(path) else { throw FormatError(folder, "no tokenizer.model (SentencePiece) in the folder") }
        let file = try RandomAccessFile(path: path)
        let bytes = try file.read(at: 0, count: file.size)
        let model = try SentencePieceModel(bytes: bytes, path: path)
        let k = component.key
        component.metadata += [
            (k("tokenizer.model"), .string("sentencepiece")),
            (k("tokenizer.sentencepiece_model"), .bytes(bytes)),
            (k("tokenizer.tokens"), .strings(model.pieces)),
            (k("tokenizer.scores"), .float32s(model.scores)),
            (k("tokenizer.token_type"), .int32s(model.types.map(\.rawValue))),
            (k("tokenizer.bos_token_id"), .int32(model.bosId)),
            (k("tokenizer.eos_token_id"), .int32(model.eosId)),
            (k("tokenizer.unknown_token_id"), .int32(model.unkId)),
            (k("tokenizer.padding_token_id"), .int32(model.padId)),
            (k("tokenizer.byte_fallback"), .bool(model.byteFallback)),
            (k("tokenizer.add_dummy_prefix"), .bool(model.addDummyPrefix)),
        ]
        for file in ["tokenizer_config.json", "special_tokens_map.json"] where JSONFile.exists("\(folder)/\(file)") {
            component.metadata.append((k("tokenizer.\(file.replacingOccurrences(of: ".json", with: ""))"), .string(try JSONFile.text("\(folder)/\(file)"))))
        }
        component.sourceFiles.append(path)
    }
}

/// NExT-GPT's own trained parts: `llama_proj`, the three output projectors, the added tokens and,
/// unless merged into Vicuna, the language model's LoRA (`nextgpt.lora.<module>.lora_A/B.weight`).
public enum NextGPTComponent {
    public static let name = "nextgpt"

    public static func make(delta: NextGPTDelta, includeEmbeddings: Bool, keepLora: Bool) throws -> Component {
        var component = Component(name: name, sourceFiles: delta.files, sourceFormat: "nextgpt-delta")
        if includeEmbeddings {
            if let e = delta.embedTokens { component.tensors.append(ComponentTensor(name: "embed_tokens.weight", source: e)) }
            if let h = delta.lmHead { component.tensors.append(ComponentTensor(name: "lm_head.weight", source: h)) }
        }
        component.tensors += delta.modules.map { ComponentTensor(name: $0.name, source: $0) }
        if keepLora {
            for pair in delta.lora {
                let module = String(pair.target.dropLast(".weight".count))
                component.tensors.append(ComponentTensor(name: "lora.\(module).lora_A.weight", source: pair.a))
                component.tensors.append(ComponentTensor(name: "lora.\(module).lora_B.weight", source: pair.b))
            }
        }
        if let scale = delta.lora.first?.scale {
            component.metadata.append(("nextgpt.lora.scale", .float32(scale)))
        }
        if !delta.addedTokens.isEmpty {
            component.metadata.append(("nextgpt.tokenizer.added_tokens", .strings(delta.addedTokens.map(\.token))))
            component.metadata.append(("nextgpt.tokenizer.added_token_ids", .int32s(delta.addedTokens.map { Int32($0.id) })))
        }
        if let config = delta.configText { component.addConfig(config, key: "llama_config") }
        return component
    }
}
