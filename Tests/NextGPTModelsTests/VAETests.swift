import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTLayers
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// `AutoencoderKL` against diffusers 0.42: every bundle made by tools/references/bundle_vae.py
/// (the sd15 fixture at f32, f16, q8_0; every Tests/Fixtures/sd-variants VAE and the AudioLDM and
/// ZeroScope fixtures' VAEs at f32), each run on
/// the container its recipe makes.
final class VAETests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")
    static let directory = "\(TestSupport.bundles)/sd"

    func run(_ name: String) throws {
        let report = try ModelsTestSupport.verify(bundle: "sd/\(name)", in: Self.folder, minimumProbes: 9)
        for result in report.results {
            for output in result.outputs {
                print("VAE parity \(name) \(result.probe.name).\(output.output): rel L2 \(String(format: "%.2e", output.relL2)), max |Δ| \(String(format: "%.2e", output.maxAbs))")
            }
        }
    }

    func testSD15FixtureF32() throws { try run("vae-sd15-f32") }
    func testSD15FixtureF16() throws { try run("vae-sd15-f16") }
    func testSD15FixtureQ8() throws { try run("vae-sd15-q8_0") }
    func testThreeLevelsTwoLayersPerBlock() throws { try run("vae-3level-f32") }
    func testWithoutQuantConvolutions() throws { try run("vae-noquant-f32") }
    func testWithoutMidBlockAttention() throws { try run("vae-noattn-f32") }
    func testLegacyAttentionNames() throws { try run("vae-legacy-f32") }
    func testAudioLDMFixture() throws { try run("vae-audioldm-f32") }
    func testZeroScopeFixture() throws { try run("vae-zeroscope-f32") }

    /// The converter stores the legacy `query/key/value/proj_attn` under the current names.
    func testLegacyNamesAreStoredModern() throws {
        let bundle = try ReferenceBundle(path: "\(Self.directory)/vae-legacy-f32.safetensors")
        let model = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        XCTAssertTrue(model.contains("sd15.vae.decoder.mid_block.attentions.0.to_out.0.weight"))
        XCTAssertFalse(model.contains("sd15.vae.decoder.mid_block.attentions.0.proj_attn.weight"))
        let vae = try AutoencoderKL(model, component: "sd15.vae")
        XCTAssertEqual(vae.config.latentChannels, 8)
        XCTAssertEqual(vae.config.scalingFactor, 0.9654927849769592, accuracy: 1e-12)
    }

    func testConfigDefaultsAndTileSizes() throws {
        let bundle = try ReferenceBundle(path: "\(Self.directory)/vae-sd15-f32.safetensors")
        let model = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        let vae = try AutoencoderKL(model, component: "sd15.vae")
        XCTAssertEqual(vae.config.scalingFactor, 0.18215, accuracy: 1e-12)  // absent from the 0.6.0-style config
        XCTAssertNil(vae.config.shiftFactor)
        XCTAssertTrue(vae.config.useQuantConv && vae.config.usePostQuantConv && vae.config.midBlockAddAttention)
        XCTAssertEqual(vae.tiling(), VAETiling(sampleSize: 16, downscaleFactor: 2))
        XCTAssertEqual(vae.tiling().latentSize, 8)
        XCTAssertTrue(vae.config.canEncode(side: 2) && vae.config.canEncode(side: 37))
        XCTAssertFalse(vae.config.canEncode(side: 1))
    }

    func testUnsupportedBlockTypeIsAClearError() throws {
        let config = try DiffusersConfig.parse(#"{"block_out_channels": [8, 8], "down_block_types": ["DownEncoderBlock2D", "AttnDownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"]}"#, origin: "test.json")
        XCTAssertThrowsError(try AutoencoderKLConfig(config)) { error in
            XCTAssertTrue("\(error)".contains("AttnDownEncoderBlock2D"), "\(error)")
        }
    }
}

/// JSON 0 and 1 are integers, true/false are flags (Linux Foundation bridges 0/1 NSNumbers to Bool).
final class DiffusersConfigNumberTests: XCTestCase {
    func testZeroAndOneAreIntegersNotFlags() throws {
        let config = try DiffusersConfig.parse(#"{"one": 1, "zero": 0, "flag": true, "real": 0.5, "list": [1, 0]}"#, origin: "t.json")
        XCTAssertEqual(try config.int("one", default: 7), 1)
        XCTAssertEqual(try config.int("zero", default: 7), 0)
        XCTAssertEqual(try config.double("one", default: 7), 1)
        XCTAssertEqual(try config.perBlock("one", blocks: 2, default: 7), [1, 1])
        XCTAssertEqual(try config.bool("flag", default: false), true)
        XCTAssertThrowsError(try config.int("flag", default: 7))
        XCTAssertThrowsError(try config.double("flag", default: 7))
        XCTAssertThrowsError(try config.int("real", default: 7))
    }
}
