import Foundation
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import Synchronization
import XCTest

/// Two models running at once, each in its own execution context (thread count, matmul path),
/// give bit for bit what each gives alone: nothing one context sets reaches the other.
final class ConcurrentContextsTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    /// Outputs of every iteration, written from the threads.
    final class Outputs: Sendable {
        let values = Mutex<[String: [Tensor]]>([:])
        func append(_ name: String, _ t: Tensor) { values.withLock { $0[name, default: []].append(t) } }
    }

    func testLlamaAndUNetInDifferentContextsMatchTheirSoloRuns() throws {
        // Containers are made first: making one changes the working directory.
        let llamaBundle = try ReferenceBundle(path: "\(TestSupport.bundles)/llama/vicuna-q8_0.safetensors")
        let unetBundle = try ReferenceBundle(path: "\(TestSupport.bundles)/sd/unet-sd15-q8_0.safetensors")
        let llamaFile = try ModelFile(path: try ModelsTestSupport.container(for: llamaBundle, in: Self.folder))
        let unetFile = try ModelFile(path: try ModelsTestSupport.container(for: unetBundle, in: Self.folder))

        let llamaContext: ExecutionContext = {
            var context = ExecutionContext(threads: 1)
            context.matmulPath = .blas
            return context
        }()
        let unetContext: ExecutionContext = {
            var context = ExecutionContext(threads: 2)
            context.matmulPath = .automatic
            return context
        }()
        let llm = try LlamaForCausalLM(llamaFile, component: "vicuna", options: LoadOptions(repackQuantized: true, context: llamaContext))
        let unet = try UNet2DConditionModel(unetFile, component: "sd15.unet")

        let ids = [1, 15043, 29892, 590, 1024, 338, 4335, 29889].map { $0 % llm.vocabularySize }
        let sample = lcgThousandths([2, unet.config.inChannels, 16, 16], seed: 1)
        let encoder = lcgThousandths([2, 7, unet.config.crossAttentionDim[0]], seed: 2)
        @Sendable func runLlama() -> Tensor {
            llm.logits(hidden: llm.hiddenStates([.tokens(ids)], cache: llm.makeCache(), context: llamaContext), context: llamaContext)
        }
        @Sendable func runUNet() throws -> Tensor {
            try unet(sample: sample, timestep: [501], encoderHiddenStates: encoder, context: unetContext)
        }
        let llamaAlone = runLlama(), unetAlone = try runUNet()
        // The two contexts really differ for this model: f32 activations against the q8_0 weights
        // are not the 8-bit activations of the automatic path.
        var automatic = llamaContext
        automatic.matmulPath = .automatic
        XCTAssertNotEqual(llm.logits(hidden: llm.hiddenStates([.tokens(ids)], cache: llm.makeCache(), context: automatic),
                                     context: automatic).values, llamaAlone.values)

        let outputs = Outputs()
        let iterations = 3
        let group = DispatchGroup()
        let failures = Mutex<[String]>([])
        for name in ["llama", "unet"] {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                for _ in 0..<iterations {
                    do {
                        outputs.append(name, name == "llama" ? runLlama() : try runUNet())
                    } catch {
                        failures.withLock { $0.append("\(name): \(error)") }
                    }
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        XCTAssertEqual(failures.withLock { $0 }, [])
        let results = outputs.values.withLock { $0 }
        XCTAssertEqual(results["llama"]?.count, iterations)
        XCTAssertEqual(results["unet"]?.count, iterations)
        for (i, t) in (results["llama"] ?? []).enumerated() {
            XCTAssertEqual(t.shape, llamaAlone.shape)
            XCTAssertTrue(t.values == llamaAlone.values, "LLaMA iteration \(i) differs from its solo run")
        }
        for (i, t) in (results["unet"] ?? []).enumerated() {
            XCTAssertEqual(t.shape, unetAlone.shape)
            XCTAssertTrue(t.values == unetAlone.values, "UNet iteration \(i) differs from its solo run")
        }
    }
}
