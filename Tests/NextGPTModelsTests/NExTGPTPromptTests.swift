import Foundation
import NextGPTAnyToAny
import NextGPTTestSupport
import XCTest

/// Prompt chunking against upstream's own logic run in Python (tools/references/make_prompt_cases.py):
/// `re.split(r' <|> ', …)`, the `Image>`/`Audio>`/`Video>` prefixes and `re.findall` of the paths.
final class NExTGPTPromptTests: XCTestCase {
    private struct Segment: Decodable, Equatable {
        let text: String?
        let media: String?
        let paths: [String]?
    }

    private struct Case: Decodable {
        let prompt: String
        let segments: [Segment]
        let every_tag_segments: [Segment]
    }

    private struct Cases: Decodable { let cases: [Case] }

    private func encode(_ segments: [PromptSegment]) -> [Segment] {
        segments.map {
            switch $0 {
            case .text(let text): return Segment(text: text, media: nil, paths: nil)
            case .media(let kind, let paths): return Segment(text: nil, media: kind.rawValue, paths: paths)
            }
        }
    }

    func testSegmentsMatchUpstreamChunking() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(TestSupport.references)/nextgpt-prompt-cases.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data).cases
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        for c in cases {
            XCTAssertEqual(encode(NExTGPTPrompt.segments(c.prompt)), c.segments, c.prompt)
            XCTAssertEqual(encode(NExTGPTPrompt.segments(c.prompt, chunking: .everyTag)), c.every_tag_segments, c.prompt)
        }
    }

    func testDemoTurnsAreBuiltAsTheDemoDoes() {
        XCTAssertEqual(NExTGPTPrompt.firstTurn("describe it", image: "cat.png"), "### Human: <Image>cat.png</Image>  describe it")
        XCTAssertEqual(NExTGPTPrompt.firstTurn("hi"), "### Human:  hi")
        XCTAssertEqual(NExTGPTPrompt.laterTurn("and now?", history: [("q1", "a1"), ("q2", "a2")], audio: "x.wav"),
                       "### Human: q1\n### Assistant: a1\n### Human: q2\n### Assistant: a2\n### Human: <Audio>x.wav</Audio>  and now?")
    }
}
