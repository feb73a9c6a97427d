import XCTest
@testable import NextGPTConvert
import NextGPTCore
import NextGPTFormats
import NextGPTTestSupport

/// LoRA merged at conversion against peft's own `merge_and_unload()` in f32
/// (Tests/Fixtures/lora/merged-reference.safetensors, made by tools/fixtures/fx_lora_reference.py).
final class LoraMergeTests: XCTestCase {
    let fx = TestSupport.fixtures
    var dir = ""
    override func setUp() { dir = TestSupport.temporaryDirectory("convert") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func reference() throws -> Checkpoint { try SafetensorsFile.read(path: "\(fx)/lora/merged-reference.safetensors") }

    func convertF32(_ plan: ConversionPlan) throws -> GGUFFile {
        let out = "\(dir)/\(UUID().uuidString).gguf"
        _ = try Converter.convert(plan, options: ConversionOptions(policy: QuantizationPolicy(type: .f32)), to: out)
        return try GGUFFile(path: out)
    }

    func assertMatches(_ file: GGUFFile, _ reference: Checkpoint, prefix: String, line: UInt = #line) throws {
        let expected = reference.tensors.filter { $0.name.hasPrefix(prefix) }
        XCTAssertFalse(expected.isEmpty, line: line)
        for tensor in expected {
            let name = String(tensor.name.dropFirst(prefix.count))
            let ours = try ConvertSupport.values(file, "vicuna.\(name)")
            let theirs = try tensor.readFloats()
            let worst = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-6, "\(name)", line: line)
        }
    }

    func testPeftAdapterMergedLikePeft() throws {
        for folder in ["vicuna-peft", "vicuna-peft-bin"] {
            var plan = ConversionPlan()
            plan.components = try LlamaComponent.load(folder: "\(fx)/vicuna", delta: nil, mergeDeltaLora: false)
            let adapter = try PeftAdapter.read(path: "\(fx)/lora/\(folder)")
            XCTAssertEqual(adapter.pairs.first?.scale, 2)  // lora_alpha 8 / r 4
            try plan.attach(adapter)
            let file = try convertF32(plan)
            try assertMatches(file, try reference(), prefix: "peft.")
            XCTAssertNotNil(file.metadata["vicuna.lora_merged"])
        }
    }

    func testUserScaleMultipliesTheUpdate() throws {
        let base = try HFWeights.read(folder: "\(fx)/vicuna")["model.layers.0.self_attn.q_proj.weight"]!.readFloats()
        let merged = try reference()["peft.model.layers.0.self_attn.q_proj.weight"]!.readFloats()
        var plan = ConversionPlan()
        plan.components = try LlamaComponent.load(folder: "\(fx)/vicuna", delta: nil, mergeDeltaLora: false)
        try plan.attach(try PeftAdapter.read(path: "\(fx)/lora/vicuna-peft").scaled(by: 0.5))
        let ours = try ConvertSupport.values(try convertF32(plan), "vicuna.model.layers.0.self_attn.q_proj.weight")
        for i in stride(from: 0, to: ours.count, by: 97) {
            XCTAssertEqual(ours[i], base[i] + 0.5 * (merged[i] - base[i]), accuracy: 1e-6)
        }
    }

    func testDeltaLoraMergedLikePeft() throws {
        // The fixture delta was trained with r 8, lora_alpha 16 (NExT-GPT's real one: r = alpha = 32).
        let delta = try NextGPTDelta(path: "\(fx)/nextgpt-delta", loraAlpha: 16)
        XCTAssertEqual(delta.lora.first?.scale, 2)
        var plan = ConversionPlan()
        plan.components = try LlamaComponent.load(folder: "\(fx)/vicuna", delta: delta, mergeDeltaLora: true)
        try assertMatches(try convertF32(plan), try reference(), prefix: "delta.")
        XCTAssertEqual(try NextGPTDelta(path: "\(fx)/nextgpt-delta").lora.first?.scale, 1, "default: alpha = r")
    }

    func testAdapterTargetingAMissingWeightIsAnError() throws {
        var plan = ConversionPlan()
        plan.components = try LlamaComponent.load(folder: "\(fx)/llama-gqa", delta: nil, mergeDeltaLora: false)
        XCTAssertThrowsError(try plan.attach(try PeftAdapter.read(path: "\(fx)/lora/vicuna-peft"))) { error in
            XCTAssertTrue("\(error)".contains("q_proj.weight"), "\(error)")
        }
    }
}
