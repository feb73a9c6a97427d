import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The UNet3DConditionModel runtime against diffusers: the bundles made by
/// tools/references/bundle_unet3d.py (the ZeroScope fixture × f32, f16, q8_0: batches of 1 and 2,
/// per-video timesteps, 1, 3 and 4 frames, odd latents), each run on the container its recipe makes;
/// the temporal convolution in every stored type; config quirks and input errors.
final class UNet3DTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func testZeroScopeMatchesDiffusers() throws {
        // f32: the issue's bar, rel L2 ≤ 1e-4 on every probe (the bundle's tolerance).
        for type in ["f32", "f16", "q8_0"] {
            try ModelsTestSupport.verify(bundle: "sd/unet3d-zeroscope-\(type)", in: Self.folder, minimumProbes: 8)
        }
    }

    func f32Model() throws -> UNet3DConditionModel {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/sd/unet3d-zeroscope-f32.safetensors")
        return try UNet3DConditionModel(try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder)),
                                        component: "zeroscope.unet")
    }

    func testFixtureConfigAsTheModelReadsIt() throws {
        let c = try f32Model().config
        XCTAssertEqual(c.blockOutChannels, [4, 8, 12, 12])
        XCTAssertEqual(c.downBlockTypes, ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"])
        XCTAssertEqual(c.attentionHeadDim, 2)
        XCTAssertEqual(c.crossAttentionDim, 48)
        XCTAssertEqual(c.timeEmbeddingDim, 16)
    }

    func testInputErrorsNameTheShapes() throws {
        let model = try f32Model()
        let sample = lcgThousandths([1, 4, 2, 4, 4], seed: 1), encoder = lcgThousandths([1, 3, 48], seed: 2)
        func rejects(_ sample: Tensor, _ timestep: [Double], _ encoder: Tensor, _ text: String, line: UInt = #line) {
            XCTAssertThrowsError(try model(sample: sample, timestep: timestep, encoderHiddenStates: encoder, context: .default), line: line) {
                XCTAssertTrue("\($0)".contains(text), "\($0)", line: line)
            }
        }
        rejects(lcgThousandths([1, 4, 4, 4], seed: 3), [1], encoder, "is not [N, 4, F, H, W]")
        rejects(sample, [1], lcgThousandths([1, 3, 32], seed: 4), "differs from cross_attention_dim 48")
        rejects(sample, [1], lcgThousandths([2, 3, 48], seed: 5), "for a batch of 1")
        rejects(sample, [1, 2], encoder, "2 timesteps for a batch of 1")
        XCTAssertEqual(try model(sample: sample, timestep: [10], encoderHiddenStates: encoder, context: .default).shape, [1, 4, 2, 4, 4])
    }

    // MARK: config

    func config(_ json: String) throws -> UNet3DConditionConfig {
        try UNet3DConditionConfig(try DiffusersConfig.parse(json, origin: "test.json"))
    }

    func testConfigReadsDiffusersDefaultsAndTheHeadWidthQuirk() throws {
        let zeroscope = try config("{}")
        XCTAssertEqual(zeroscope.blockOutChannels, [320, 640, 1280, 1280])
        XCTAssertEqual(zeroscope.layersPerBlock, 2)
        XCTAssertEqual(zeroscope.crossAttentionDim, 1024)
        XCTAssertEqual(zeroscope.attentionHeadDim, 64)
        XCTAssertEqual(zeroscope.normNumGroups, 32)
        XCTAssertEqual(zeroscope.upBlockTypes, ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"])
        // attention_head_dim 64 is the head width: 320 / 640 / 1280 channels make 5 / 10 / 20 heads.
        XCTAssertEqual([320, 640, 1280].map { UNetAttentionSettings.video(headDim: 64, channels: $0, crossAttentionDim: 1024).heads }, [5, 10, 20])
        XCTAssertEqual(UNetAttentionSettings.video(headDim: 64, channels: 320, crossAttentionDim: 1024).headDim, 64)
    }

    func testUnsupportedConfigValuesNameTheirKey() {
        for (json, key) in [(#"{"num_attention_heads": 8}"#, "num_attention_heads"),
                            (#"{"attention_head_dim": [8, 8, 8, 8]}"#, "attention_head_dim"),
                            (#"{"time_cond_proj_dim": 16}"#, "time_cond_proj_dim"),
                            (#"{"norm_num_groups": null}"#, "norm_num_groups"),
                            (#"{"act_fn": "gelu"}"#, "act_fn"),
                            (#"{"down_block_types": ["CrossAttnDownBlock2D", "DownBlock3D", "DownBlock3D", "DownBlock3D"]}"#, "down_block_types"),
                            (#"{"block_out_channels": [32, 64]}"#, "block_out_channels")] {
            XCTAssertThrowsError(try config(json), json) { XCTAssertTrue("\($0)".contains("'\(key)'"), "\($0) does not name \(key)") }
        }
    }

    // MARK: the temporal convolution in every stored type

    /// A one-tensor-pair container: `t.conv.weight` [O, C, kt, kh, kw] stored as the converter
    /// stores it for `type` (F32/F16 folded to 4-D, quantized to [O, C·kt·kh·kw]), and `t.conv.bias`.
    func convolutionContainer(_ weight: Tensor, bias: Tensor, type: GGMLType) throws -> String {
        let shape = weight.shape
        let stored = type.isQuantized ? [shape[0], shape[1...].reduce(1, *)] : [shape[0], shape[1], shape[2], shape[3] * shape[4]]
        let path = "\(Self.folder)/conv3d-\(shape.map(String.init).joined(separator: "x"))-\(type).gguf"
        let writer = try GGUFWriter(destination: path)
        try writer.begin(metadata: [("general.architecture", .string("nextgpt")), ("general.alignment", .uint32(64)),
                                    ("nextgpt.components", .strings(["t"])),
                                    ("nextgpt.orig_shape.t.conv.weight", .int64s(shape.map { Int64($0) }))],
                         tensors: [GGUFTensorInfo(name: "t.conv.weight", shape: stored, type: type),
                                   GGUFTensorInfo(name: "t.conv.bias", shape: [shape[0]], type: .f32)])
        try writer.write(TensorEncoding.encode(weight.values, as: type))
        try writer.write(TensorEncoding.encode(bias.values, as: .f32))
        try writer.commit()
        return path
    }

    func testTemporalConvolutionMatchesConv3dInEveryStoredType() throws {
        let (o, c) = (8, 32)  // rows of 3·32 values: whole Q8_0 / Q4_0 blocks
        let x = lcgThousandths([2, c, 5, 3, 4], seed: 11)
        let bias = lcgThousandths([o], seed: 13)
        var exact = ExecutionContext.default
        exact.matmulPath = .blas
        for (kernel, padding) in [([3, 1, 1], [1, 0, 0]), ([2, 3, 1], [0, 1, 0])] {
            let weight = lcgThousandths([o, c] + kernel, seed: 12)
            for type in [GGMLType.f32, .f16, .q8_0, .q4_0] {
                for repack in [false, true] where !repack || type.isQuantized {
                    let file = try ModelFile(path: try convolutionContainer(weight, bias: bias, type: type))
                    let w = try Weights.component(file, "t", options: LoadOptions(repackQuantized: repack))
                    let layer = try w.conv3d("conv", in: c, out: o, kernel: kernel, padding: padding)
                    try w.finish()
                    // The reference: PyTorch's conv3d on the weights as stored (dequantized).
                    let stored = try file.weight("t.conv.weight").dequantized().reshaped([o, c] + kernel)
                    let reference = Convolution.conv3d(x, weight: stored, bias: bias, padding: padding, context: exact)
                    let label = "\(kernel) \(type)\(repack ? " repacked" : "")"
                    let ours = layer(x, exact)
                    XCTAssertEqual(ours.shape, reference.shape, label)
                    XCTAssertLessThan(relativeL2(ours, reference), 1e-6, label)
                    let runtime = layer(x, .default)
                    XCTAssertLessThan(relativeL2(runtime, reference), type.isQuantized ? 2e-2 : 1e-6, "\(label), runtime activations")
                }
            }
        }
    }
}
