import NextGPTSessions
import XCTest

/// Streaming with stop strings: what is shown after each piece, and where the text is cut.
final class StopStringFilterTests: XCTestCase {
    /// Pushes `pieces`, then finishes; returns what was shown after each step and the filter.
    func run(_ stops: [String], _ pieces: [String]) -> (shown: [String], filter: StopStringFilter) {
        var filter = StopStringFilter(stops: stops)
        var shown = pieces.map { filter.push($0) }
        shown.append(filter.finish())
        return (shown, filter)
    }

    func testWithoutStopsEverythingPassesAtOnce() {
        let (shown, filter) = run([], ["Hello", " wor", "ld"])
        XCTAssertEqual(shown, ["Hello", " wor", "ld", ""])
        XCTAssertEqual(filter.text, "Hello world")
        XCTAssertFalse(filter.isStopped)
    }

    func testAStopStringSplitOverPiecesIsHeldBackThenCut() {
        let (shown, filter) = run(["###"], ["Sure. #", "#", "# Human:"])
        XCTAssertEqual(shown, ["Sure. ", "", "", ""])
        XCTAssertEqual(filter.text, "Sure. ")
        XCTAssertEqual(filter.stop, "###")
    }

    func testHeldBackTextIsReleasedWhenItStopsMatching() {
        let (shown, filter) = run(["###"], ["a #", "#", "b"])
        XCTAssertEqual(shown, ["a ", "", "##b", ""])
        XCTAssertEqual(filter.text, "a ##b")
        XCTAssertFalse(filter.isStopped)
    }

    func testFinishReleasesWhatWasHeldBack() {
        let (shown, filter) = run(["###"], ["x#"])
        XCTAssertEqual(shown, ["x", "#"])
        XCTAssertEqual(filter.text, "x#")
    }

    func testFinishTakesTheDecodersTail() {
        var filter = StopStringFilter(stops: ["###"])
        XCTAssertEqual(filter.push("a#"), "a")
        XCTAssertEqual(filter.finish("##"), "")
        XCTAssertEqual(filter.text, "a")
        XCTAssertTrue(filter.isStopped)
    }

    func testCutInsideAPieceKeepsTheTextBefore() {
        let (shown, filter) = run(["###"], ["abc###def", "more"])
        XCTAssertEqual(shown, ["abc", "", ""])
        XCTAssertEqual(filter.text, "abc")
    }

    func testTheEarliestStopWinsWhenAPieceHoldsTwo() {
        let (shown, filter) = run(["END", "x"], ["ab", "x ENDc"])
        XCTAssertEqual(shown, ["ab", "", ""])
        XCTAssertEqual(filter.text, "ab")
        XCTAssertEqual(filter.stop, "x")
    }

    func testTheLongestPossibleStartIsHeldBack() {
        var filter = StopStringFilter(stops: ["</s>", "ab"])
        XCTAssertEqual(filter.push("1</"), "1")
        XCTAssertEqual(filter.push("s"), "")
        XCTAssertEqual(filter.push("a"), "</s")
        XCTAssertEqual(filter.push("c"), "ac")
    }

    func testSingleCharacterStopsAreNeverHeldBack() {
        let (shown, filter) = run(["\n"], ["one", " two\nthree"])
        XCTAssertEqual(shown, ["one", " two", ""])
        XCTAssertEqual(filter.text, "one two")
    }

    func testMultiByteTextAndEmptyStops() {
        let (shown, filter) = run(["", "–»"], ["日本", "–", "語"])
        XCTAssertEqual(shown, ["日本", "", "–語", ""])
        XCTAssertEqual(filter.text, "日本–語")
    }
}
