import Foundation
import NextGPTConvert
import NextGPTDiffusion
import NextGPTFormats
import NextGPTImageBind
import NextGPTLayers
import NextGPTLlama
import NextGPTSessions
import NextGPTTestSupport
import XCTest

/// Class names as a container converted from every committed fixture records them, and the
/// loaders the standard registry finds for them.
final class ComponentRegistryTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    /// vicuna with the NExT-GPT delta, ImageBind, SD 1.5, AudioLDM and ZeroScope, in f32.
    static func fixtureContainer() throws -> ModelFile {
        let path = "\(folder)/all-components.gguf"
        if !FileManager.default.fileExists(atPath: path) {
            let fx = TestSupport.fixtures
            var plan = ConversionPlan()
            plan.components += try LlamaComponent.load(folder: "\(fx)/vicuna", delta: try NextGPTDelta(path: "\(fx)/nextgpt-delta"),
                                                       mergeDeltaLora: false)
            plan.components.append(try ImageBindComponent.load(path: "\(fx)/imagebind/imagebind_huge.pth"))
            for pipeline in ["sd15", "audioldm", "zeroscope"] { try PipelineSource.load("\(fx)/\(pipeline)", pipeline: pipeline, into: &plan) }
            var options = ConversionOptions(policy: QuantizationPolicy(type: .f32))
            options.hashSources = false
            _ = try Converter.convert(plan, options: options, to: path)
        }
        return try ModelFile(path: path)
    }

    func testClassNamesAsTheContainerRecordsThem() throws {
        let file = try Self.fixtureContainer()
        let expected = [
            "vicuna": "LlamaForCausalLM", "imagebind": "ImageBindModel",
            "sd15.unet": "UNet2DConditionModel", "sd15.vae": "AutoencoderKL", "sd15.text_encoder": "CLIPTextModel",
            "audioldm.unet": "UNet2DConditionModel", "audioldm.vae": "AutoencoderKL",
            "audioldm.text_encoder": "ClapTextModelWithProjection", "audioldm.vocoder": "SpeechT5HifiGan",
            "zeroscope.unet": "UNet3DConditionModel", "zeroscope.vae": "AutoencoderKL", "zeroscope.text_encoder": "CLIPTextModel",
        ]
        for (component, className) in expected {
            XCTAssertEqual(try ComponentRegistry.className(of: component, in: file), className, component)
        }
        XCTAssertEqual(Set(file.container.components), Set(expected.keys).union(["nextgpt"]))
        XCTAssertThrowsError(try ComponentRegistry.className(of: "nextgpt", in: file)) {
            XCTAssertTrue("\($0)".contains("'nextgpt' records no model class"), "\($0)")
        }
    }

    func testRunnableComponentsLoadAsTheirModels() throws {
        let file = try Self.fixtureContainer()
        let registry = ComponentRegistry.standard
        XCTAssertEqual(try registry.load("vicuna", from: file, as: LlamaForCausalLM.self).component, "vicuna")
        _ = try registry.load("sd15.unet", from: file, as: UNet2DConditionModel.self)
        _ = try registry.load("audioldm.unet", from: file, as: UNet2DConditionModel.self)
        _ = try registry.load("sd15.vae", from: file, as: AutoencoderKL.self)
        _ = try registry.load("zeroscope.vae", from: file, as: AutoencoderKL.self)
        _ = try registry.load("sd15.text_encoder", from: file, as: CLIPTextModel.self)
        _ = try registry.load("zeroscope.text_encoder", from: file, as: CLIPTextModel.self)
        _ = try registry.load("zeroscope.unet", from: file, as: UNet3DConditionModel.self)
        XCTAssertEqual(try registry.load("imagebind", from: file, as: ImageBindModel.self).component, "imagebind")
        XCTAssertEqual(try registry.load("audioldm.text_encoder", from: file, as: ClapTextModelWithProjection.self).component, "audioldm.text_encoder")
        XCTAssertEqual(try registry.load("audioldm.vocoder", from: file, as: SpeechT5HifiGan.self).component, "audioldm.vocoder")
        XCTAssertThrowsError(try registry.load("sd15.vae", from: file, as: CLIPTextModel.self)) {
            XCTAssertTrue("\($0)".contains("not a CLIPTextModel"), "\($0)")
        }
    }

    func testKnownButNotRunnableClassesNameClassAndComponent() throws {
        let file = try Self.fixtureContainer()
        // Every standard class runs now; a registry that knows a class without a loader still says so.
        let registry = ComponentRegistry([ComponentRegistry.Entry("UNet3DConditionModel", load: nil)])
        for (component, className) in ["zeroscope.unet": "UNet3DConditionModel"] {
            XCTAssertThrowsError(try registry.load(component, from: file)) {
                XCTAssertTrue("\($0)".contains("'\(component)' is a \(className), which this runtime cannot run yet"), "\($0)")
            }
        }
    }

    func testUnknownClassIsAnErrorNamingIt() throws {
        XCTAssertThrowsError(try ComponentRegistry.standard.loader(forClass: "WhisperForConditionalGeneration", component: "whisper",
                                                                   in: "x.gguf")) {
            XCTAssertTrue("\($0)".contains("'whisper' is a WhisperForConditionalGeneration, a class this runtime has no loader for"), "\($0)")
        }
        let llamaOnly = ComponentRegistry([ComponentRegistry.standard.entries["LlamaForCausalLM"]!])
        XCTAssertThrowsError(try llamaOnly.load("sd15.unet", from: try Self.fixtureContainer())) {
            XCTAssertTrue("\($0)".contains("UNet2DConditionModel"), "\($0)")
        }
        XCTAssertThrowsError(try ComponentRegistry.standard.load("sd21.unet", from: try Self.fixtureContainer())) {
            XCTAssertTrue("\($0)".contains("no component 'sd21.unet'"), "\($0)")
        }
    }
}
