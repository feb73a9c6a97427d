import Foundation
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
@testable import NextGPTVerify
import XCTest

/// Greedy generation of the tiny LLaMA fixtures through an f16 KV cache (`cache_type: "f16"`)
/// against the ids transformers generated (the bundles' `greedy*` probes, f32 cache in PyTorch):
/// the same ids, exactly, as the f32 cache gives (LlamaParityTests).
final class LlamaHalfCacheTests: XCTestCase {
    func testGreedyIdsThroughF16CacheMatchTransformers() throws {
        let dir = "\(TestSupport.bundles)/llama"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 15, "bundles missing in \(dir)")
        var checked = 0
        for name in names {
            let bundle = try ReferenceBundle(path: "\(dir)/\(name)")
            let model = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: LlamaParityTests.folder))
            for var probe in bundle.probes where probe.call == "greedy" {
                probe.args["cache_type"] = .string("f16")
                let ids = try VerifyLlamaCalls.greedy.run(ProbeContext(model: model, bundle: bundle, probe: probe, execution: .default))["ids"]!
                let expected = try bundle.tensor(probe.expect["ids"]!)
                XCTAssertEqual(ids.values, expected.values, "\(name): \(probe.name) with an f16 cache")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 21)
    }
}
