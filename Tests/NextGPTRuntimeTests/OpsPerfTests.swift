import Foundation
import NextGPTDiffusion
import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// Timings of the ops at the sizes the decoders use (run with NEXTGPT_OPS_PERF=1, release build:
/// `swift build -c release --build-tests`, `NEXTGPT_OPS_PERF=1 swift test -c release --filter OpsPerf`).
final class OpsPerfTests: XCTestCase {
    let context = ExecutionContext.default

    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["NEXTGPT_OPS_PERF"] == "1", "set NEXTGPT_OPS_PERF=1")
    }

    func time(_ label: String, flops: Double = 0, repeats: Int = 3, _ body: () -> Tensor) {
        _ = body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            let y = body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            XCTAssertGreaterThan(y.count, 0)
            best = min(best, seconds)
        }
        let rate = flops > 0 ? String(format: ", %.1f GFLOP/s", flops / best / 1e9) : ""
        print(String(format: "OPPERF %-44@ %8.2f ms%@", label as NSString, best * 1e3, rate as NSString))
    }

    // SD 1.5 UNet level 1 self-attention through both tile-product paths, alternating so that
    // load from other processes hits both alike. OpenBLAS only at its automatic tiles: larger ones
    // start its own threads inside ours (64×128 measured 54 s).
    func testAttentionTileProducts() {
        let q = xorshiftUniform([4096, 8, 40], seed: 1), k = xorshiftUniform([4096, 8, 40], seed: 2), v = xorshiftUniform([4096, 8, 40], seed: 3)
        let runs: [(Attention.TileProducts, Attention.Blocks)] = [
            (.openBLAS, .init()), (.singleThread, .init()), (.singleThread, .init(queries: 64, keys: 128)),
            (.singleThread, .init(queries: 64, keys: 256)), (.openBLAS, .init()), (.singleThread, .init()),
        ]
        for (products, blocks) in runs {
            var context = context
            context.attentionTileProducts = products
            time("sdpa 4096 8x40 \(products) tiles \(blocks.queries)x\(blocks.keys)", flops: 4 * 4096 * 4096 * 320, repeats: 5) {
                Attention.scaledDotProductAttention(query: q, key: k, value: v, blocks: blocks, context: context)
            }
        }
    }

    func testDecoderSizes() {
        // SD 1.5 UNet level 1: 4096 tokens, 320 channels = 8 heads × 40
        let q = xorshiftUniform([4096, 8, 40], seed: 1), k = xorshiftUniform([4096, 8, 40], seed: 2), v = xorshiftUniform([4096, 8, 40], seed: 3)
        time("sdpa 4096x4096, 8 heads x 40", flops: 4 * 4096 * 4096 * 320) {
            Attention.scaledDotProductAttention(query: q, key: k, value: v, context: context)
        }
        // VAE mid-block: 4096 tokens, one head of 512
        let qv = xorshiftUniform([4096, 1, 512], seed: 21), kv5 = xorshiftUniform([4096, 1, 512], seed: 22)
        time("sdpa 4096x4096, 1 head x 512", flops: 4 * 4096 * 4096 * 512) {
            Attention.scaledDotProductAttention(query: qv, key: kv5, value: kv5, context: context)
        }
        // LLaMA prefill: 512 tokens causal, 32 heads × 128
        let qp = xorshiftUniform([512, 32, 128], seed: 23)
        time("causal sdpa 512x512, 32 heads x 128", flops: 2 * 512 * 512 * 4096) {
            Attention.scaledDotProductAttention(query: qp, key: qp, value: qp, isCausal: true, context: context)
        }
        let ctx = xorshiftUniform([77, 8, 40], seed: 4)
        time("cross sdpa 4096x77, 8 heads x 40", flops: 4 * 4096 * 77 * 320) {
            Attention.scaledDotProductAttention(query: q, key: ctx, value: ctx, context: context)
        }
        // LLaMA decode step: 1 query over 1024 cached positions, 32 heads × 128
        let cache = KVCache(kvHeads: 32, headDim: 128, capacity: 1024)
        let kv = xorshiftUniform([1024, 32, 128], seed: 5)
        cache.append(keys: kv, values: kv)
        let q1 = xorshiftUniform([1, 32, 128], seed: 6)
        time("decode sdpa 1x1024, 32 heads x 128", flops: 4 * 1024 * 4096) {
            Attention.scaledDotProductAttention(query: q1, cache: cache, context: context)
        }
        let x = xorshiftUniform([1, 320, 64, 64], seed: 7), w = xorshiftUniform([320, 320, 3, 3], seed: 8), b = xorshiftUniform([320], seed: 9)
        time("conv2d 320->320 3x3 on 64x64", flops: 2 * 320 * 320 * 9 * 4096) {
            Convolution.conv2d(x, weight: w, bias: b, padding: [1, 1], context: context)
        }
        let w1 = xorshiftUniform([320, 320, 1, 1], seed: 10)
        time("conv2d 320->320 1x1 on 64x64", flops: 2 * 320 * 320 * 4096) {
            Convolution.conv2d(x, weight: w1, bias: b, context: context)
        }
        let gw = xorshiftUniform([320], seed: 11)
        time("group_norm 32 groups [1,320,64,64]") { Normalization.groupNorm(x, groups: 32, weight: gw, bias: b, eps: 1e-5, context: context) }
        time("silu [1,320,64,64]") { Activations.silu(x, context: context) }
        let h = xorshiftUniform([4096, 1280], seed: 12), lw = xorshiftUniform([1280], seed: 13)
        time("layer_norm [4096,1280]") { Normalization.layerNorm(h, weight: lw, bias: lw, eps: 1e-5, context: context) }
        time("rms_norm [4096,1280]") { Normalization.rmsNorm(h, weight: lw, eps: 1e-6, context: context) }
        time("gelu erf [4096,1280]") { Activations.gelu(h, context: context) }
        time("softmax [4096,1280]") { Activations.softmax(h, context: context) }
        time("upsample nearest x2 [1,320,64,64]") { Convolution.upsampleNearest2d(x, scaleFactor: 2, context: context) }
        time("permute [1,320,64,64]->[1,64,64,320]") { Shape.permute(x, [0, 2, 3, 1], context: context) }
        // HiFi-GAN first upsampler: 1024 -> 512, k 16, stride 5, 500 frames
        let mel = xorshiftUniform([1, 1024, 500], seed: 14), tw = xorshiftUniform([1024, 512, 16], seed: 15), tb = xorshiftUniform([512], seed: 16)
        time("conv_transpose1d 1024->512 k16 s5 x500", flops: 2 * 1024 * 512 * 16 * 500) {
            Convolution.convTranspose1d(mel, weight: tw, bias: tb, stride: 5, padding: 5, context: context)
        }
    }
}
