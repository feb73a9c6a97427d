import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The UNet2DConditionModel runtime against diffusers: every bundle made by
/// tools/references/bundle_unet.py (SD 1.5 fixture × f32, f16, q8_0, q4_0; each
/// Tests/Fixtures/sd-variants folder; the AudioLDM fixture), each run on the container its recipe makes.
final class UNetTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func run(_ names: [String]) throws {
        for name in names { try ModelsTestSupport.verify(bundle: "sd/\(name)", in: Self.folder, minimumProbes: 3) }
    }

    func testSD15MatchesDiffusers() throws {
        try run(["f32", "f16", "q8_0", "q4_0"].map { "unet-sd15-\($0)" })
    }

    func testConfigVariantsMatchDiffusers() throws {
        let dir = "\(TestSupport.fixtures)/sd-variants"
        // UNet variants are the folders with a unet/ (the vae-* ones are the VAE tests').
        let variants = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            .filter { FileManager.default.fileExists(atPath: "\(dir)/\($0)/unet/config.json") }
        XCTAssertEqual(variants.count, 8, "UNet folders in \(dir)")
        try run(variants.map { "unet-variant-\($0)-f32" })
    }

    func testAudioLDMMatchesDiffusers() throws {
        try run(["unet-audioldm-f32"])
    }

    // MARK: config and input errors

    static let base = #"{"block_out_channels": [8, 8], "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]"#

    func config(_ extra: String) throws -> UNet2DConditionConfig {
        try UNet2DConditionConfig(try DiffusersConfig.parse(Self.base + (extra.isEmpty ? "" : ", ") + extra + "}", origin: "test.json"))
    }

    func assertRejects(_ extra: String, naming key: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try config(extra), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains("'\(key)'"), "\(error) does not name \(key)", file: file, line: line)
        }
    }

    func testConfigReadsDiffusersDefaultsAndQuirks() throws {
        let c = try config(#""attention_head_dim": [2, 4], "layers_per_block": [1, 2], "freq_shift": 1, "mid_block_type": null"#)
        XCTAssertEqual(c.attentionHeads, [2, 4], "attention_head_dim gives the head counts")
        XCTAssertEqual(c.layersPerBlock, [1, 2])
        XCTAssertEqual(c.freqShift, 1, "an integer 1 is a number, not a boolean")
        XCTAssertNil(c.midBlockType, "explicit null: no mid block")
        let defaults = try config("")
        XCTAssertEqual(defaults.midBlockType, "UNetMidBlock2DCrossAttn")
        XCTAssertEqual(defaults.attentionHeads, [8, 8])
        XCTAssertEqual(defaults.crossAttentionDim, [1280, 1280])
        XCTAssertEqual(defaults.timeEmbeddingDim, 32)
        XCTAssertNil(defaults.classEmbedding)
        XCTAssertEqual(try config(#""num_attention_heads": null"#).attentionHeads, [8, 8])
    }

    func testUnsupportedConfigValuesNameTheirKey() {
        assertRejects(#""num_attention_heads": 4"#, naming: "num_attention_heads")
        assertRejects(#""mid_block_type": "UNetMidBlock2DSimpleCrossAttn""#, naming: "mid_block_type")
        assertRejects(#""class_embed_type": "fancy""#, naming: "class_embed_type")
        assertRejects(#""class_embed_type": "projection""#, naming: "projection_class_embeddings_input_dim")
        assertRejects(#""dual_cross_attention": true"#, naming: "dual_cross_attention")
        assertRejects(#""resnet_time_scale_shift": "spatial""#, naming: "resnet_time_scale_shift")
        assertRejects(#""time_embedding_type": "fourier""#, naming: "time_embedding_type")
        assertRejects(#""time_cond_proj_dim": 8"#, naming: "time_cond_proj_dim")
        assertRejects(#""addition_embed_type": "text_time""#, naming: "addition_embed_type")
        assertRejects(#""center_input_sample": 0"#, naming: "center_input_sample")
        assertRejects(#""attention_head_dim": [2, 4, 8]"#, naming: "attention_head_dim")
        assertRejects(#""act_fn": "mish""#, naming: "act_fn")
        assertRejects(#""down_block_types": ["SimpleCrossAttnDownBlock2D", "DownBlock2D"]"#, naming: "down_block_types")
    }

    func testBadInputsAreErrors() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/sd/unet-variant-class-timestep-f32.safetensors")
        let unet = try UNet2DConditionModel(try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder)),
                                            component: "sd15.unet")
        let sample = Tensor(zeros: [2, 4, 8, 8])
        let encoder = Tensor(zeros: [2, 3, 8])
        let labels = Tensor(shape: [2], values: [1, 2])
        XCTAssertThrowsError(try unet(sample: sample, timestep: [1], encoderHiddenStates: encoder, classLabels: nil, context: .default))
        XCTAssertThrowsError(try unet(sample: sample, timestep: [1, 2, 3], encoderHiddenStates: encoder, classLabels: labels, context: .default))
        XCTAssertThrowsError(try unet(sample: sample, timestep: [1], encoderHiddenStates: Tensor(zeros: [2, 3, 5]), classLabels: labels, context: .default))
        XCTAssertThrowsError(try unet(sample: Tensor(zeros: [2, 3, 8, 8]), timestep: [1], encoderHiddenStates: encoder, classLabels: labels, context: .default))
        XCTAssertEqual(try unet(sample: sample, timestep: [1], encoderHiddenStates: encoder, classLabels: labels, context: .default).shape, [2, 4, 8, 8])
    }
}
