import Foundation
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTSessions
import XCTest

/// The session's load sequence and streamed generation against the same steps done by hand.
final class LlamaSessionTests: XCTestCase {
    func session(_ onLora: (LlamaSession.LoraApplied) -> Void = { _ in }) throws -> LlamaSession {
        let path = try ComponentRegistryTests.fixtureContainer().container.file.path
        return try LlamaSession(LlamaSession.Options(path: path), context: .default, onLora: onLora)
    }

    func testLoadAppliesTheStoredDeltaLoraAndGeneratesAsTheModelDoes() throws {
        var applied: [LlamaSession.LoraApplied] = []
        let session = try session { applied.append($0) }
        XCTAssertEqual(applied.count, 1)
        guard case .storedDelta(let pairs, .automatic)? = applied.first else { return XCTFail("\(applied)") }
        XCTAssertGreaterThan(pairs, 0)

        let file = try ModelFile(path: session.file.container.file.path)
        let byHand = try LlamaForCausalLM(file, component: "vicuna",
                                          options: LoadOptions(repackQuantized: true, lora: [.storedDelta(mode: .automatic)]))
        let prompt = session.tokenizer.encode("Hello", addBOS: true).map(Int.init)
        let expected = LlamaGenerator(model: byHand).generate([.tokens(prompt)], maxNewTokens: 12, sampling: .greedy,
                                                              stopTokens: session.stopTokens, context: .default)

        var pieces: [String] = []
        let generation = session.generate([.tokens(prompt)], generator: LlamaGenerator(model: session.model), maxNewTokens: 12,
                                          sampling: .greedy) { pieces.append($0) }
        XCTAssertEqual(generation.ids, expected.ids)
        XCTAssertEqual(generation.reason, expected.reason)
        XCTAssertEqual(pieces.joined(), generation.text)
        XCTAssertEqual(generation.text, session.tokenizer.decode(expected.ids.map(Int32.init)))
    }

    func testGenerationEndsBeforeAStopString() throws {
        let session = try session()
        let prompt = session.tokenizer.encode("Hello", addBOS: true).map(Int.init)
        let full = session.generate([.tokens(prompt)], generator: LlamaGenerator(model: session.model), maxNewTokens: 12, sampling: .greedy)
        let scalars = Array(full.text.unicodeScalars)
        guard scalars.count >= 6 else { throw XCTSkip("the fixture model's text is too short: \(full.text)") }
        var stopView = String.UnicodeScalarView(), headView = String.UnicodeScalarView()
        stopView.append(contentsOf: scalars[3..<6])
        headView.append(contentsOf: scalars[..<3])
        let stop = String(stopView), head = String(headView)
        guard !head.contains(stop) else { throw XCTSkip("stop string occurs earlier") }

        var pieces: [String] = []
        let cut = session.generate([.tokens(prompt)], generator: LlamaGenerator(model: session.model), maxNewTokens: 12,
                                   sampling: .greedy, stops: [stop]) { pieces.append($0) }
        XCTAssertEqual(cut.text, head)
        XCTAssertEqual(pieces.joined(), head)
        XCTAssertEqual(cut.reason, .stopCondition)
        XCTAssertEqual(cut.ids, Array(full.ids.prefix(cut.ids.count)))
    }
}
