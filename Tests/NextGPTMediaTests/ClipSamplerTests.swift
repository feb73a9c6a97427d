import Foundation
import NextGPTMedia
import NextGPTTestSupport
import XCTest

/// ConstantClipsPerVideoSampler against pytorchvideo 0.1.5 and its later rule
/// (tools/references/make_clip_sampler_cases.py): exact Fractions, data.py's audio slice bounds
/// and decord's first frame index of every clip.
final class ClipSamplerTests: XCTestCase {
    private struct Case: Decodable {
        let rule: String
        let clips_per_video: Int
        let duration: Double
        let rate: Double
        let starts: [String]
        let ends: [String]
        let start_floats: [Double]
        let slice_starts: [Int]
        let slice_ends: [Int]
        let frame_starts: [Int]
    }

    private struct Cases: Decodable { let cases: [Case] }

    func testTimepointsMatchPytorchvideo() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(TestSupport.references)/clip-sampler.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data).cases
        XCTAssertGreaterThan(cases.count, 90)
        var distinctRules = Set<String>()
        for c in cases {
            let rule = try XCTUnwrap(ClipSamplerRule(rawValue: c.rule))
            let points = ConstantClipsPerVideoSampler(clipDuration: 2, clipsPerVideo: c.clips_per_video, rule: rule)
                .clipTimepoints(duration: c.duration)
            let label = "\(c.rule) clips \(c.clips_per_video) duration \(c.duration)"
            XCTAssertEqual(points.map(\.start.description), c.starts, label)
            XCTAssertEqual(points.map(\.end.description), c.ends, label)
            XCTAssertEqual(points.map(\.start.doubleValue), c.start_floats, label)
            if c.rate.rounded() == c.rate {
                let rate = Int(c.rate)
                XCTAssertEqual(points.map { $0.start.floorTimes(rate) }, c.slice_starts, label)
                XCTAssertEqual(points.map { $0.end.floorTimes(rate) }, c.slice_ends, label)
            }
            XCTAssertEqual(points.map { Int((c.rate * $0.start.doubleValue).rounded(.up)) }, c.frame_starts, label)
            if points.count > 1, points[1].start.numerator > 0 { distinctRules.insert(c.rule + "\(points[1].start)") }
        }
        // The two rules must have produced different starts somewhere, or the test could not tell them apart.
        XCTAssertGreaterThan(distinctRules.count, 10)
    }

    func testExactFractionRoundsLikePython() {
        XCTAssertEqual(ExactFraction(1, 3).doubleValue, 1.0 / 3.0)
        XCTAssertEqual(ExactFraction(exactly: 0.1).description, "3602879701896397/36028797018963968")
        XCTAssertEqual(ExactFraction(exactly: 0.1).doubleValue, 0.1)
        XCTAssertEqual(ExactFraction(3, 5).floorTimes(5), 3)
        XCTAssertEqual(ExactFraction(exactly: 0.6).floorTimes(5), 2)  // 0.6 is a hair below 3/5
    }
}
