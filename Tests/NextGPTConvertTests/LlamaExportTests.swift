import XCTest
@testable import NextGPTConvert
import NextGPTCore
import NextGPTKernels
import NextGPTFormats
import NextGPTTestSupport

/// `export-llama-gguf` on the tiny fixtures: llama.cpp's names and keys, and the container's bytes.
/// (tools/bench/check_llama_export.py runs the exports in llama.cpp itself.)
final class LlamaExportTests: XCTestCase {
    let fx = TestSupport.fixtures
    var dir = ""
    override func setUp() { dir = TestSupport.temporaryDirectory("convert") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    struct Fixture {
        let folder: String
        let withDelta: Bool
        let layers: Int, hidden: Int, heads: Int, kvHeads: Int, intermediate: Int
        let tied: Bool
    }

    let vicuna = Fixture(folder: "vicuna", withDelta: true, layers: 2, hidden: 256, heads: 4, kvHeads: 4, intermediate: 512, tied: false)
    let gqa = Fixture(folder: "llama-gqa", withDelta: false, layers: 2, hidden: 128, heads: 4, kvHeads: 2, intermediate: 384, tied: true)

    func convert(_ fixture: Fixture, _ type: GGMLType) throws -> String {
        var plan = ConversionPlan()
        let delta = fixture.withDelta ? try NextGPTDelta(path: "\(fx)/nextgpt-delta") : nil
        plan.components = try LlamaComponent.load(folder: "\(fx)/\(fixture.folder)", delta: delta, mergeDeltaLora: false)
        let out = "\(dir)/\(fixture.folder)-\(type).gguf"
        var options = ConversionOptions(policy: QuantizationPolicy(type: type))
        options.hashSources = false
        _ = try Converter.convert(plan, options: options, to: out)
        return out
    }

    func export(_ container: String, _ options: LlamaExportOptions, suffix: String = "") throws -> (GGUFFile, LlamaExportReport) {
        let out = container.replacingOccurrences(of: ".gguf", with: "-llama\(suffix).gguf")
        let report = try LlamaExport.export(container: container, to: out, options: options)
        return (try GGUFFile(path: out), report)
    }

    static func withoutDeltaLora() -> LlamaExportOptions {
        var options = LlamaExportOptions()
        options.mergeStoredDeltaLora = false
        return options
    }

    /// Hugging Face row order from llama.cpp's: HF row h·d + j·d/2 + i is llama.cpp row h·d + 2i + j.
    func huggingFaceRows(_ bytes: [UInt8], rows: Int, heads: Int) -> [UInt8] {
        let rowBytes = bytes.count / rows, d = rows / heads
        var out = [UInt8](repeating: 0, count: bytes.count)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<(d / 2) {
                    let hf = h * d + j * (d / 2) + i, llama = h * d + 2 * i + j
                    out.replaceSubrange((hf * rowBytes)..<((hf + 1) * rowBytes), with: bytes[(llama * rowBytes)..<((llama + 1) * rowBytes)])
                }
            }
        }
        return out
    }

    func expectedNames(_ f: Fixture) -> [String: String] {
        var names = ["token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"]
        if !f.tied { names["output.weight"] = "lm_head.weight" }
        let modules = ["attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
                       "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                       "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"]
        for layer in 0..<f.layers {
            for (ours, theirs) in modules { names["blk.\(layer).\(ours).weight"] = "model.layers.\(layer).\(theirs).weight" }
        }
        return names
    }

    func testExportKeepsContainerBytesWithLlamaCppNamesAndKeys() throws {
        for fixture in [vicuna, gqa] {
            for type in [GGMLType.q4_0, .q8_0] {
                let containerPath = try convert(fixture, type)
                let container = try GGUFFile(path: containerPath)
                let (out, report) = try export(containerPath, Self.withoutDeltaLora())
                let label = "\(fixture.folder) \(type)"

                XCTAssertEqual(out.string("general.architecture"), "llama", label)
                XCTAssertEqual(out.alignment, 32, label)
                let embedRows = container[tensor: "vicuna.model.embed_tokens.weight"]!.shape[0]
                let u32: [String: Int] = [
                    "llama.block_count": fixture.layers, "llama.embedding_length": fixture.hidden,
                    "llama.attention.head_count": fixture.heads, "llama.attention.head_count_kv": fixture.kvHeads,
                    "llama.feed_forward_length": fixture.intermediate, "llama.rope.dimension_count": fixture.hidden / fixture.heads,
                    "llama.vocab_size": embedRows, "general.file_type": type == .q4_0 ? 2 : 7,
                    "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.unknown_token_id": 0,
                ]
                for (key, value) in u32 { XCTAssertEqual(out.metadata[key], .uint32(UInt32(value)), "\(label) \(key)") }
                XCTAssertEqual(out.metadata["llama.context_length"]?.type, .uint32, label)
                XCTAssertEqual(out.metadata["llama.attention.layer_norm_rms_epsilon"]?.type, .float32, label)
                XCTAssertEqual(out.metadata["llama.rope.freq_base"], .float32(fixture.withDelta ? 10000 : 500000), label)
                XCTAssertEqual(out.string("tokenizer.ggml.model"), "llama", label)
                XCTAssertEqual(out.metadata["tokenizer.ggml.add_bos_token"], .bool(true), label)

                let tokens = out.metadata["tokenizer.ggml.tokens"]!.stringArray!
                let types = out.metadata["tokenizer.ggml.token_type"]!.intArray!
                XCTAssertEqual(tokens.count, embedRows, label)
                XCTAssertEqual(types.count, embedRows, label)
                XCTAssertEqual(out.metadata["tokenizer.ggml.scores"]?.arrayValue?.count, embedRows, label)
                XCTAssertEqual(Array(tokens.prefix(1000)), container.metadata["vicuna.tokenizer.tokens"]!.stringArray!, label)
                if fixture.withDelta {
                    XCTAssertEqual(report.vocabulary, LlamaExportVocabulary.Summary(pieces: 1000, added: 38, padding: 0), label)
                    XCTAssertEqual(tokens[1000], "<Img>", label)
                    XCTAssertEqual(Set(types[1000...]), [4], "added tokens are USER_DEFINED")
                }

                let names = expectedNames(fixture)
                XCTAssertEqual(Set(out.tensors.map(\.name)), Set(names.keys), label)
                XCTAssertEqual(report.copiedTensors, names.count, label)
                for tensor in out.tensors {
                    let source = container[tensor: "vicuna." + names[tensor.name]!]!
                    XCTAssertEqual(tensor.shape, source.shape, tensor.name)
                    XCTAssertEqual(tensor.type, source.type, tensor.name)
                    var bytes = try out.bytes(of: tensor)
                    if tensor.name.hasSuffix("attn_q.weight") { bytes = huggingFaceRows(bytes, rows: tensor.shape[0], heads: fixture.heads) }
                    if tensor.name.hasSuffix("attn_k.weight") { bytes = huggingFaceRows(bytes, rows: tensor.shape[0], heads: fixture.kvHeads) }
                    XCTAssertEqual(bytes, try container.bytes(of: source), "\(label) \(tensor.name)")
                }
                let q = out[tensor: "blk.0.attn_q.weight"]!
                XCTAssertNotEqual(try out.bytes(of: q), try container.bytes(of: container[tensor: "vicuna.model.layers.0.self_attn.q_proj.weight"]!),
                                  "q rows are reordered")
            }
        }
    }

    func testRopeInterleavingMovesWholeRows() {
        // 2 heads × 4 rows of 2 bytes; each row's bytes name the row.
        let rows = (0..<8).flatMap { [UInt8($0), UInt8($0)] }
        let out = LlamaExport.interleaveRopeHalves(rows, rows: 8, heads: 2)
        XCTAssertEqual(stride(from: 0, to: 16, by: 2).map { out[$0] }, [0, 2, 1, 3, 4, 6, 5, 7])
        XCTAssertEqual(huggingFaceRows(out, rows: 8, heads: 2), rows)
    }

    /// Merging LoRA changes exactly the weights it targets, each by ≈ scale·B·A.
    func testMergedLoraChangesOnlyItsTargets() throws {
        let containerPath = try convert(vicuna, .q8_0)
        let container = try GGUFFile(path: containerPath)
        let (plain, _) = try export(containerPath, Self.withoutDeltaLora(), suffix: "-plain")
        let (merged, report) = try export(containerPath, LlamaExportOptions(), suffix: "-delta")
        var peftOptions = Self.withoutDeltaLora()
        peftOptions.adapters = [try LlamaExport.readAdapter(path: "\(fx)/lora/vicuna-peft", scale: 1)]
        let (peft, peftReport) = try export(containerPath, peftOptions, suffix: "-peft")

        let names = expectedNames(vicuna)
        let deltaTargets = Set(container.tensors.map(\.name).filter { $0.hasPrefix("nextgpt.lora.") && $0.hasSuffix(".lora_A.weight") }
            .map { "vicuna." + $0.dropFirst("nextgpt.lora.".count).dropLast(".lora_A.weight".count) + ".weight" })
        XCTAssertFalse(deltaTargets.isEmpty)
        XCTAssertEqual(report.loraPairs, deltaTargets.count)
        XCTAssertEqual(merged.metadata["nextgpt.export.lora_merged"]?.stringArray?.count, deltaTargets.count)
        let peftTargets = Set(peftOptions.adapters[0].pairs.map { "vicuna." + $0.target })
        XCTAssertEqual(peftReport.mergedTensors.count, peftTargets.count)

        for (file, targets) in [(merged, deltaTargets), (peft, peftTargets)] {
            var changed = Set<String>()
            for tensor in plain.tensors {
                if try plain.bytes(of: tensor) != file.bytes(of: file[tensor: tensor.name]!) { changed.insert("vicuna." + names[tensor.name]!) }
            }
            XCTAssertEqual(changed, targets)
        }

        var f16Options = LlamaExportOptions()
        f16Options.mergedType = .f16
        let (mergedF16, _) = try export(containerPath, f16Options, suffix: "-f16")
        for tensor in mergedF16.tensors {
            XCTAssertEqual(tensor.type, deltaTargets.contains("vicuna." + names[tensor.name]!) ? .f16 : plain[tensor: tensor.name]!.type, tensor.name)
        }

        // blk.0.attn_v (no row reordering): merged ≈ base + scale·B·A within a Q8_0 step.
        let v = "vicuna.model.layers.0.self_attn.v_proj.weight"
        guard deltaTargets.contains(v) else { return XCTFail("fixture delta has no LoRA on \(v)") }
        let base = try ConvertSupport.values(container, v)
        let a = try ConvertSupport.values(container, "nextgpt.lora.model.layers.0.self_attn.v_proj.lora_A.weight")
        let b = try ConvertSupport.values(container, "nextgpt.lora.model.layers.0.self_attn.v_proj.lora_B.weight")
        let rank = container[tensor: "nextgpt.lora.model.layers.0.self_attn.v_proj.lora_A.weight"]!.shape[0]
        var scale: Float = 1
        if case .float32(let s)? = container.metadata["nextgpt.lora.scale"] { scale = s }
        let ours = try ConvertSupport.values(merged, "blk.0.attn_v.weight")
        let columns = 256
        var expected = base
        for r in 0..<256 { for c in 0..<columns { for k in 0..<rank { expected[r * columns + c] += scale * b[r * rank + k] * a[k * columns + c] } } }
        for start in stride(from: 0, to: expected.count, by: 32) {
            let block = expected[start..<(start + 32)]
            let bound = ConvertSupport.bound(.q8_0, blockMaxAbs: block.map(abs).max()!) * 1.01
            for i in block.indices { XCTAssertLessThanOrEqual(abs(ours[i] - expected[i]), bound, "element \(i)") }
        }
    }

    func testErrorsNameTheFileAndProblem() throws {
        let containerPath = try convert(vicuna, .q4_0)
        var options = LlamaExportOptions()
        options.component = "imagebind"
        XCTAssertThrowsError(try export(containerPath, options)) { error in
            XCTAssertTrue("\(error)".contains(containerPath) && "\(error)".contains("no component 'imagebind'"), "\(error)")
        }
        options.component = "nextgpt"
        XCTAssertThrowsError(try export(containerPath, options)) { error in
            XCTAssertTrue("\(error)".contains("nextgpt.config"), "\(error)")
        }
        options = Self.withoutDeltaLora()
        var adapter = try LlamaExport.readAdapter(path: "\(fx)/lora/vicuna-peft", scale: 1)
        adapter.pairs[0].target = "model.layers.9.self_attn.q_proj.weight"
        options.adapters = [adapter]
        XCTAssertThrowsError(try export(containerPath, options)) { error in
            XCTAssertTrue("\(error)".contains("model.layers.9.self_attn.q_proj.weight") && "\(error)".contains("names no weight"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: containerPath.replacingOccurrences(of: ".gguf", with: "-llama.gguf")))
    }
}
