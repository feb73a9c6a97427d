import Foundation
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// Spliced embeddings, the cache and sampling rules on the tiny Vicuna (its transformers parity
/// is in LlamaParityTests; these check the paths the bundles do not reach).
final class LlamaInputsAndSamplingTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func model() throws -> (ModelFile, LlamaForCausalLM) {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/llama/vicuna-f32.safetensors")
        let file = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        return (file, try LlamaForCausalLM(file, component: "vicuna"))
    }

    func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
    }

    /// NExT-GPT splices projected media features between token runs: embeddings given directly
    /// must act exactly like the token rows they equal.
    func testSplicedEmbeddingsActLikeTheirTokens() throws {
        let (_, llm) = try model()
        let head = [1, 5, 17], tail = [300, 999, 42]
        let reference = llm.hiddenStates([.tokens(head + tail)], cache: llm.makeCache(), context: .default)
        let spliced = llm.hiddenStates([.tokens(head), .embeddings(llm.model.embed([.tokens(tail)]))], cache: llm.makeCache(), context: .default)
        XCTAssertLessThanOrEqual(maxDifference(reference, spliced), 0)
    }

    /// Feeding a prompt in pieces through the KV cache gives the hidden states of one pass.
    func testIncrementalPrefillMatchesOnePass() throws {
        let (_, llm) = try model()
        let ids = [1, 5, 17, 300, 999, 42, 7, 8]
        let whole = llm.hiddenStates([.tokens(ids)], cache: llm.makeCache(), context: .default)
        let cache = llm.makeCache(capacity: 2)  // forces the cache to grow
        let first = llm.hiddenStates([.tokens(Array(ids[..<5]))], cache: cache, context: .default)
        let second = llm.hiddenStates([.tokens(Array(ids[5...]))], cache: cache, context: .default)
        XCTAssertEqual(cache.count, ids.count)
        let pieces = Shape.cat([first, second], dim: 0)
        XCTAssertLessThanOrEqual(maxDifference(whole, pieces), 1e-5)
    }

    func testSamplingRules() {
        let logits: [Float] = [1, 3, 2, -1, 3]
        logits.withUnsafeBufferPointer { p in
            // Greedy: the first of the largest values, as torch.argmax.
            var greedy = Sampler(.greedy)
            XCTAssertEqual(greedy.next(logits: p, history: []), 1)
            // HF repetition penalty: positive logits divided, negative multiplied.
            var penalized = Sampler(SamplingParameters(temperature: 0, topK: 0, topP: 1, repetitionPenalty: 2))
            XCTAssertEqual(penalized.next(logits: p, history: [1, 4]), 2)  // 3/2 < 2
            // top-k 1 is greedy at any temperature; a seed repeats its draws.
            var topOne = Sampler(SamplingParameters(temperature: 5, topK: 1, topP: 1, seed: 9))
            for _ in 0..<20 { XCTAssertEqual(topOne.next(logits: p, history: []), 1) }
            var a = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 3))
            var b = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 3))
            let drawsA = (0..<50).map { _ in a.next(logits: p, history: []) }
            XCTAssertEqual(drawsA, (0..<50).map { _ in b.next(logits: p, history: []) })
            XCTAssertTrue(Set(drawsA).isSubset(of: [0, 1, 2, 3, 4]))
            // top-p: ids 1 and 4 hold ~0.73 of the mass at T=1, so p=0.5 keeps only those.
            var nucleus = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 0.5, seed: 4))
            let kept = Set((0..<100).map { _ in nucleus.next(logits: p, history: []) })
            XCTAssertTrue(kept.isSubset(of: [1, 4]), "top-p kept \(kept)")
        }
    }
}
