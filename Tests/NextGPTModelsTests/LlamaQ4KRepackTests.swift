import Foundation
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The tiny Vicuna fixture in Q4_K (the container the vicuna-q4_K bundle is checked on) with its
/// Q4_K weights repacked (`LoadOptions.repackQuantized`, as `generate` loads) and kept row-major
/// (`--no-repack`): the same logits for a prompt (prefill) and the decode steps after it. Both
/// read the same Q8_K activations through kernels whose integer sums are exact; only f32 rounding
/// differs, which can move an occasional activation byte one step in a later layer, so the bound
/// is 1e-4 relative L2 on the logits.
final class LlamaQ4KRepackTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func logits(_ model: LlamaForCausalLM, prompt: [Int], steps: [Int], context: ExecutionContext) -> [[Float]] {
        let cache = model.makeCache()
        var out = [model.logits(hidden: model.hiddenStates([.tokens(prompt)], cache: cache, context: context), context: context).values]
        for token in steps {
            out.append(model.logits(hidden: model.hiddenStates([.tokens([token])], cache: cache, context: context), context: context).values)
        }
        return out
    }

    func testRepackedQ4KGivesTheSameLogitsAsRowMajor() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/llama/vicuna-q4_K.safetensors")
        let container = try ModelsTestSupport.container(for: bundle, in: Self.folder)
        let file = try ModelFile(path: container)
        let context = ExecutionContext.default
        let repacked = try LlamaForCausalLM(file, component: "vicuna", options: LoadOptions(repackQuantized: true, context: context))
        let mapped = try LlamaForCausalLM(file, component: "vicuna", options: LoadOptions(repackQuantized: false, context: context))
        let layers = repacked.model.layers.flatMap { [$0.selfAttn.qProj, $0.selfAttn.oProj, $0.mlp.gateProj, $0.mlp.downProj] }
        let q4k = layers.filter { $0.weight.type == .q4_K }
        XCTAssertFalse(q4k.isEmpty, "the fixture has no Q4_K projections")
        for layer in q4k { XCTAssertEqual(layer.packed?.layout, .interleaved8, "\(layer.weight.name) not repacked") }
        XCTAssertTrue(mapped.model.layers.allSatisfy { $0.selfAttn.qProj.packed == nil })

        let vocab = repacked.vocabularySize
        // 5 tokens: the direct kernels; 12: the integer GEMM where the CPU has VNNI.
        for prompt in [[1, 15, 27, 3, 88], [1, 40, 2, 17, 9, 63, 5, 31, 12, 7, 99, 4]].map({ $0.map { $0 % vocab } }) {
            let steps = [11, 23, 5].map { $0 % vocab }
            let a = logits(repacked, prompt: prompt, steps: steps, context: context)
            let b = logits(mapped, prompt: prompt, steps: steps, context: context)
            for (i, (x, y)) in zip(a, b).enumerated() {
                let err = relativeL2(x, y)
                XCTAssertLessThanOrEqual(err, 1e-4, "prompt of \(prompt.count), \(i == 0 ? "prefill" : "decode step \(i)"): rel L2 \(err)")
            }
        }
    }
}
