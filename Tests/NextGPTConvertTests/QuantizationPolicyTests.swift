import NextGPTKernels
import XCTest
@testable import NextGPTConvert
import NextGPTFormats

final class QuantizationPolicyTests: XCTestCase {
    let q4 = QuantizationPolicy(type: .q4_0)

    func testLinearAndConvWeightsTakeTheRequestedType() {
        let linear = q4.decide(name: "vicuna.model.layers.0.mlp.down_proj.weight", shape: [4096, 11008], dtype: .f16)
        XCTAssertEqual(linear, .init(type: .q4_0, storedShape: [4096, 11008], originalShape: nil))
        // A 3×3 convolution: row = 320·3·3 = 2880 = 90 blocks of 32, stored as [out, in·kh·kw].
        let conv = q4.decide(name: "sd15.unet.down_blocks.0.resnets.0.conv1.weight", shape: [320, 320, 3, 3], dtype: .f32)
        XCTAssertEqual(conv, .init(type: .q4_0, storedShape: [320, 2880], originalShape: [320, 320, 3, 3]))
        // conv_in: row 4·3·3 = 36 is not whole blocks → f16, shape kept.
        let convIn = q4.decide(name: "sd15.unet.conv_in.weight", shape: [320, 4, 3, 3], dtype: .f32)
        XCTAssertEqual(convIn, .init(type: .f16, storedShape: [320, 4, 3, 3], originalShape: nil))
    }

    func testNormsBiasesEmbeddingsAndSmallTensorsStayFloat() {
        XCTAssertEqual(q4.decide(name: "vicuna.model.norm.weight", shape: [4096], dtype: .f16).type, .f32)
        XCTAssertEqual(q4.decide(name: "x.fc.bias", shape: [512], dtype: .f16).type, .f32)
        XCTAssertEqual(q4.decide(name: "imagebind.modality_preprocessors.vision.pos_embedding_helper.pos_embed", shape: [1, 257, 1280], dtype: .f32).type, .f16)
        XCTAssertEqual(q4.decide(name: "sd15.unet.time_embedding.linear_1.weight", shape: [1280, 320], dtype: .f32).type, .f16)
        XCTAssertEqual(q4.decide(name: "x.small.weight", shape: [32, 64], dtype: .f32).type, .f16)
        XCTAssertEqual(QuantizationPolicy(type: .f32).decide(name: "a.weight", shape: [4096, 4096], dtype: .f16).type, .f32)
    }

    func testQ4KFallsBackToQ4_0WhenRowsAreNotWhole256Blocks() {
        let policy = QuantizationPolicy(type: .q4_K)
        XCTAssertEqual(policy.decide(name: "a.weight", shape: [4096, 4096], dtype: .f16).type, .q4_K)
        XCTAssertEqual(policy.decide(name: "a.weight", shape: [320, 320, 3, 3], dtype: .f16).type, .q4_0)
    }

    func testFiveDimensionalKernelsFoldAndRecordTheirShape() {
        let policy = QuantizationPolicy(type: .f16)
        let temporal = policy.decide(name: "zeroscope.unet.x.conv1.weight", shape: [320, 320, 3, 1, 1], dtype: .f16)
        XCTAssertEqual(temporal, .init(type: .f16, storedShape: [320, 320, 3, 1], originalShape: [320, 320, 3, 1, 1]))
        let quantized = q4.decide(name: "zeroscope.unet.x.conv1.weight", shape: [320, 320, 3, 1, 1], dtype: .f16)
        XCTAssertEqual(quantized, .init(type: .q4_0, storedShape: [320, 960], originalShape: [320, 320, 3, 1, 1]))
        XCTAssertEqual(policy.decide(name: "s", shape: [], dtype: .f32), .init(type: .f32, storedShape: [1], originalShape: []))
    }

    func testRulesComeFirstAndParse() throws {
        let policy = QuantizationPolicy(type: .q4_0, rules: [try .init("vae\\.=f16"), try .init("lm_head=q8_0")])
        XCTAssertEqual(policy.decide(name: "sd15.vae.decoder.conv_in.weight", shape: [512, 4, 3, 3], dtype: .f32).type, .f16)
        XCTAssertEqual(policy.decide(name: "vicuna.lm_head.weight", shape: [32000, 4096], dtype: .f16).type, .q8_0)
        XCTAssertThrowsError(try QuantizationPolicy.Rule("novalue"))
        XCTAssertThrowsError(try QuantizationPolicy.Rule("x=q7_9"))
        XCTAssertThrowsError(try QuantizationPolicy.Rule("([=f16"))
    }
}
