import Foundation
import NextGPTAnyToAny
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTTokenizers
import NextGPTVerify
import XCTest

/// Signal-token runs in generation: forced completion (issues #46, #66 crash upstream), the skip
/// policy, and the hidden states taken when each signal token is fed. The sampled path itself is
/// held to PyTorch by the `nextgpt_generate` and `signal_conditioning` probes.
final class NExTGPTGeneratorTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("nextgpt-generator")

    private func fixture() throws -> (NExTGPTGenerator, NExTGPTInputs) {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/nextgpt/inference-f32.safetensors")
        let file = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        let model = try LlamaForCausalLM(file, component: "vicuna", options: LoadOptions(lora: [.storedDelta(mode: .runtime)]))
        let tokenizer = try SentencePieceTokenizer(metadata: file.metadata, component: "vicuna")
        return (try NExTGPTGenerator(model: model, tokenizer: tokenizer),
                try NExTGPTInputs(tokenizer: tokenizer, projection: try NExTGPTInputProjection(file)))
    }

    func testAStartedRunIsForcedAndItsHiddenStatesAreThoseOfTheFedTokens() throws {
        let (generator, inputs) = try fixture()
        let prompt = try inputs.inputs(NExTGPTPrompt.segments("### Human:  draw a cat"), media: nil, context: .default)
        let run = generator.signals.runs[.image]!
        var options = NExTGPTGenerationOptions()
        options.replyPrefix = [run[0]]
        options.maxNewTokens = 1  // the run is completed even past the limit
        let reply = generator.generate(prompt, options: options, context: .default)
        XCTAssertEqual(reply.ids, run)
        XCTAssertEqual(reply.forcedTokens, 3)
        let image = try XCTUnwrap(reply.runs[.image])
        XCTAssertEqual(image.start, 0)
        XCTAssertEqual(image.hidden.shape, [4, generator.model.config.hiddenSize])

        // One forward over the prompt and the run gives the same states at the run's positions.
        let whole = generator.model.hiddenStates(prompt + [.tokens(run)], cache: generator.model.makeCache(capacity: 64), context: .default)
        let t = whole.shape[0], h = whole.shape[1]
        XCTAssertLessThan(relativeL2(image.hidden.values, Array(whole.values[((t - 4) * h)...])), 1e-5)
        XCTAssertEqual(image.inputEmbeds.values, generator.model.model.embed([.tokens(run)]).values)
        XCTAssertFalse(reply.text.contains("[IMG"), reply.text)
    }

    func testTheSkipPolicyDropsARunTheModelDoesNotFinish() throws {
        let (generator, inputs) = try fixture()
        let prompt = try inputs.inputs(NExTGPTPrompt.segments("### Human:  draw a dog"), media: nil, context: .default)
        let run = generator.signals.runs[.audio]!
        var options = NExTGPTGenerationOptions()
        options.partialRuns = .skip
        options.replyPrefix = [run[0], run[1], 42]
        options.maxNewTokens = 5
        let reply = generator.generate(prompt, options: options, context: .default)
        XCTAssertEqual(Array(reply.ids.prefix(3)), [run[0], run[1], 42])
        XCTAssertNil(reply.runs[.audio])
        XCTAssertEqual(reply.abandonedRuns, [.audio])
        XCTAssertEqual(reply.forcedTokens, 0)

        // The default policy completes the same start and keeps the rest of the prefix after it.
        options.partialRuns = .force
        let forced = generator.generate(prompt, options: options, context: .default)
        XCTAssertEqual(Array(forced.ids.prefix(run.count + 1)), run + [42])
        XCTAssertNotNil(forced.runs[.audio])
        XCTAssertEqual(forced.forcedTokens, run.count - 2)
    }
}
