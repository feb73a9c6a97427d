import CFFmpeg
import NextGPTTestSupport
import XCTest

@testable import NextGPTMedia

/// Inputs the mp4 fuzz target found (Tests/Fixtures/fuzz-regressions).
final class FFmpegFuzzRegressionTests: XCTestCase {
    /// A 26 KB file whose atoms made libavformat ask for one 1.29 GB block while opening it (the
    /// fuzzer's malloc limit caught it): the readers' first use caps libav*'s single allocations.
    func testOneAllocationIsCappedBeforeAFileIsOpened() throws {
        let path = "\(TestSupport.fixtures)/fuzz-regressions/mp4-atom-asks-1.29gb.mp4"
        XCTAssertThrowsError(try VideoFile(path: path)) { error in
            XCTAssertTrue("\(error)".contains("mp4-atom-asks-1.29gb.mp4"), "\(error)")
        }
        XCTAssertNil(av_malloc(FFmpegLog.maxBlockBytes + 1), "libav* may still allocate past the cap")
        let allowed = av_malloc(1 << 20)
        XCTAssertNotNil(allowed)
        av_free(allowed)
        XCTAssertLessThan(FFmpegLog.maxBlockBytes, 1_290_712_945)
    }
}
