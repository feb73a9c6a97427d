import Foundation
import XCTest
import NextGPTCore
import NextGPTFormats
import NextGPTTestSupport

/// Inputs the fuzz targets (fuzz/, tools/fuzz/run.sh) crashed on, kept so the fixes stay.
/// Tests/Fixtures/fuzz-regressions holds them byte for byte.
final class FuzzRegressionTests: XCTestCase {
    let folder = "\(TestSupport.fixtures)/fuzz-regressions"

    /// fuzz-json-config: hidden_size 2.1e48 (NSNumber's intValue wraps it to 2^62-ish) made
    /// inverseFrequencies allocate head_dim / 2 floats — 1.7 EB — and abort.
    func testAbsurdLlamaSizesAreRefused() throws {
        let path = "\(folder)/json-config-huge-hidden-size.json"
        XCTAssertThrowsError(try LlamaConfig(json: try JSONFile.object(path), path: path)) { error in
            XCTAssertTrue("\(error)".contains("is outside 0..."), "\(error)")
        }
    }

    /// The same family: a non-finite or huge original_max_position_embeddings trapped in Int(Float).
    func testNonFiniteRopePositionsAreRefused() throws {
        for value in ["1e40", "-5", "0"] {
            let json = try JSONSerialization.jsonObject(with: Data("""
                {"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
                 "original_max_position_embeddings": \(value)}}
                """.utf8)) as! [String: Any]
            XCTAssertThrowsError(try LlamaConfig(json: json, path: "config.json")) { error in
                XCTAssertTrue("\(error)".contains("original_max_position_embeddings"), "\(value): \(error)")
            }
        }
    }
}
