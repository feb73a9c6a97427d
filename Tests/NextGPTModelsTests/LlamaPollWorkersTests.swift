import Foundation
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// `ExecutionContext.pollWorkers` (`nextgpt bench --poll`) changes only how idle workers wait:
/// the tiny Vicuna's logits for a prompt and the decode steps after it are bit-identical with
/// it on and off, at 2 threads (that workers sleep again after the scope: `ThreadPoolTests`).
final class LlamaPollWorkersTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func testPollingWorkersGiveBitIdenticalLogits() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/llama/vicuna-q4_K.safetensors")
        let container = try ModelsTestSupport.container(for: bundle, in: Self.folder)
        let file = try ModelFile(path: container)
        var sleeping = ExecutionContext(threads: 2)
        var polling = ExecutionContext(threads: 2)
        sleeping.pollWorkers = false
        polling.pollWorkers = true
        let model = try LlamaForCausalLM(file, component: "vicuna", options: LoadOptions(repackQuantized: true, context: sleeping))
        let vocab = model.vocabularySize
        let prompt = [1, 40, 2, 17, 9, 63, 5, 31, 12, 7, 99, 4].map { $0 % vocab }, steps = [11, 23, 5].map { $0 % vocab }
        func run(_ context: ExecutionContext) -> [[Float]] {
            let cache = model.makeCache()
            var out = [model.logits(hidden: model.hiddenStates([.tokens(prompt)], cache: cache, context: context), context: context).values]
            for token in steps {
                out.append(model.logits(hidden: model.hiddenStates([.tokens([token])], cache: cache, context: context), context: context).values)
            }
            return out
        }
        let a = run(sleeping), b = run(polling)
        XCTAssertEqual(a.count, b.count)
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x.map(\.bitPattern), y.map(\.bitPattern), i == 0 ? "prefill" : "decode step \(i)")
        }
        XCTAssertTrue(!a[0].isEmpty && a[0].allSatisfy(\.isFinite))
    }
}
