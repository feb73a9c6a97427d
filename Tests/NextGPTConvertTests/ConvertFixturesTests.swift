import XCTest
@testable import NextGPTConvert
import NextGPTCore
import NextGPTKernels
import NextGPTFormats
import NextGPTTestSupport

/// Converts the committed upstream-format fixtures (made by tools/fixtures with transformers,
/// diffusers, peft and imagebind) and checks every tensor against its source.
final class ConvertFixturesTests: XCTestCase {
    let fx = TestSupport.fixtures
    var dir = ""
    override func setUp() { dir = TestSupport.temporaryDirectory("convert") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func plan(delta: Bool = true, mergeDeltaLora: Bool = false) throws -> ConversionPlan {
        var plan = ConversionPlan()
        let d = delta ? try NextGPTDelta(path: "\(fx)/nextgpt-delta") : nil
        plan.components += try LlamaComponent.load(folder: "\(fx)/vicuna", delta: d, mergeDeltaLora: mergeDeltaLora)
        plan.components.append(try ImageBindComponent.load(path: "\(fx)/imagebind/imagebind_huge.pth"))
        try PipelineSource.load("\(fx)/sd15", pipeline: "sd15", into: &plan)
        try PipelineSource.load("\(fx)/audioldm", pipeline: "audioldm", into: &plan)
        try PipelineSource.load("\(fx)/zeroscope", pipeline: "zeroscope", into: &plan)
        return plan
    }

    /// Every container tensor equals its source: exactly for f32, within the type's bound otherwise.
    func checkAgainstSources(_ plan: ConversionPlan, _ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let container = try Container(path: path)
        XCTAssertEqual(container.components, plan.components.map(\.name), file: file, line: line)
        for component in plan.components {
            for tensor in component.tensors where tensor.lora.isEmpty {
                let name = "\(component.name).\(tensor.name)"
                guard let stored = container.file[tensor: name] else { XCTFail("\(name) missing", file: file, line: line); continue }
                XCTAssertEqual(container.originalShape(of: stored), tensor.source.shape, name, file: file, line: line)
                let ours = try ConvertSupport.values(container.file, name)
                let reference = try tensor.source.readFloats()
                XCTAssertEqual(ours.count, reference.count, name, file: file, line: line)
                let block = stored.type.blockSize
                var worst: Float = 0, worstBound: Float = 0
                for start in stride(from: 0, to: reference.count, by: block) {
                    let chunk = reference[start..<min(start + block, reference.count)]
                    let maxAbs = chunk.map(abs).max() ?? 0
                    let bound = ConvertSupport.bound(stored.type, blockMaxAbs: stored.type.isQuantized ? maxAbs : abs(chunk.first!))
                    for i in chunk.indices where abs(ours[i] - reference[i]) > bound && abs(ours[i] - reference[i]) > worst {
                        worst = abs(ours[i] - reference[i])
                        worstBound = bound
                    }
                }
                XCTAssertEqual(worst, 0, "\(name) (\(stored.type)) off by \(worst) > \(worstBound)", file: file, line: line)
            }
        }
    }

    func testEveryComponentAtEveryType() throws {
        let plan = try plan()
        for type in [GGMLType.f32, .f16, .q8_0, .q4_0, .q4_K] {
            let out = "\(dir)/all-\(type).gguf"
            let report = try Converter.convert(plan, options: ConversionOptions(policy: QuantizationPolicy(type: type)), to: out)
            XCTAssertEqual(report.tensorCount, plan.components.reduce(0) { $0 + $1.tensors.count })
            if type.isQuantized { XCTAssertGreaterThan(report.tensorsByType[type] ?? 0, 0, "\(type) used somewhere") }
            try checkAgainstSources(plan, out)
            XCTAssertEqual(try Container(path: out).verifyChecksums().map(\.description), [])
        }
    }

    func testMetadataHoldsConfigsTokenizersAndProvenance() throws {
        let plan = try plan()
        let out = "\(dir)/meta.gguf"
        _ = try Converter.convert(plan, options: ConversionOptions(policy: QuantizationPolicy(type: .q8_0)), to: out)
        let m = try GGUFFile(path: out).metadata
        XCTAssertEqual(m["general.architecture"]?.stringValue, "nextgpt")
        XCTAssertEqual(m["general.alignment"], .uint32(64))
        let vicunaConfig = try JSONFile.object("\(fx)/vicuna/config.json")
        XCTAssertEqual(m["vicuna.config"]?.stringValue, try JSONFile.text("\(fx)/vicuna/config.json"))
        XCTAssertNotNil(vicunaConfig["hidden_size"])
        // NExT-GPT's 38 added tokens follow the SentencePiece vocabulary.
        let added = m["nextgpt.tokenizer.added_tokens"]?.stringArray ?? []
        XCTAssertEqual(added.count, 38)
        XCTAssertEqual(added.prefix(3), ["<Img>", "</Img>", "[IMG0]"])
        let pieces = m["vicuna.tokenizer.tokens"]?.stringArray ?? []
        XCTAssertEqual(m["nextgpt.tokenizer.added_token_ids"]?.intArray?.first, pieces.count)
        XCTAssertEqual(pieces[0...2], ["<unk>", "<s>", "</s>"])
        XCTAssertEqual(m["vicuna.tokenizer.sentencepiece_model"]?.arrayValue?.count,
                       try FileManager.default.attributesOfItem(atPath: "\(fx)/vicuna/tokenizer.model")[.size] as? Int)
        XCTAssertFalse(m["sd15.tokenizer.vocab"]?.stringArray?.isEmpty ?? true)
        XCTAssertFalse(m["audioldm.tokenizer.merges"]?.stringArray?.isEmpty ?? true)
        XCTAssertNotNil(m["sd15.scheduler.config"]?.stringValue?.range(of: "PNDMScheduler"))
        // Provenance: every file with its size and a real sha256.
        let files = m["vicuna.source.files"]?.stringArray ?? []
        let hashes = m["vicuna.source.sha256"]?.stringArray ?? []
        XCTAssertEqual(files.count, hashes.count)
        XCTAssertTrue(files.contains { $0.hasSuffix("pytorch_model-00001-of-00002.bin") })
        XCTAssertTrue(hashes.allSatisfy { $0.count == 64 && $0 != String(repeating: "0", count: 64) })
    }

    func testVerifyNamesTheCorruptTensor() throws {
        var plan = ConversionPlan()
        plan.components = try LlamaComponent.load(folder: "\(fx)/vicuna", delta: nil, mergeDeltaLora: false)
        try PipelineSource.load("\(fx)/sd15", pipeline: "sd15", into: &plan)
        let out = "\(dir)/corrupt.gguf"
        _ = try Converter.convert(plan, options: ConversionOptions(policy: QuantizationPolicy(type: .q4_0)), to: out)
        XCTAssertEqual(try Container(path: out).verifyChecksums().count, 0)
        let victim = try XCTUnwrap(try GGUFFile(path: out)[tensor: "sd15.unet.down_blocks.0.resnets.0.conv1.weight"])
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: out))
        try handle.seek(toOffset: UInt64(victim.fileOffset + victim.byteCount / 2))
        let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: UInt64(victim.fileOffset + victim.byteCount / 2))
        handle.write(Data([byte ^ 0x40]))
        try handle.close()
        let problems = try Container(path: out).verifyChecksums()
        XCTAssertEqual(problems.map(\.tensor), [victim.name])
        XCTAssertEqual(problems.first?.component, "sd15.unet")
    }

    func testDeltaReplacesEmbeddingsAndKeepsOrMergesLora() throws {
        let delta = try NextGPTDelta(path: "\(fx)/nextgpt-delta")
        XCTAssertEqual(delta.addedTokens.count, 38)
        XCTAssertEqual(delta.lora.count, 8)  // 2 layers × q/k/v/o
        let kept = try LlamaComponent.load(folder: "\(fx)/vicuna", delta: delta, mergeDeltaLora: false)
        let embed = kept[0].tensors.first { $0.name == "model.embed_tokens.weight" }!
        XCTAssertEqual(embed.source.file.path, delta.embedTokens!.file.path)
        XCTAssertTrue(kept[1].tensors.contains { $0.name == "lora.model.layers.0.self_attn.q_proj.lora_A.weight" })
        XCTAssertTrue(kept[1].tensors.contains { $0.name == "llama_proj.weight" })
        let merged = try LlamaComponent.load(folder: "\(fx)/vicuna", delta: delta, mergeDeltaLora: true)
        XCTAssertFalse(merged[1].tensors.contains { $0.name.hasPrefix("lora.") })
        XCTAssertEqual(merged[0].tensors.filter { !$0.lora.isEmpty }.count, 8)
    }

    func testGQASafetensorsFolderFollowsItsConfig() throws {
        var plan = ConversionPlan()
        plan.components = try LlamaComponent.load(folder: "\(fx)/llama-gqa", delta: nil, mergeDeltaLora: false)
        let config = try JSONFile.object("\(fx)/llama-gqa/config.json")
        let kv = (config["num_key_value_heads"] as! NSNumber).intValue, heads = (config["num_attention_heads"] as! NSNumber).intValue
        XCTAssertLessThan(kv, heads)
        let out = "\(dir)/gqa.gguf"
        _ = try Converter.convert(plan, options: ConversionOptions(policy: QuantizationPolicy(type: .q8_0)), to: out)
        try checkAgainstSources(plan, out)
    }

    func testOriginalSingleFilesMatchTheDiffusersFolder() throws {
        var folder = ConversionPlan()
        try PipelineSource.load("\(fx)/sd15", pipeline: "sd15", into: &folder)
        for name in ["v1-5-tiny.safetensors", "v1-5-tiny.ckpt"] {
            var single = ConversionPlan()
            try PipelineSource.load("\(fx)/sd15-original/\(name)", pipeline: "sd15", into: &single)
            XCTAssertEqual(single.components.map(\.name).sorted(), folder.components.map(\.name).sorted(), name)
            for component in folder.components {
                let other = single.components.first { $0.name == component.name }!
                XCTAssertEqual(Set(other.tensors.map(\.name)), Set(component.tensors.map(\.name)), "\(name) \(component.name)")
                for tensor in component.tensors {
                    let twin = other.tensors.first { $0.name == tensor.name }!
                    XCTAssertEqual(twin.source.shape, tensor.source.shape, tensor.name)
                    XCTAssertEqual(try twin.source.readFloats(), try tensor.source.readFloats(), "\(name): \(tensor.name)")
                }
            }
        }
    }

    func testFp16VariantFolder() throws {
        var plan = ConversionPlan()
        try PipelineSource.load("\(fx)/sd15-fp16", pipeline: "sd15", into: &plan)
        XCTAssertTrue(plan.components.allSatisfy { c in c.tensors.allSatisfy { $0.source.dtype == .f16 } })
        XCTAssertTrue(plan.components.flatMap(\.sourceFiles).contains { $0.contains(".fp16.") })
    }

    func testLegacyVAEAttentionNamesAreModernised() throws {
        let vae = try DiffusersComponents.component(folder: "\(fx)/sd15/vae", name: "sd15.vae")
        XCTAssertTrue(vae.tensors.contains { $0.name == "encoder.mid_block.attentions.0.to_q.weight" })
        XCTAssertTrue(vae.tensors.contains { $0.name == "decoder.mid_block.attentions.0.to_out.0.bias" })
        XCTAssertFalse(vae.tensors.contains { $0.name.contains(".query.") || $0.name.contains("proj_attn") })
        XCTAssertTrue(vae.tensors.contains { $0.source.originalName.contains(".query.") }, "fixture uses the legacy names")
    }
}
