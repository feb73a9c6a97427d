import Foundation
import XCTest
import NextGPTMedia
import NextGPTTestSupport

/// fuzz-png found a 114-byte PNG whose tEXt chunk declares 1 090 519 040 bytes: libpng allocated
/// the declared length before reading it. The reader now checks every chunk's length against
/// the bytes left before libpng sees the file.
final class PNGFuzzRegressionTests: XCTestCase {
    func testChunkDeclaringAGigabyteIsRefusedBeforeAllocating() {
        let path = "\(TestSupport.fixtures)/fuzz-regressions/png-1gb-text-chunk.png"
        XCTAssertThrowsError(try PNGImage.read(path: path)) { error in
            XCTAssertTrue("\(error)".contains("png-1gb-text-chunk.png"), "\(error)")
            XCTAssertTrue("\(error)".contains("declares 1090519040 bytes but the file has"), "\(error)")
        }
    }
}
