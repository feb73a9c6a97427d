import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The weight-path loader proves every tensor of a component is read: a container with one
/// tensor more or less than the model is refused with that tensor named.
final class WeightsLoaderTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    /// The tiny Vicuna container its transformers bundle was made against.
    func vicunaContainer() throws -> String {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/llama/vicuna-f32.safetensors")
        return try ModelsTestSupport.container(for: bundle, in: Self.folder)
    }

    /// A copy of `source` without the tensor `dropping` and with `adding` (f32 values) appended.
    func rewrite(_ source: String, as name: String, dropping: String? = nil,
                 adding: (name: String, shape: [Int])? = nil) throws -> String {
        let input = try GGUFFile(path: source)
        let kept = input.tensors.filter { $0.name != dropping }
        XCTAssertEqual(kept.count, input.tensors.count - (dropping == nil ? 0 : 1), "\(dropping ?? "") is not in \(source)")
        var infos = kept.map { GGUFTensorInfo(name: $0.name, shape: $0.shape, type: $0.type) }
        if let adding { infos.append(GGUFTensorInfo(name: adding.name, shape: adding.shape, type: .f32)) }
        let path = "\(Self.folder)/\(name).gguf"
        let writer = try GGUFWriter(destination: path)
        try writer.begin(metadata: input.metadataKeys.map { ($0, input.metadata[$0]!) }, tensors: infos)
        for tensor in kept { try writer.write(try input.file.read(at: tensor.fileOffset, count: tensor.byteCount)) }
        if let adding {
            let values = [Float](repeating: 0.5, count: adding.shape.reduce(1, *))
            try values.withUnsafeBytes { try writer.write($0) }
        }
        try writer.commit()
        return path
    }

    func loadError(_ body: () throws -> Void) -> FormatError? {
        do {
            try body()
            return nil
        } catch let error as FormatError {
            return error
        } catch {
            XCTFail("expected a FormatError, got \(error)")
            return nil
        }
    }

    func testTheWholeFixtureComponentIsRead() throws {
        let llm = try LlamaForCausalLM(try ModelFile(path: try vicunaContainer()), component: "vicuna")
        XCTAssertEqual(llm.loadReport.unused, [])
        let file = try ModelFile(path: try vicunaContainer())
        XCTAssertEqual(llm.loadReport.used, Set(file.container.tensors(of: "vicuna").map(\.name)))
    }

    func testAnExtraTensorIsRefusedWithItsKey() throws {
        let extra = "vicuna.model.layers.0.mlp.extra_proj.weight"
        let path = try rewrite(try vicunaContainer(), as: "vicuna-extra", adding: (extra, [4, 8]))
        let error = loadError { _ = try LlamaForCausalLM(try ModelFile(path: path), component: "vicuna") }
        XCTAssertEqual(error?.tensor, extra)
        XCTAssertEqual(error?.file, path)
        XCTAssertTrue(error?.message.contains("no module of it reads it") ?? false, error?.description ?? "no error")

        // Listed instead of refused when the caller loads only part of a checkpoint on purpose.
        let partial = try LlamaForCausalLM(try ModelFile(path: path), component: "vicuna", options: LoadOptions(unusedTensors: .allow))
        XCTAssertEqual(partial.loadReport.unused, [extra])
    }

    func testAMissingTensorIsRefusedWithItsKey() throws {
        let missing = "vicuna.model.layers.1.self_attn.k_proj.weight"
        let path = try rewrite(try vicunaContainer(), as: "vicuna-missing", dropping: missing)
        let error = loadError { _ = try LlamaForCausalLM(try ModelFile(path: path), component: "vicuna") }
        XCTAssertEqual(error?.tensor, missing)
        XCTAssertEqual(error?.message, "not in the container")
    }

    func testAWrongShapeIsRefusedWithItsKey() throws {
        let name = "vicuna.model.norm.weight"
        let source = try vicunaContainer()
        let hidden = try GGUFFile(path: source).tensors.first { $0.name == name }!.shape.reduce(1, *)
        let path = try rewrite(try rewrite(source, as: "vicuna-no-norm", dropping: name), as: "vicuna-bad-norm", adding: (name, [hidden + 1]))
        let error = loadError { _ = try LlamaForCausalLM(try ModelFile(path: path), component: "vicuna") }
        XCTAssertEqual(error?.tensor, name)
        XCTAssertEqual(error?.message, "has shape [\(hidden + 1)], the config implies [\(hidden)]")
    }

    /// Buffers upstream code recomputes (Vicuna v0's `rotary_emb.inv_freq`, `position_ids`, …)
    /// are in real checkpoints; they are not reported.
    func testRecomputedBuffersAreNotReported() throws {
        let buffer = "vicuna.model.layers.0.self_attn.rotary_emb.inv_freq"
        let path = try rewrite(try vicunaContainer(), as: "vicuna-inv-freq", adding: (buffer, [4]))
        let llm = try LlamaForCausalLM(try ModelFile(path: path), component: "vicuna")
        XCTAssertEqual(llm.loadReport.unused, [])
        XCTAssertFalse(llm.loadReport.used.contains(buffer))
    }

    /// Stable Diffusion's text encoder, UNet and VAE each read all of their tensors; one more in
    /// the UNet refuses the UNet and leaves the other components alone.
    func testDiffusionComponentsReadEveryTensor() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/sd/txt2img-f32.safetensors")
        let file = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        XCTAssertNoThrow(try StableDiffusionPipeline(file, pipeline: "sd15"))
        let extra = "sd15.unet.down_blocks.0.resnets.0.norm3.weight"
        let path = try rewrite(file.container.file.path, as: "sd15-extra", adding: (extra, [8]))
        let error = loadError { _ = try UNet2DConditionModel(try ModelFile(path: path), component: "sd15.unet") }
        XCTAssertEqual(error?.tensor, extra)
        XCTAssertNoThrow(try AutoencoderKL(try ModelFile(path: path), component: "sd15.vae"))
    }

    /// LoRA targets come from the loader: an adapter pair that names no linear layer of the
    /// component is refused with the adapter and the pair named.
    func testALoraPairNamingNoLayerIsRefused() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/sd/txt2img-f32.safetensors")
        let file = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        let adapter = "\(TestSupport.fixtures)/lora/vicuna-peft"
        let options = LoadOptions(lora: [.adapter(LoraSpec(path: adapter))])
        let error = loadError { _ = try CLIPTextModel(file, component: "sd15.text_encoder", options: options) }
        XCTAssertEqual(error?.file, adapter)
        XCTAssertTrue(error?.tensor?.hasPrefix("model.layers.") ?? false, error?.description ?? "no error")
        XCTAssertEqual(error?.message, "names no linear layer of sd15.text_encoder")

        // The same adapter on the model it was made for names every layer it updates.
        let vicuna = try LlamaForCausalLM(try ModelFile(path: try vicunaContainer()), component: "vicuna", options: options)
        XCTAssertEqual(vicuna.loadReport.loraPairs.map(\.source), [.adapter(LoraSpec(path: adapter))])
        XCTAssertGreaterThan(vicuna.loadReport.loraPairs[0].count, 0)
    }
}
